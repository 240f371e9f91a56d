// ConfigMapPublisher and KubeLeaseLock against the fake API server:
// server-side compare, 409s, stale shards, foreign ConfigMaps, the fence.

#include "informers/kubernetes/configmap_publisher.h"

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "informers/kubernetes/leader_elector.h"
#include "tests/fakes/kube_apiserver.h"

namespace promconf::kube {
namespace {

class PublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeKubeApiServer::Options o;
    auto s = FakeKubeApiServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }
  std::unique_ptr<KubeClient> Client(const std::string& who) {
    KubeRestConfig c;
    c.server = server_->url();
    c.tls.ca_pem = server_->ca_pem();
    c.token = "test-token";
    auto client = std::make_unique<KubeClient>(std::make_shared<KubeCredentials>(c));
    client->SetUserAgentSuffix(who);
    return client;
  }
  int Writes(const std::string& resource) {
    int n = 0;
    for (const auto& w : server_->WriteLog()) n += w.resource == resource;
    return n;
  }

  std::unique_ptr<FakeKubeApiServer> server_;
};

TEST_F(PublisherTest, WritesOnlyWhatChangedAndDeletesStaleShards) {
  ConfigMapPublisher pub(Client("a"), "mon", Clock::Real());
  PublishedSetId id{"prom", 0, 1};
  std::map<std::string, std::string> files = {{"prometheus.yml", std::string(2 << 20, 'x')},
                                              {"rules/a.yml", "groups: []\n"}};
  auto want = LayoutPublishedSet(files, id);
  ASSERT_TRUE(want.ok());
  ASSERT_EQ(want->size(), 3u);
  auto always = [] { return true; };
  auto st = pub.Publish(id, *want, always);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->created, 3);
  auto cm = server_->GetObjectJson("configmaps", "mon", "prom-2");
  ASSERT_TRUE(cm.ok());
  EXPECT_TRUE(absl::StrContains(*cm, R"("app.kubernetes.io/managed-by":"promconf")"));
  EXPECT_TRUE(absl::StrContains(*cm, R"("promconf.io/output":"prom")"));
  // The index's ConfigMap was written last.
  auto log = server_->WriteLog();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log.back().name, "prom");
  EXPECT_TRUE(absl::StrContains(log.back().who, "(a)")) << log.back().who;

  // Unchanged: no write.
  st = pub.Publish(id, *want, always);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->written(), 0);
  EXPECT_EQ(st->unchanged, 3);
  EXPECT_EQ(Writes("configmaps"), 3);

  // Shrunk to one ConfigMap: the stale ones go.
  files["prometheus.yml"] = "small";
  want = LayoutPublishedSet(files, id);
  ASSERT_EQ(want->size(), 1u);
  st = pub.Publish(id, *want, always);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->updated, 1);
  EXPECT_EQ(st->deleted, 2);
  EXPECT_TRUE(absl::IsNotFound(server_->GetObjectJson("configmaps", "mon", "prom-1").status()));
}

TEST_F(PublisherTest, SomeoneElsesEditIsOverwrittenAfterReListing) {
  ConfigMapPublisher pub(Client("a"), "mon", Clock::Real());
  PublishedSetId id{"prom", 0, 1};
  auto want = LayoutPublishedSet({{"prometheus.yml", "v1"}}, id);
  ASSERT_TRUE(pub.Publish(id, *want, [] { return true; }).ok());
  // A human edits it (labels kept): the next publish puts it back.
  ASSERT_TRUE(server_->ApplyConfigMap("mon", "prom", id.Labels(), {{"prometheus.yml", "edited"}}).ok());
  auto st = pub.Publish(id, *want, [] { return true; });
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->updated, 1);
  auto cm = server_->GetObjectJson("configmaps", "mon", "prom");
  EXPECT_TRUE(absl::StrContains(*cm, R"("prometheus.yml":"v1")"));
}

TEST_F(PublisherTest, ConflictRetriesWithAFreshList) {
  ConfigMapPublisher pub(Client("a"), "mon", Clock::Real());
  PublishedSetId id{"prom", 0, 1};
  auto v1 = LayoutPublishedSet({{"prometheus.yml", "v1"}}, id);
  ASSERT_TRUE(pub.Publish(id, *v1, [] { return true; }).ok());
  auto v2 = LayoutPublishedSet({{"prometheus.yml", "v2"}}, id);
  // Between the publisher's list and its PUT, someone else writes.
  int calls = 0;
  auto st = pub.Publish(id, *v2, [&] {
    if (calls++ == 0) {
      EXPECT_TRUE(
          server_->ApplyConfigMap("mon", "prom", id.Labels(), {{"prometheus.yml", "race"}}).ok());
    }
    return true;
  });
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->conflicts, 1);
  EXPECT_TRUE(absl::StrContains(*server_->GetObjectJson("configmaps", "mon", "prom"),
                                R"("prometheus.yml":"v2")"));
}

TEST_F(PublisherTest, NeverOverwritesAConfigMapItDoesNotManage) {
  ASSERT_TRUE(server_->ApplyConfigMap("mon", "prom", {}, {{"mine", "keep"}}).ok());
  ConfigMapPublisher pub(Client("a"), "mon", Clock::Real());
  PublishedSetId id{"prom", 0, 1};
  auto want = LayoutPublishedSet({{"prometheus.yml", "v1"}}, id);
  auto st = pub.Publish(id, *want, [] { return true; });
  EXPECT_TRUE(absl::IsFailedPrecondition(st.status())) << st.status();
  EXPECT_TRUE(absl::StrContains(*server_->GetObjectJson("configmaps", "mon", "prom"), "keep"));
}

TEST_F(PublisherTest, StopsAtTheFence) {
  ConfigMapPublisher pub(Client("a"), "mon", Clock::Real());
  PublishedSetId id{"prom", 0, 1};
  auto want = LayoutPublishedSet({{"prometheus.yml", std::string(2 << 20, 'y')}}, id);
  int allowed = 1;
  auto st = pub.Publish(id, *want, [&] { return allowed-- > 0; });
  EXPECT_TRUE(absl::IsFailedPrecondition(st.status())) << st.status();
  EXPECT_EQ(Writes("configmaps"), 1);
  // The index was not written: readers see no set rather than half of one.
  EXPECT_TRUE(absl::IsNotFound(server_->GetObjectJson("configmaps", "mon", "prom").status()));
}

TEST_F(PublisherTest, LeaseLockSpeaksTheCoordinationApi) {
  KubeLeaseLock lock(Client("a"), "mon", "promconf", absl::Seconds(5));
  auto got = lock.Get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
  LeaseRecord r{"a", 15, FormatMicroTime(absl::Now()), FormatMicroTime(absl::Now()), 0};
  ASSERT_TRUE(lock.Create(r).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(lock.Create(r)));
  got = lock.Get();
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((**got).record, r);
  LeaseRecord r2 = r;
  r2.holder_identity = "";
  r2.lease_duration_seconds = 1;
  ASSERT_TRUE(lock.Update(r2, (**got).resource_version).ok());
  // The resourceVersion it read is stale now: 409.
  EXPECT_TRUE(absl::IsAborted(lock.Update(r, (**got).resource_version)));
  auto log = server_->WriteLog();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].lease_holder, "a");
  EXPECT_EQ(log[0].lease_duration_seconds, 15);
  EXPECT_EQ(log[1].lease_holder, "");
  EXPECT_EQ(log[1].lease_duration_seconds, 1);
}

}  // namespace
}  // namespace promconf::kube
