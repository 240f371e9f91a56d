// The render reconciler's policy, without the binary: the readiness gate,
// what each render queues next, the fragment gauges, rejection observers,
// all read from the outcome it returns.

#include "reconcile/render_reconciler.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informers/document_store.h"
#include "metrics/metrics.h"
#include "reconcile/reloader.h"
#include "runtime/workqueue.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/temp_dir.h"

namespace promconf {
namespace {

RenderOptions Opts(bool reload, std::string publish_key = "") {
  RenderOptions o;
  o.reload = reload;
  o.publish_key = std::move(publish_key);
  return o;
}

using ::testing::HasSubstr;

class FakeGate final : public RenderGate {
 public:
  bool AllSynced() const override { return synced; }
  void MarkRendered() override { ++marked; }
  bool synced = false;
  int marked = 0;
};

class FakeRejections final : public RejectionObserver {
 public:
  bool Interested(int rejected) const override { return rejected > 0 || !last.empty(); }
  void Observe(const std::vector<FragmentStatus>& statuses) override {
    last.clear();
    for (const FragmentStatus& s : statuses) {
      if (s.status == "rejected") last.push_back(s.document);
    }
    ++calls;
  }
  std::vector<std::string> last;
  int calls = 0;
};

Document Doc(std::string name, std::string data) {
  Document d;
  d.name = std::move(name);
  d.data = std::move(data);
  return d;
}

const char kRules[] = "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up\n";
const char kRulesV2[] = "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up > 0\n";
const char kBadRules[] = "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up\n    for: soon\n";

class RenderReconcilerTest : public ::testing::Test {
 protected:
  RenderReconcilerTest()
      : store_({"kv"}), queue_("test", &clock_, nullptr) {}

  void Make(RenderOptions options, std::string promtool = "") {
    OutputOptions o;
    o.dir = dir_.path() + "/out";
    o.promtool = std::move(promtool);
    output_ = std::make_unique<OutputReconciler>(&store_, o);
    render_ = std::make_unique<RenderReconciler>(output_.get(), &queue_, &gate_, &metrics_,
                                                 &rejections_, std::move(options));
  }
  // Every source synced, one rule fragment: the first render.
  RenderOutcome FirstRender() {
    gate_.synced = true;
    store_.Upsert("kv", Doc("a.rules.yml", kRules));
    return render_->Render(kRenderKey);
  }
  // Every key queued since the last call.
  std::set<std::string> Queued() {
    std::set<std::string> keys;
    while (queue_.Len() > 0) {
      std::string key;
      if (!queue_.Get(&key)) break;
      keys.insert(key);
      queue_.Done(key);
    }
    return keys;
  }

  FakeClock clock_;
  TempDir dir_;
  DocumentStore store_;
  runtime::WorkQueue queue_;
  Metrics metrics_;
  FakeGate gate_;
  FakeRejections rejections_;
  std::unique_ptr<OutputReconciler> output_;
  std::unique_ptr<RenderReconciler> render_;
};

TEST_F(RenderReconcilerTest, WaitsForEverySourceToSyncBeforeTheFirstRender) {
  Make(Opts(true, "publish"));
  store_.Upsert("kv", Doc("a.rules.yml", kRules));
  RenderOutcome o = render_->Render(kRenderKey);
  EXPECT_TRUE(o.result.status.ok());
  EXPECT_FALSE(o.rendered);
  EXPECT_FALSE(o.ready);
  EXPECT_EQ(o.files_written, 0);
  EXPECT_EQ(gate_.marked, 0);
  EXPECT_TRUE(Queued().empty());
  EXPECT_EQ(output_->writes(), 0u);
}

TEST_F(RenderReconcilerTest, FirstRenderReloadsAndPublishesThenOnlyWhatChangedDoes) {
  Make(Opts(true, "publish"));
  RenderOutcome o = FirstRender();
  ASSERT_TRUE(o.result.status.ok()) << o.result.status;
  EXPECT_TRUE(o.rendered);
  EXPECT_TRUE(o.first);
  EXPECT_TRUE(o.ready);
  EXPECT_EQ(gate_.marked, 1);
  EXPECT_GT(o.files_written, 0);
  EXPECT_EQ(o.accepted["rules"], 1);
  EXPECT_TRUE(o.reload_queued);
  EXPECT_TRUE(o.publish_queued);
  EXPECT_FALSE(o.second_opinion_queued);
  EXPECT_EQ(Queued(), (std::set<std::string>{std::string(Reloader::kKey), "publish"}));
  EXPECT_THAT(metrics_.ExpositionText(),
              HasSubstr("promconf_fragments{kind=\"rules\",status=\"accepted\"} 1"));

  // Nothing changed: the first-render reload and publish are not repeated.
  o = render_->Render(kRenderKey);
  ASSERT_TRUE(o.rendered);
  EXPECT_FALSE(o.first);
  EXPECT_EQ(o.files_written, 0);
  EXPECT_FALSE(o.reload_queued);
  EXPECT_FALSE(o.publish_queued);
  EXPECT_TRUE(Queued().empty());

  // A rule file changed: reload and publish.
  store_.Upsert("kv", Doc("a.rules.yml", kRulesV2));
  o = render_->Render(kRenderKey);
  EXPECT_TRUE(o.reload_queued);
  EXPECT_TRUE(o.publish_queued);
  EXPECT_EQ(Queued(), (std::set<std::string>{std::string(Reloader::kKey), "publish"}));
}

TEST_F(RenderReconcilerTest, NoReloadNorPublishWhenNotConfigured) {
  Make(Opts(false));
  RenderOutcome o = FirstRender();
  ASSERT_TRUE(o.rendered);
  EXPECT_FALSE(o.reload_queued);
  EXPECT_FALSE(o.publish_queued);
  EXPECT_TRUE(Queued().empty());
}

TEST_F(RenderReconcilerTest, RejectionsReachTheObserverAndTheGauges) {
  Make(Opts(true));
  gate_.synced = true;
  store_.Upsert("kv", Doc("a.rules.yml", kRules));
  store_.Upsert("kv", Doc("b.rules.yml", kBadRules));
  RenderOutcome o = render_->Render(kRenderKey);
  ASSERT_TRUE(o.rendered);
  EXPECT_EQ(o.accepted["rules"], 1);
  EXPECT_EQ(o.rejected["rules"], 1);
  EXPECT_EQ(rejections_.last, std::vector<std::string>{"b.rules.yml"});
  EXPECT_THAT(metrics_.ExpositionText(),
              HasSubstr("promconf_fragments{kind=\"rules\",status=\"rejected\"} 1"));
  // Fixed: the observer hears that too (it forgets its Events).
  store_.Upsert("kv", Doc("b.rules.yml", kRulesV2));
  o = render_->Render(kRenderKey);
  EXPECT_EQ(o.rejected["rules"], 0);
  EXPECT_EQ(rejections_.calls, 2);
  EXPECT_TRUE(rejections_.last.empty());
}

TEST_F(RenderReconcilerTest, APendingSecondOpinionComesBeforeTheReload) {
  Make(Opts(true), "/nonexistent/promtool");
  RenderOutcome o = FirstRender();
  ASSERT_TRUE(o.rendered);
  EXPECT_TRUE(o.second_opinion_queued);
  EXPECT_FALSE(o.reload_queued);
  EXPECT_EQ(Queued(), std::set<std::string>{kSecondOpinionKey});
}

TEST_F(RenderReconcilerTest, AFailedRenderIsNotReady) {
  OutputOptions o;
  o.dir = dir_.path() + "/out";
  o.base_config_path = dir_.path() + "/missing-base.yml";
  output_ = std::make_unique<OutputReconciler>(&store_, o);
  render_ = std::make_unique<RenderReconciler>(output_.get(), &queue_, &gate_, &metrics_,
                                               nullptr, Opts(true));
  gate_.synced = true;
  RenderOutcome out = render_->Render(kRenderKey);
  EXPECT_FALSE(out.result.status.ok());
  EXPECT_FALSE(out.rendered);
  EXPECT_FALSE(out.ready);
  EXPECT_EQ(gate_.marked, 0);
  EXPECT_TRUE(Queued().empty());
}

}  // namespace
}  // namespace promconf
