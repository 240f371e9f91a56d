// promtool's second opinion when promtool cannot run: the fragments stay
// pending, no reload goes ahead without the opinion, and the key comes back by
// itself after a backoff that grows with each failure (not at the next
// change, not in a tight loop).

#include "reconcile/second_opinion_reconciler.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "informers/document_store.h"
#include "metrics/metrics.h"
#include "reconcile/reloader.h"
#include "reconcile/render_reconciler.h"
#include "runtime/controller.h"
#include "runtime/workqueue.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/temp_dir.h"

namespace promconf {
namespace {

class AlwaysSynced final : public RenderGate {
 public:
  bool AllSynced() const override { return true; }
  void MarkRendered() override {}
};

class CountingReconciler final : public runtime::Reconciler {
 public:
  runtime::ReconcileResult Reconcile(const std::string&) override {
    ++calls;
    return {};
  }
  int calls = 0;
};

TEST(SecondOpinionReconcilerTest, APromtoolThatCannotRunIsRetriedWithGrowingBackoff) {
  FakeClock clock;
  TempDir dir;
  DocumentStore store({"kv"});
  Document doc;
  doc.name = "a.rules.yml";
  doc.data = "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up\n";
  store.Upsert("kv", doc);
  runtime::WorkQueue queue("test", &clock, nullptr);
  Metrics metrics;
  AlwaysSynced gate;
  OutputOptions o;
  o.dir = dir.path() + "/out";
  o.promtool = dir.path() + "/no-such-promtool";
  OutputReconciler output(&store, o);
  RenderOptions reload_after;
  reload_after.reload = true;
  RenderReconciler render(&output, &queue, &gate, &metrics, nullptr, reload_after);
  SecondOpinionReconciler second(
      &output, &render, &queue, &metrics, /*reload_enabled=*/true, o.promtool,
      runtime::NewItemExponentialFailureRateLimiter(absl::Seconds(1), absl::Minutes(5)));
  CountingReconciler reload;
  runtime::ReconcilerMux mux;
  mux.Handle(kRenderKey, &render);
  mux.Handle(kSecondOpinionKey, &second);
  mux.Handle(Reloader::kKey, &reload);
  runtime::Controller controller("test", &queue, &mux, &clock);

  queue.Add(kRenderKey);
  ASSERT_TRUE(controller.ProcessNextItem());  // render: the second opinion is queued
  ASSERT_TRUE(output.SecondOpinionPending());
  for (const absl::Duration backoff : {absl::Seconds(1), absl::Seconds(2), absl::Seconds(4)}) {
    ASSERT_EQ(queue.Len(), 1);
    ASSERT_TRUE(controller.ProcessNextItem());  // starts promtool on its own thread
    ASSERT_TRUE(controller.ProcessNextItem());  // its failure: blocks until the key is back
    EXPECT_EQ(second.LastRunStatus().code(), absl::StatusCode::kUnavailable)
        << second.LastRunStatus();
    EXPECT_TRUE(output.SecondOpinionPending());
    // Not before the backoff, and then by itself.
    EXPECT_EQ(queue.Len(), 0);
    clock.Advance(backoff - absl::Milliseconds(1));
    EXPECT_EQ(queue.Len(), 0) << backoff;
    clock.Advance(absl::Milliseconds(1));
    EXPECT_EQ(queue.Len(), 1) << backoff;
  }
  // No reload went ahead without promtool's opinion.
  EXPECT_EQ(reload.calls, 0);
  controller.Stop();
}

}  // namespace
}  // namespace promconf
