// The ZooKeeper source against a real ZooKeeper: what the conformance suite
// does not cover. Serversets and nerve members becoming job targets, a
// watched path that does not exist yet or goes away, folders without data,
// several paths, oversized znodes, a server that is not there, and the
// watch count staying bounded whatever the churn (confd issue 550).

#include "informers/zookeeper/zookeeper_source.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/conformance/source_conformance.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/zookeeper_server.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(20);

std::string Member(const std::string& host, int port) {
  return absl::StrCat(R"({"serviceEndpoint":{"host":")", host, R"(","port":)", port,
                      R"(},"additionalEndpoints":{},"status":"ALIVE","shard":0})");
}

class ZookeeperSourceTest : public testing::Test {
 protected:
  void SetUp() override {
    auto server = ZookeeperServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    config_.servers = {server_->address()};
    config_.session_timeout = absl::Seconds(2);
  }
  void TearDown() override {
    if (source_ != nullptr) source_->Stop();
  }

  void StartSource(uint64_t max_document_bytes = 1 << 20) {
    SourceContext context;
    context.name = "zk";
    context.max_document_bytes = max_document_bytes;
    auto source = zk::NewZookeeperSource(context, config_);
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = std::move(*source);
    hooks_ = dynamic_cast<zk::ZookeeperSourceTestHooks*>(source_.get());
    ASSERT_NE(hooks_, nullptr);
    ASSERT_TRUE(source_->Start(&recorder_).ok());
    ASSERT_TRUE(recorder_.WaitForSnapshots(1, kWait)) << recorder_.last_error();
  }

  // Waits until document `name` satisfies `pred`.
  bool WaitForDoc(const std::string& name,
                  const std::function<bool(const std::optional<Document>&)>& pred) {
    return PollUntil([&] { return pred(recorder_.Get(name)); }, kWait);
  }
  bool WaitForTargets(const std::string& name, const std::vector<std::string>& want) {
    return recorder_.WaitForTargets(name, want, kWait);
  }

  std::unique_ptr<ZookeeperServer> server_;
  ZookeeperSourceConfig config_;
  DocumentRecorder recorder_;
  std::unique_ptr<Source> source_;
  zk::ZookeeperSourceTestHooks* hooks_ = nullptr;
};

TEST_F(ZookeeperSourceTest, NestedZnodesAreDocumentsAndFoldersAreNot) {
  ASSERT_TRUE(server_->Put("/promconf/team-a/alerts.rules.yml", "groups: []\n").ok());
  ASSERT_TRUE(server_->Put("/promconf/team-b", "").ok());  // a folder
  config_.paths = {"/promconf"};
  StartSource();
  std::map<std::string, std::string> want = {{"team-a/alerts.rules.yml", "groups: []\n"}};
  EXPECT_TRUE(recorder_.WaitForState(want, kWait));
  // A folder appearing deep down, then a document in it.
  ASSERT_TRUE(server_->Put("/promconf/team-b/x/y/deep.scrape.yml", "job_name: deep\n").ok());
  want["team-b/x/y/deep.scrape.yml"] = "job_name: deep\n";
  EXPECT_TRUE(recorder_.WaitForState(want, kWait));
  // Data removed from a znode: no longer a document.
  ASSERT_TRUE(server_->Put("/promconf/team-a/alerts.rules.yml", "").ok());
  want.erase("team-a/alerts.rules.yml");
  EXPECT_TRUE(recorder_.WaitForState(want, kWait));
  // A whole folder deleted.
  ASSERT_TRUE(server_->Delete("/promconf/team-b").ok());
  EXPECT_TRUE(recorder_.WaitForState({}, kWait));
  auto d = recorder_.Get("team-b/x/y/deep.scrape.yml");
  EXPECT_FALSE(d.has_value());
}

TEST_F(ZookeeperSourceTest, WatchedPathMissingThenCreatedThenDeleted) {
  config_.paths = {"/later"};
  StartSource();
  EXPECT_TRUE(recorder_.State().empty());
  ASSERT_TRUE(server_->Put("/later/a.rules.yml", "# a\n").ok());
  EXPECT_TRUE(recorder_.WaitForState({{"a.rules.yml", "# a\n"}}, kWait));
  ASSERT_TRUE(server_->Delete("/later").ok());
  EXPECT_TRUE(recorder_.WaitForState({}, kWait));
  ASSERT_TRUE(server_->Put("/later/b.rules.yml", "# b\n").ok());
  EXPECT_TRUE(recorder_.WaitForState({{"b.rules.yml", "# b\n"}}, kWait));
}

TEST_F(ZookeeperSourceTest, SeveralPathsFirstHolderOfANameWins) {
  ASSERT_TRUE(server_->Put("/one/same.rules.yml", "# one\n").ok());
  ASSERT_TRUE(server_->Put("/two/same.rules.yml", "# two\n").ok());
  ASSERT_TRUE(server_->Put("/two/only.rules.yml", "# only\n").ok());
  config_.paths = {"/one", "/two"};
  StartSource();
  EXPECT_TRUE(recorder_.WaitForState(
      {{"same.rules.yml", "# one\n"}, {"only.rules.yml", "# only\n"}}, kWait));
  auto d = recorder_.Get("same.rules.yml");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->origin, "zookeeper /one/same.rules.yml");
  // The second path's copy changing does not override the first's.
  ASSERT_TRUE(server_->Put("/two/same.rules.yml", "# two v2\n").ok());
  ASSERT_TRUE(server_->Put("/one/marker.rules.yml", "# m\n").ok());
  EXPECT_TRUE(recorder_.WaitForState({{"same.rules.yml", "# one\n"},
                                      {"only.rules.yml", "# only\n"},
                                      {"marker.rules.yml", "# m\n"}},
                                     kWait));
  // The first's gone: the second's shows.
  ASSERT_TRUE(server_->Delete("/one/same.rules.yml").ok());
  EXPECT_TRUE(recorder_.WaitForState({{"same.rules.yml", "# two v2\n"},
                                      {"only.rules.yml", "# only\n"},
                                      {"marker.rules.yml", "# m\n"}},
                                     kWait));
}

TEST_F(ZookeeperSourceTest, OversizedZnodeIsReportedNotRead) {
  ASSERT_TRUE(server_->Put("/promconf/big.rules.yml", std::string(5000, '#')).ok());
  ASSERT_TRUE(server_->Put("/promconf/small.rules.yml", "# s\n").ok());
  config_.paths = {"/promconf"};
  StartSource(/*max_document_bytes=*/4096);
  ASSERT_TRUE(WaitForDoc("small.rules.yml", [](const auto& d) { return d.has_value(); }));
  auto big = recorder_.Get("big.rules.yml");
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(big->oversized_bytes, 5000u);
  EXPECT_TRUE(big->data.empty());
}

TEST_F(ZookeeperSourceTest, ServersetMembersBecomeJobTargets) {
  ASSERT_TRUE(
      server_->PutEphemeral("/aurora/prod/api/member_0000000001", Member("10.0.0.1", 8080)).ok());
  ServersetConfig set;
  set.path = "/aurora/prod/api";
  set.job = "api";
  config_.serversets = {set};
  StartSource();
  ASSERT_TRUE(WaitForTargets("/aurora/prod/api", {"10.0.0.1:8080"}));
  auto d = recorder_.Get("/aurora/prod/api");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->job, "api");
  EXPECT_THAT(d->data,
              HasSubstr(R"("__meta_serverset_path":"/aurora/prod/api/member_0000000001")"));

  // A second member, one that does not parse (skipped), a data change.
  ASSERT_TRUE(
      server_->PutEphemeral("/aurora/prod/api/member_0000000002", Member("10.0.0.2", 8080)).ok());
  ASSERT_TRUE(server_->PutEphemeral("/aurora/prod/api/member_0000000003", "{garbage").ok());
  EXPECT_TRUE(WaitForTargets("/aurora/prod/api", {"10.0.0.1:8080", "10.0.0.2:8080"}));
  ASSERT_TRUE(
      server_->PutEphemeral("/aurora/prod/api/member_0000000001", Member("10.0.0.1", 9090)).ok());
  EXPECT_TRUE(WaitForTargets("/aurora/prod/api", {"10.0.0.1:9090", "10.0.0.2:8080"}));

  // The members' session ends (the service went away): no targets, but the
  // job's document stays (an empty list, not a missing job).
  ASSERT_TRUE(server_->DropEphemerals().ok());
  EXPECT_TRUE(WaitForTargets("/aurora/prod/api", {}));
}

TEST_F(ZookeeperSourceTest, NerveFormatAndMissingServersetPath) {
  ServersetConfig set;
  set.path = "/nerve/services/web/services";
  set.job = "web";
  set.format = "nerve";
  config_.serversets = {set};
  StartSource();
  EXPECT_TRUE(WaitForTargets(set.path, {}));
  ASSERT_TRUE(
      server_->PutEphemeral(set.path + "/i-1", R"({"host":"10.9.0.1","port":443,"name":"web-1"})")
          .ok());
  EXPECT_TRUE(WaitForTargets(set.path, {"10.9.0.1:443"}));
  auto d = recorder_.Get(set.path);
  ASSERT_TRUE(d.has_value());
  EXPECT_THAT(d->data, HasSubstr(R"("__meta_nerve_endpoint_name":"web-1")"));
}

// Every watched node holds one data watch, and every node of a fragment tree
// (and a serverset's root) one children watch; churn must not add any.
TEST_F(ZookeeperSourceTest, WatchCountStaysBoundedUnderChurn) {
  ASSERT_TRUE(server_->Put("/promconf/a.rules.yml", "# a\n").ok());
  ASSERT_TRUE(server_->Put("/promconf/dir/b.rules.yml", "# b\n").ok());
  ASSERT_TRUE(server_->PutEphemeral("/ss/member_1", Member("10.0.0.1", 80)).ok());
  config_.paths = {"/promconf"};
  ServersetConfig set;
  set.path = "/ss";
  set.job = "ss";
  config_.serversets = {set};
  StartSource();
  // /promconf, /promconf/a.rules.yml, /promconf/dir, /promconf/dir/b.rules.yml:
  // 4 data + 4 children; /ss: 1 + 1; /ss/member_1: 1 data.
  const int want = 8 + 2 + 1;

  ASSERT_TRUE(WaitForTargets("/ss", {"10.0.0.1:80"}));
  EXPECT_TRUE(PollUntil([&] { return server_->TotalWatches().value_or(-1) == want; }, kWait))
      << "watches: " << server_->TotalWatches().value_or(-1);

  // 300 changes: modify, create and delete nodes, members come and go.
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(server_->Put("/promconf/a.rules.yml", absl::StrCat("# a", i, "\n")).ok());
    ASSERT_TRUE(server_->Put(absl::StrCat("/promconf/tmp/t", i, ".rules.yml"), "# t\n").ok());
    ASSERT_TRUE(server_->Delete("/promconf/tmp").ok());
    ASSERT_TRUE(
        server_->PutEphemeral(absl::StrCat("/ss/member_x", i), Member("10.0.1.1", 80)).ok());
    ASSERT_TRUE(server_->Delete(absl::StrCat("/ss/member_x", i)).ok());
  }
  ASSERT_TRUE(server_->Put("/promconf/a.rules.yml", "# final\n").ok());
  std::map<std::string, std::string> state;
  ASSERT_TRUE(PollUntil(
      [&] {
        state = recorder_.State();
        return state.count("a.rules.yml") && state["a.rules.yml"] == "# final\n" &&
               !state.count("tmp/t99.rules.yml");
      },
      kWait));
  EXPECT_TRUE(WaitForTargets("/ss", {"10.0.0.1:80"}));
  EXPECT_TRUE(PollUntil([&] { return server_->TotalWatches().value_or(-1) == want; }, kWait))
      << "watches after churn: " << server_->TotalWatches().value_or(-1) << ", want " << want;
}

TEST_F(ZookeeperSourceTest, ExpiredSessionRebuildsWithOneSessionsWatches) {
  ASSERT_TRUE(server_->Put("/promconf/a.rules.yml", "# a\n").ok());
  config_.paths = {"/promconf"};
  StartSource();
  ASSERT_TRUE(recorder_.WaitForState({{"a.rules.yml", "# a\n"}}, kWait));
  const int64_t first = hooks_->SessionIdForTesting();
  ASSERT_NE(first, 0);
  ASSERT_TRUE(server_->ExpireSession(first, hooks_->SessionPasswordForTesting()).ok());
  // Changed while the source has no session.
  ASSERT_TRUE(server_->Put("/promconf/a.rules.yml", "# a2\n").ok());
  ASSERT_TRUE(server_->Put("/promconf/b.rules.yml", "# b\n").ok());
  EXPECT_TRUE(recorder_.WaitForState({{"a.rules.yml", "# a2\n"}, {"b.rules.yml", "# b\n"}}, kWait));
  EXPECT_TRUE(PollUntil([&] { return hooks_->SessionsForTesting() == 2; }, kWait));
  EXPECT_GE(recorder_.errors(), 1);
  EXPECT_NE(hooks_->SessionIdForTesting(), first);
  // The old session's watches went with it: /promconf and two nodes, 2 each.
  EXPECT_TRUE(PollUntil([&] { return server_->TotalWatches().value_or(-1) == 6; }, kWait))
      << "watches: " << server_->TotalWatches().value_or(-1);
}

TEST(ZookeeperSourceUnreachableTest, ReportsAnErrorWhenNoServerAnswers) {
  ZookeeperSourceConfig config;
  const int port = PickFreeLoopbackPort();
  config.servers = {absl::StrCat("127.0.0.1:", port)};
  config.session_timeout = absl::Seconds(1);
  config.paths = {"/promconf"};
  SourceContext context;
  context.name = "zk";
  auto source = zk::NewZookeeperSource(context, config);
  ASSERT_TRUE(source.ok());
  RecordingCallbacks callbacks;
  ASSERT_TRUE((*source)->Start(&callbacks).ok());
  EXPECT_TRUE(callbacks.WaitForErrors(1, kWait));
  EXPECT_THAT(callbacks.last_error(), HasSubstr("no connection to any of 127.0.0.1:"));
  EXPECT_EQ(callbacks.snapshots(), 0);
  (*source)->Stop();
}

}  // namespace
}  // namespace promconf
