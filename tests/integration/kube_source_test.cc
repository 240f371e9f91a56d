// The Kubernetes source against the fake API server: what the conformance
// suite does not cover (selectors, keys, auth, token rotation, namespaces,
// retries, split chunks, Secrets, request parameters).

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "informers/kubernetes/kubernetes_source.h"
#include "tests/conformance/source_conformance.h"
#include "tests/fakes/kube_apiserver.h"

namespace promconf {
namespace {

using State = std::map<std::string, std::string>;
const std::map<std::string, std::string> kLabels = {{"promconf.io/fragment", "true"}};
constexpr absl::Duration kWait = absl::Seconds(20);

class KubeSourceTest : public testing::Test {
 protected:
  void SetUp() override { StartFake({}); }

  void StartFake(FakeKubeApiServer::Options options) {
    options.bookmark_interval = absl::Milliseconds(300);
    auto fake = FakeKubeApiServer::Start(options);
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = std::move(*fake);
    char tmpl[] = "/tmp/kube_source_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_.kubeconfig = dir_ + "/kubeconfig";
    ASSERT_TRUE(fake_->WriteKubeconfig(config_.kubeconfig).ok());
    tuning_.idle_timeout = absl::Seconds(3);
    tuning_.backoff.initial = absl::Milliseconds(50);
    tuning_.backoff.max = absl::Milliseconds(500);
    tuning_.auth_retry = absl::Milliseconds(200);
    tuning_.watch_timeout_min = absl::Seconds(30);
    tuning_.watch_timeout_max = absl::Seconds(40);
  }

  void TearDown() override {
    if (source_) source_->Stop();
    source_.reset();
    fake_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void Start() {
    SourceContext context;
    context.name = "cluster";
    auto source = kube::NewKubernetesSource(context, config_, tuning_);
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = std::move(*source);
    ASSERT_TRUE(source_->Start(&callbacks_).ok());
  }

  void Apply(const std::string& ns, const std::string& name, const State& data,
             const std::map<std::string, std::string>& labels = kLabels) {
    ASSERT_TRUE(fake_->ApplyConfigMap(ns, name, labels, data).ok());
  }

  void ExpectState(const State& want, const char* step) {
    if (callbacks_.WaitForState(want, kWait)) return;
    std::string got;
    for (const auto& [k, v] : callbacks_.State()) absl::StrAppend(&got, " ", k, "=", v);
    ADD_FAILURE() << step << ": got" << got << "\nlast error: " << callbacks_.last_error();
  }

  // Waits (bounded) until a request containing `needle` reached the fake,
  // plus a moment for its handler to take its place.
  void WaitForRequest(absl::string_view needle) {
    for (int i = 0; i < 200 && Requests(needle).empty(); ++i) absl::SleepFor(absl::Milliseconds(25));
    absl::SleepFor(absl::Milliseconds(100));
  }

  // Makes the source's resume point unusable: a write it cannot see (other
  // namespace, no labels), then history forgotten past it, then the watch cut.
  void Expire() {
    ASSERT_TRUE(fake_->ApplyConfigMap("zz-bump", "bump", {}, {{"n", absl::StrCat(++bumps_)}}).ok());
    fake_->ExpireHistory();
    fake_->DropWatches();
  }
  int bumps_ = 0;

  std::vector<std::string> Requests(absl::string_view needle) const {
    std::vector<std::string> out;
    for (const std::string& r : fake_->RequestLog()) {
      if (absl::StrContains(r, needle)) out.push_back(r);
    }
    return out;
  }

  std::unique_ptr<FakeKubeApiServer> fake_;
  std::string dir_;
  KubernetesSourceConfig config_;
  kube::KubernetesSourceTuning tuning_;
  RecordingCallbacks callbacks_;
  std::unique_ptr<Source> source_;
};

TEST_F(KubeSourceTest, KeysObjectsAndLabelFlips) {
  Apply("team-a", "rules", {{"a.rules.yml", "A"}, {"b.rules.yml", "B"}});
  Apply("team-a", "unlabelled", {{"x.rules.yml", "X"}}, {{"other", "true"}});
  Start();
  ExpectState({{"team-a/rules/a.rules.yml", "A"}, {"team-a/rules/b.rules.yml", "B"}}, "initial");
  // A MODIFIED that removes a key deletes that document.
  Apply("team-a", "rules", {{"a.rules.yml", "A2"}});
  ExpectState({{"team-a/rules/a.rules.yml", "A2"}}, "key removed");
  // Labels no longer match: the selector watch sends DELETED.
  Apply("team-a", "rules", {{"a.rules.yml", "A2"}}, {{"promconf.io/fragment", "false"}});
  ExpectState({}, "label flipped off");
  Apply("team-a", "unlabelled", {{"x.rules.yml", "X"}});
  ExpectState({{"team-a/unlabelled/x.rules.yml", "X"}}, "label flipped on");
  ASSERT_TRUE(fake_->DeleteConfigMap("team-a", "unlabelled").ok());
  ExpectState({}, "deleted");
}

TEST_F(KubeSourceTest, BinaryDataIsDecoded) {
  ASSERT_TRUE(fake_->ApplyConfigMap("ns", "bin", kLabels, {{"t.rules.yml", "text"}},
                                    {{"b.rules.yml", std::string("\x00\x01\xff", 3)}})
                  .ok());
  Start();
  ExpectState({{"ns/bin/t.rules.yml", "text"}, {"ns/bin/b.rules.yml", std::string("\x00\x01\xff", 3)}},
              "binaryData");
}

TEST_F(KubeSourceTest, RequestParametersAreClientGos) {
  tuning_.watch_timeout_min = absl::Seconds(300);
  tuning_.watch_timeout_max = absl::Seconds(600);
  Apply("ns", "cm", {{"a.rules.yml", "A"}});
  Start();
  ExpectState({{"ns/cm/a.rules.yml", "A"}}, "initial");
  fake_->DropWatches();  // a second watch, with a new random timeout
  Apply("ns", "cm", {{"a.rules.yml", "A2"}});
  ExpectState({{"ns/cm/a.rules.yml", "A2"}}, "after drop");
  const auto lists = Requests("GET /api/v1/configmaps?labelSelector=");
  ASSERT_FALSE(lists.empty());
  EXPECT_TRUE(absl::StrContains(lists[0], "labelSelector=promconf.io%2Ffragment%3Dtrue"))
      << lists[0];
  EXPECT_TRUE(absl::StrContains(lists[0], "limit=500")) << lists[0];
  EXPECT_TRUE(absl::StrContains(lists[0], "resourceVersion=0")) << "first list from cache";
  const auto watches = Requests("watch=1");
  ASSERT_GE(watches.size(), 1u);
  for (const std::string& w : watches) {
    EXPECT_TRUE(absl::StrContains(w, "allowWatchBookmarks=true")) << w;
    const size_t at = w.find("timeoutSeconds=");
    ASSERT_NE(at, std::string::npos) << w;
    int t = 0;
    ASSERT_TRUE(absl::SimpleAtoi(absl::string_view(w).substr(at + 15, 3), &t)) << w;
    EXPECT_GE(t, 300) << w;
    EXPECT_LT(t, 600) << w;
    EXPECT_TRUE(absl::StrContains(w, "resourceVersion=")) << w;
  }
}

TEST_F(KubeSourceTest, PagesWithContinueTokens) {
  tuning_.list_limit = 7;
  State want;
  for (int i = 0; i < 30; ++i) {
    const std::string name = absl::StrCat("cm", i);
    Apply("ns", name, {{"k.rules.yml", absl::StrCat(i)}});
    want[absl::StrCat("ns/", name, "/k.rules.yml")] = absl::StrCat(i);
  }
  Start();
  ExpectState(want, "paged list");
  EXPECT_GE(Requests("continue=").size(), 4u);
  EXPECT_EQ(callbacks_.snapshots(), 1);
}

TEST_F(KubeSourceTest, ExpiredMidWatchRelistsConsistentlyWithoutPhantoms) {
  Apply("ns", "a", {{"a.rules.yml", "A"}});
  Apply("ns", "b", {{"b.rules.yml", "B"}});
  Start();
  ExpectState({{"ns/a/a.rules.yml", "A"}, {"ns/b/b.rules.yml", "B"}}, "initial");
  const int snapshots = callbacks_.snapshots();
  // History gone while the watch is open: the next resume gets 410.
  fake_->ExpireHistory();
  ASSERT_TRUE(fake_->DeleteConfigMap("ns", "a").ok());
  Apply("ns", "c", {{"c.rules.yml", "C"}});
  Expire();
  // The open watch may deliver the delete and the add before the drop, so
  // the state can be right before the re-list: wait for the re-list itself.
  EXPECT_TRUE(callbacks_.WaitForSnapshots(snapshots + 1, kWait)) << "expected a re-list";
  ExpectState({{"ns/b/b.rules.yml", "B"}, {"ns/c/c.rules.yml", "C"}}, "after re-list");
  // Re-lists after the first are consistent reads (no resourceVersion).
  const auto lists = Requests("GET /api/v1/configmaps?labelSelector=");
  ASSERT_GE(lists.size(), 2u);
  EXPECT_FALSE(absl::StrContains(lists.back(), "resourceVersion=")) << lists.back();
}

TEST_F(KubeSourceTest, StalledStreamDetectedWithinDeadline) {
  tuning_.idle_timeout = absl::Seconds(2);
  Apply("ns", "a", {{"a.rules.yml", "A"}});
  Start();
  ExpectState({{"ns/a/a.rules.yml", "A"}}, "initial");
  WaitForRequest("watch=1");
  const int errors = callbacks_.errors();
  const absl::Time start = absl::Now();
  fake_->StallWatches();
  Apply("ns", "b", {{"b.rules.yml", "B"}});
  ASSERT_TRUE(callbacks_.WaitForErrors(errors + 1, kWait));
  const absl::Duration took = absl::Now() - start;
  // Idle deadline plus libcurl's ~1 s progress tick, plus slack for a busy machine.
  EXPECT_LT(took, absl::Seconds(8)) << took;
  EXPECT_TRUE(absl::StrContains(callbacks_.last_error(), "idle")) << callbacks_.last_error();
  ExpectState({{"ns/a/a.rules.yml", "A"}, {"ns/b/b.rules.yml", "B"}}, "after stall");
}

TEST_F(KubeSourceTest, ApiServerRestartResetsResourceVersions) {
  Apply("ns", "a", {{"a.rules.yml", "A"}});
  for (int i = 0; i < 20; ++i) Apply("ns", "churn", {{"c.rules.yml", absl::StrCat(i)}});
  Start();
  ExpectState({{"ns/a/a.rules.yml", "A"}, {"ns/churn/c.rules.yml", "19"}}, "initial");
  ASSERT_TRUE(fake_->Restart().ok());
  ASSERT_TRUE(fake_->DeleteConfigMap("ns", "churn").ok());
  Apply("ns", "b", {{"b.rules.yml", "B"}});
  ExpectState({{"ns/a/a.rules.yml", "A"}, {"ns/b/b.rules.yml", "B"}}, "after restart");
  Apply("ns", "a", {{"a.rules.yml", "A2"}});
  ExpectState({{"ns/a/a.rules.yml", "A2"}, {"ns/b/b.rules.yml", "B"}}, "watching after restart");
}

TEST_F(KubeSourceTest, RejectedTokenIsAClearErrorAndRecovers) {
  fake_->SetToken("other-token");
  Start();
  ASSERT_TRUE(callbacks_.WaitForErrors(1, kWait));
  const std::string error = callbacks_.last_error();
  EXPECT_TRUE(absl::StrContains(error, "\"cluster\"")) << error;
  EXPECT_TRUE(absl::StrContains(error, fake_->url())) << error;
  EXPECT_TRUE(absl::StrContains(error, "401")) << error;
  EXPECT_EQ(callbacks_.snapshots(), 0);
  fake_->SetToken("test-token");
  ASSERT_TRUE(callbacks_.WaitForSnapshots(1, kWait));
}

TEST_F(KubeSourceTest, WrongCaIsAClearErrorNotACrash) {
  // A kubeconfig whose CA did not sign the server's certificate.
  std::ifstream in(config_.kubeconfig);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = text.find("certificate-authority-data:");
  ASSERT_NE(at, std::string::npos) << text;
  const size_t eol = text.find('\n', at);
  text.replace(at, eol - at,
               "certificate-authority-data: "
               "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrVENCK3dJSkFLSE9lRlN3bG1lQ01BMEdDU3FHU0liM0RRRUJDd1VBTUJReEVqQVFCZ05WQkFNTUNXeHYKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=");
  std::ofstream(config_.kubeconfig) << text;
  Start();
  ASSERT_TRUE(callbacks_.WaitForErrors(1, kWait));
  EXPECT_TRUE(absl::StrContains(callbacks_.last_error(), "\"cluster\"")) << callbacks_.last_error();
  EXPECT_EQ(callbacks_.snapshots(), 0);
}

TEST_F(KubeSourceTest, InClusterTokenRotation) {
  // In-cluster settings pointing at the fake, with a token file we rewrite.
  const std::string url = fake_->url();  // https://127.0.0.1:PORT
  const size_t colon = url.rfind(':');
  tuning_.in_cluster.host = "127.0.0.1";
  tuning_.in_cluster.port = url.substr(colon + 1);
  tuning_.in_cluster.token_file = dir_ + "/token";
  tuning_.in_cluster.ca_file = dir_ + "/ca.crt";
  tuning_.in_cluster.namespace_file = dir_ + "/namespace";
  tuning_.token_refresh = absl::Milliseconds(500);
  std::ofstream(tuning_.in_cluster.token_file) << "test-token";
  std::ofstream(tuning_.in_cluster.ca_file) << fake_->ca_pem();
  config_.kubeconfig.clear();
  Apply("ns", "a", {{"a.rules.yml", "A"}});
  Start();
  ExpectState({{"ns/a/a.rules.yml", "A"}}, "initial");

  // The kubelet writes the new token; the server starts requiring it; the
  // next connection must carry it without a restart of promconf.
  std::ofstream(tuning_.in_cluster.token_file) << "rotated-1";
  absl::SleepFor(absl::Seconds(1));  // > token_refresh
  fake_->SetToken("rotated-1");
  fake_->DropWatches();
  Apply("ns", "b", {{"b.rules.yml", "B"}});
  ExpectState({{"ns/a/a.rules.yml", "A"}, {"ns/b/b.rules.yml", "B"}}, "after rotation");

  // Rotated on the server first: 401s until the file catches up.
  const int errors = callbacks_.errors();
  fake_->SetToken("rotated-2");
  fake_->DropWatches();
  ASSERT_TRUE(callbacks_.WaitForErrors(errors + 1, kWait));
  std::ofstream(tuning_.in_cluster.token_file) << "rotated-2";
  Apply("ns", "c", {{"c.rules.yml", "C"}});
  ExpectState({{"ns/a/a.rules.yml", "A"}, {"ns/b/b.rules.yml", "B"}, {"ns/c/c.rules.yml", "C"}},
              "after second rotation");
}

TEST_F(KubeSourceTest, TenNamespacesTenListWatches) {
  State want;
  for (int i = 0; i < 12; ++i) {
    const std::string ns = absl::StrCat("ns", i);
    if (i < 10) config_.namespaces.push_back(ns);
    Apply(ns, "cm", {{"r.rules.yml", ns}});
    if (i < 10) want[absl::StrCat(ns, "/cm/r.rules.yml")] = ns;
  }
  Start();
  ASSERT_EQ(source_->SyncPrefixes().size(), 10u);
  EXPECT_EQ(source_->SyncPrefixes()[3], "ns3/");
  ExpectState(want, "ten namespaces");
  EXPECT_EQ(callbacks_.snapshots(), 10);
  for (int i = 0; i < 10; ++i) WaitForRequest(absl::StrCat("/api/v1/namespaces/ns", i, "/configmaps?watch=1"));
  for (int i = 0; i < 10; ++i) {
    const std::string path = absl::StrCat("/api/v1/namespaces/ns", i, "/configmaps?");
    EXPECT_EQ(Requests(absl::StrCat("GET ", path, "labelSelector")).size(), 1u) << path;
    EXPECT_GE(Requests(absl::StrCat("GET ", path, "watch=1")).size(), 1u) << path;
  }
  EXPECT_TRUE(Requests("/api/v1/configmaps").empty());
  Apply("ns4", "cm", {{"r.rules.yml", "changed"}});
  want["ns4/cm/r.rules.yml"] = "changed";
  ExpectState(want, "update in one namespace");
}

TEST_F(KubeSourceTest, TooManyRequestsAndServerErrorsAreRetried) {
  Apply("ns", "a", {{"a.rules.yml", "A"}});
  fake_->FailNextRequests(429, 2);
  Start();
  ExpectState({{"ns/a/a.rules.yml", "A"}}, "after 429s");
  EXPECT_GE(callbacks_.errors(), 1);
  EXPECT_TRUE(absl::StrContains(callbacks_.last_error(), "429")) << callbacks_.last_error();
  const int errors = callbacks_.errors();
  fake_->FailNextRequests(500, 3);
  fake_->DropWatches();
  Apply("ns", "b", {{"b.rules.yml", "B"}});
  ExpectState({{"ns/a/a.rules.yml", "A"}, {"ns/b/b.rules.yml", "B"}}, "after 500s");
  EXPECT_GT(callbacks_.errors(), errors);
}

TEST_F(KubeSourceTest, SplitChunks) {
  fake_->SplitWrites(7);
  Apply("ns", "a", {{"a.rules.yml", "groups:\n- name: \"é ✓ 𝄞 \\\" {}\"\n"}});
  Start();
  ExpectState({{"ns/a/a.rules.yml", "groups:\n- name: \"é ✓ 𝄞 \\\" {}\"\n"}}, "initial");
  for (int i = 0; i < 5; ++i) {
    Apply("ns", "a", {{"a.rules.yml", absl::StrCat("# ", i, " ✓\n")}});
  }
  ExpectState({{"ns/a/a.rules.yml", "# 4 ✓\n"}}, "split watch events");
}

TEST_F(KubeSourceTest, SecretsAlongsideConfigMaps) {
  config_.secrets = true;
  Apply("ns", "same", {{"a.rules.yml", "from configmap"}});
  ASSERT_TRUE(fake_->ApplySecret("ns", "same", kLabels, {{"a.rules.yml", "from secret"}}).ok());
  Start();
  ExpectState({{"ns/same/a.rules.yml", "from configmap"},
               {"ns/secret:same/a.rules.yml", "from secret"}},
              "initial");
  EXPECT_EQ(callbacks_.snapshots(), 1) << "one snapshot once both lists are in";
  ASSERT_TRUE(fake_->ApplySecret("ns", "same", kLabels, {{"b.rules.yml", std::string("\0x", 2)}}).ok());
  ExpectState({{"ns/same/a.rules.yml", "from configmap"},
               {"ns/secret:same/b.rules.yml", std::string("\0x", 2)}},
              "secret modified");
  // A re-list of both must neither drop the other resource's documents nor
  // keep phantoms.
  fake_->ExpireHistory();
  ASSERT_TRUE(fake_->DeleteSecret("ns", "same").ok());
  Apply("ns", "other", {{"o.rules.yml", "O"}});
  Expire();
  ExpectState({{"ns/same/a.rules.yml", "from configmap"}, {"ns/other/o.rules.yml", "O"}},
              "after re-list");
}

}  // namespace
}  // namespace promconf
