// The Consul source against the fake Consul: what the conformance suite
// does not cover. Services becoming job targets with consul_sd's labels
// (health and tag filters), ACL tokens from a file (and their rotation), the
// blocking-query discipline (no busy loop, one connection per dependency,
// wake-ups without a change report nothing), errors that keep the last
// documents, oversized values.

#include "informers/consul/consul_source.h"

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/conformance/source_conformance.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/consul_server.h"
#include "tests/fakes/temp_dir.h"
#include "util/dropped.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(20);
constexpr char kApiDoc[] = "/v1/health/service/api";

FakeConsulServer::ServiceInstance Instance(const std::string& id, const std::string& node,
                                           const std::string& address, int port) {
  FakeConsulServer::ServiceInstance s;
  s.id = id;
  s.name = "api";
  s.node = node;
  s.node_address = address;
  s.port = port;
  return s;
}

class ConsulSourceTest : public testing::Test {
 protected:
  void SetUp() override { StartServer({}); }
  void TearDown() override {
    if (source_ != nullptr) source_->Stop();
  }

  void StartServer(FakeConsulServer::Options options) {
    auto server = FakeConsulServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    config_.address = server_->address();
  }

  static consul::ConsulSourceTuning Tuning() {
    consul::ConsulSourceTuning t = FastConsulTuning();
    t.token_reread = absl::ZeroDuration();
    return t;
  }

  void StartSource(uint64_t max_document_bytes = 1 << 20, bool wait_sync = true) {
    SourceContext context;
    context.name = "consul";
    context.max_document_bytes = max_document_bytes;
    auto source = consul::NewConsulSource(context, config_, Tuning());
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = std::move(*source);
    ASSERT_TRUE(source_->Start(&recorder_).ok());
    if (wait_sync) {
      ASSERT_TRUE(recorder_.WaitForSnapshots(1, kWait)) << recorder_.last_error();
    }
  }

  void WatchApi(bool passing_only = true, std::vector<std::string> tags = {}) {
    ConsulServiceConfig svc;
    svc.name = "api";
    svc.job = "api";
    svc.passing_only = passing_only;
    svc.tags = std::move(tags);
    config_.services.push_back(svc);
  }

  bool WaitForTargets(const std::string& name, const std::vector<std::string>& want) {
    return recorder_.WaitForTargets(name, want, kWait);
  }

  std::unique_ptr<FakeConsulServer> server_;
  ConsulSourceConfig config_;
  DocumentRecorder recorder_;
  std::unique_ptr<Source> source_;
};

TEST_F(ConsulSourceTest, HealthyInstancesBecomeJobTargetsWithConsulSdLabels) {
  auto a = Instance("api-1", "node1", "10.0.0.1", 8080);
  a.tags = {"prod", "v2"};
  a.meta = {{"version", "2.1"}};
  a.node_meta = {{"rack", "r1"}};
  ASSERT_TRUE(server_->RegisterService(a).ok());
  auto b = Instance("api-2", "node2", "10.0.0.2", 8080);
  b.address = "192.168.0.2";  // the service's own address wins
  ASSERT_TRUE(server_->RegisterService(b).ok());
  config_.kv_prefix = "";
  WatchApi();
  StartSource();
  ASSERT_TRUE(WaitForTargets(kApiDoc, {"10.0.0.1:8080", "192.168.0.2:8080"}));
  auto d = recorder_.Get(kApiDoc);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->job, "api");
  for (const char* want :
       {R"("__meta_consul_tags":",prod,v2,")", R"("__meta_consul_health":"passing")",
        R"("__meta_consul_service_metadata_version":"2.1")",
        R"("__meta_consul_metadata_rack":"r1")", R"("__meta_consul_dc":"dc1")",
        R"("__meta_consul_node":"node1")", R"("__meta_consul_service_id":"api-1")",
        R"("__meta_consul_service_address":"192.168.0.2")",
        R"("__meta_consul_address":"10.0.0.2")"}) {
    EXPECT_THAT(d->data, HasSubstr(want));
  }

  // A failing check takes the instance out (passing_only), recovery brings it back.
  ASSERT_TRUE(server_->SetHealth("api-1", "critical").ok());
  EXPECT_TRUE(WaitForTargets(kApiDoc, {"192.168.0.2:8080"}));
  ASSERT_TRUE(server_->SetHealth("api-1", "passing").ok());
  EXPECT_TRUE(WaitForTargets(kApiDoc, {"10.0.0.1:8080", "192.168.0.2:8080"}));
  // Deregistered: the job stays, with no targets.
  ASSERT_TRUE(server_->DeregisterService("api-1").ok());
  ASSERT_TRUE(server_->DeregisterService("api-2").ok());
  EXPECT_TRUE(WaitForTargets(kApiDoc, {}));
}

TEST_F(ConsulSourceTest, AllInstancesWhenNotPassingOnlyAndTagFilter) {
  auto a = Instance("api-1", "node1", "10.0.0.1", 80);
  a.tags = {"prod"};
  a.status = "critical";
  ASSERT_TRUE(server_->RegisterService(a).ok());
  auto b = Instance("api-2", "node2", "10.0.0.2", 80);
  b.tags = {"canary"};
  ASSERT_TRUE(server_->RegisterService(b).ok());
  config_.kv_prefix = "";
  WatchApi(/*passing_only=*/false, {"prod"});
  StartSource();
  ASSERT_TRUE(WaitForTargets(kApiDoc, {"10.0.0.1:80"}));
  EXPECT_THAT(recorder_.Get(kApiDoc)->data, HasSubstr(R"("__meta_consul_health":"critical")"));
}

// Blocking queries, not polling: with a 1 s wait, an idle source sends about
// one request per second per dependency, almost none of them with index 0,
// over one connection each; wake-ups without a change report nothing.
TEST_F(ConsulSourceTest, BlockingQueryDiscipline) {
  server_->PutKV("promconf/a.rules.yml", "# a\n");
  ASSERT_TRUE(server_->RegisterService(Instance("api-1", "node1", "10.0.0.1", 80)).ok());
  config_.kv_prefix = "promconf/";
  WatchApi();
  StartSource();
  ASSERT_TRUE(WaitForTargets(kApiDoc, {"10.0.0.1:80"}));
  const int kv_before = server_->RequestCount("/v1/kv/");
  const int upserts = recorder_.upserts();
  const int progress = recorder_.progress();
  for (int i = 0; i < 5; ++i) {
    server_->WakeBlockingQueries();
    absl::SleepFor(absl::Milliseconds(100));
  }
  absl::SleepFor(absl::Seconds(2));
  // 5 wake-ups and ~2 wait expiries: a handful, not hundreds.
  const int kv_requests = server_->RequestCount("/v1/kv/") - kv_before;
  EXPECT_GE(kv_requests, 3);
  EXPECT_LE(kv_requests, 15);
  EXPECT_EQ(recorder_.upserts(), upserts) << "a return without a change must report nothing";
  EXPECT_GT(recorder_.progress(), progress);
  EXPECT_LE(server_->RequestsWithIndexZero("/v1/kv/"), 1);
  EXPECT_LE(server_->RequestsWithIndexZero("/v1/health/"), 1);

  // Changes flow over the same two connections.
  for (int i = 0; i < 10; ++i) server_->PutKV("promconf/a.rules.yml", absl::StrCat("# a", i, "\n"));
  EXPECT_TRUE(recorder_.WaitForState(
      {{"a.rules.yml", "# a9\n"}, {kApiDoc, recorder_.Get(kApiDoc)->data}}, kWait));
  EXPECT_EQ(server_->ConnectionsSeen(), 2);
}

// A snapshot restore between two answers: the next query goes out with the
// old, now too high, index, and the server wakes it for nothing below that
// index, so the source is blind until the wait runs out; then the index has
// gone backwards and it re-reads. The wait bounds the blindness, which is
// why the default wait is one minute, not Consul's five.
TEST_F(ConsulSourceTest, RestoreBetweenAnswersIsSeenWithinOneWait) {
  for (int i = 0; i < 20; ++i) server_->PutKV("promconf/a.rules.yml", absl::StrCat("# v", i, "\n"));
  config_.kv_prefix = "promconf/";
  SourceContext context;
  context.name = "consul";
  consul::ConsulSourceTuning tuning = Tuning();
  tuning.min_request_interval = absl::Milliseconds(700);  // the window between answers
  auto source = consul::NewConsulSource(context, config_, tuning);
  ASSERT_TRUE(source.ok()) << source.status();
  source_ = std::move(*source);
  ASSERT_TRUE(source_->Start(&recorder_).ok());
  ASSERT_TRUE(recorder_.WaitForSnapshots(1, kWait)) << recorder_.last_error();
  server_->PutKV("promconf/a.rules.yml", "# before\n");
  ASSERT_TRUE(recorder_.WaitForState({{"a.rules.yml", "# before\n"}}, kWait));
  // Right after an answer: the loop is in its pause, not blocked.
  const int zero_before = server_->RequestsWithIndexZero("/v1/kv/");
  server_->ResetIndex(2);
  server_->PutKV("promconf/a.rules.yml", "# after the restore\n");
  const absl::Time start = absl::Now();
  EXPECT_TRUE(recorder_.WaitForState({{"a.rules.yml", "# after the restore\n"}}, kWait));
  // Within one wait (1 s here) plus its jitter, the pause and a re-read.
  EXPECT_LT(absl::Now() - start, tuning.wait + tuning.wait / 16 + absl::Seconds(3));
  // The answer with the lower index was applied as a re-list; the next
  // query (after the loop's pause) starts again from index 0.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (server_->RequestsWithIndexZero("/v1/kv/") <= zero_before && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GT(server_->RequestsWithIndexZero("/v1/kv/"), zero_before) << "no re-read at index 0";
  EXPECT_LE(consul::ConsulSourceTuning{}.wait, absl::Minutes(1));
}

// Keys whose names are not fragments' are dropped before a Document is
// built, and counted; they never reach the store.
TEST_F(ConsulSourceTest, NonFragmentKeysAreDroppedAndCounted) {
  server_->PutKV("promconf/a.rules.yml", "# a\n");
  server_->PutKV("promconf/blob.bin", std::string(500000, 'x'));
  server_->PutKV("promconf/notes.txt", "n");
  config_.kv_prefix = "promconf/";
  const uint64_t before = DroppedCount(kDroppedNonFragmentDocuments);
  StartSource();
  ASSERT_TRUE(recorder_.WaitForState({{"a.rules.yml", "# a\n"}}, kWait));
  EXPECT_GE(DroppedCount(kDroppedNonFragmentDocuments), before + 2);
  server_->PutKV("promconf/later.json", "{}");
  server_->PutKV("promconf/b.rules.yml", "# b\n");
  ASSERT_TRUE(
      recorder_.WaitForState({{"a.rules.yml", "# a\n"}, {"b.rules.yml", "# b\n"}}, kWait));
  EXPECT_FALSE(recorder_.Get("later.json").has_value());
}

TEST_F(ConsulSourceTest, ErrorsKeepTheDocumentsAndRecover) {
  server_->PutKV("promconf/a.rules.yml", "# a\n");
  config_.kv_prefix = "promconf/";
  StartSource();
  ASSERT_TRUE(recorder_.WaitForState({{"a.rules.yml", "# a\n"}}, kWait));
  const int errors = recorder_.errors();
  server_->FailNext(3, 500);
  server_->WakeBlockingQueries();
  ASSERT_TRUE(recorder_.WaitForErrors(errors + 3, kWait));
  EXPECT_THAT(recorder_.last_error(), HasSubstr("HTTP 500"));
  EXPECT_EQ(recorder_.State(), (std::map<std::string, std::string>{{"a.rules.yml", "# a\n"}}));
  server_->FailNext(2, 429);
  server_->WakeBlockingQueries();
  ASSERT_TRUE(recorder_.WaitForErrors(errors + 5, kWait));
  server_->PutKV("promconf/b.rules.yml", "# b\n");
  EXPECT_TRUE(recorder_.WaitForState({{"a.rules.yml", "# a\n"}, {"b.rules.yml", "# b\n"}}, kWait));
}

TEST_F(ConsulSourceTest, AclTokenFromFileAndItsRotation) {
  FakeConsulServer::Options options;
  options.acl_token = "s3cret";
  StartServer(options);
  server_->PutKV("promconf/a.rules.yml", "# a\n");
  TempDir dir;
  const std::string token_file = dir.path() + "/token";
  std::ofstream(token_file) << "wrong\n";
  config_.kv_prefix = "promconf/";
  config_.token_file = token_file;
  StartSource(1 << 20, /*wait_sync=*/false);
  ASSERT_TRUE(recorder_.WaitForErrors(1, kWait));
  EXPECT_THAT(recorder_.last_error(), HasSubstr("403"));
  EXPECT_EQ(recorder_.snapshots(), 0);
  // The token on disk is fixed: picked up without a restart.
  std::ofstream(token_file) << "s3cret\n";
  EXPECT_TRUE(recorder_.WaitForState({{"a.rules.yml", "# a\n"}}, kWait));
}

TEST_F(ConsulSourceTest, UnreadableTokenFileIsAStartError) {
  config_.kv_prefix = "promconf/";
  config_.token_file = "/nonexistent/token";
  SourceContext context;
  context.name = "consul";
  auto source = consul::NewConsulSource(context, config_, Tuning());
  ASSERT_TRUE(source.ok());
  absl::Status s = (*source)->Start(&recorder_);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("/nonexistent/token"));
}

TEST_F(ConsulSourceTest, OversizedValuesAndFolderKeys) {
  server_->PutKV("promconf/big.rules.yml", std::string(5000, '#'));
  server_->PutKV("promconf/team/", "");  // a "folder" key, as the Consul UI makes
  server_->PutKV("promconf/team/x.rules.yml", "# x\n");
  config_.kv_prefix = "promconf/";
  StartSource(/*max_document_bytes=*/4096);
  ASSERT_TRUE(PollUntil([&] { return recorder_.Get("team/x.rules.yml").has_value(); }, kWait));
  auto big = recorder_.Get("big.rules.yml");
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(big->oversized_bytes, 5000u);
  EXPECT_FALSE(recorder_.Get("team/").has_value());
  EXPECT_EQ(recorder_.State().size(), 2u);
}

TEST_F(ConsulSourceTest, WrongDatacenterIsAnError) {
  config_.kv_prefix = "promconf/";
  config_.datacenter = "elsewhere";
  StartSource(1 << 20, /*wait_sync=*/false);
  ASSERT_TRUE(recorder_.WaitForErrors(1, kWait));
  EXPECT_THAT(recorder_.last_error(), HasSubstr("No path to datacenter"));
}

}  // namespace
}  // namespace promconf
