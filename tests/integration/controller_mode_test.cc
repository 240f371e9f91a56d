// Controller mode end to end: real promconf processes against the fake API
// server. Two replicas elect one leader on a Lease; the leader publishes the
// output as ConfigMaps; SIGKILL and SIGTERM hand over; the fake's write log
// shows no ConfigMap write by anyone but the holder of the lease at that
// moment; a sidecar (output.from_configmap) reassembles a 3 MB output byte for
// byte; three shards split scrape targets by hashmod.
//
// Durations are short (2s lease, 1500ms renew deadline, 300ms retry) and the
// only time assertions are generous upper bounds.

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "informers/kubernetes/published_set.h"
#include "rapidjson/document.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/kube_apiserver.h"
#include "tests/fakes/prometheus_server.h"
#include "tests/fakes/test_io.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;

const char kPromconf[] = PROMCONF_BINARY_DIR "/promconf";
const absl::Duration kLease = absl::Seconds(2);
const absl::Duration kRetry = absl::Milliseconds(300);

class Replica {
 public:
  Replica(const fs::path& config, const fs::path& log)
      : port_(PickFreeLoopbackPort()),
        log_(log),
        child_(std::make_unique<ChildProcess>(
            std::vector<std::string>{kPromconf, "--config.file=" + config.string(),
                                     absl::StrCat("--web.listen-address=127.0.0.1:", port_),
                                     "--log.level=debug"},
            log.string(), log.string())) {}
  bool IsLeader() const {
    return absl::StrContains(Metrics(), "\npromconf_leader 1");
  }
  std::string Metrics() const {
    return HttpGetBody(absl::StrCat("http://127.0.0.1:", port_, "/metrics"));
  }
  bool Ready() const { return absl::StartsWith(HttpGetBody(absl::StrCat("http://127.0.0.1:", port_, "/readyz")), "ok");
  }
  void Signal(int sig) { child_->Signal(sig); }
  int Wait(absl::Duration d) { return child_->Wait(d); }
  std::string Log() const { return ReadWholeFile(log_.string()); }

 private:
  int port_;
  fs::path log_;
  std::unique_ptr<ChildProcess> child_;
};

// "promconf/0.1 (host_abcd)" -> "host_abcd".
std::string IdentityOf(const std::string& user_agent) {
  const size_t open = user_agent.find('(');
  const size_t close = user_agent.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return "";
  return user_agent.substr(open + 1, close - open - 1);
}

class ControllerModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/promconf-controller-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto api = FakeKubeApiServer::Start({});
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = *std::move(api);
    kubeconfig_ = (dir_ / "kubeconfig").string();
    ASSERT_TRUE(api_->WriteKubeconfig(kubeconfig_).ok());
    WriteFileAtomically(dir_ / "base.yml", "global:\n  scrape_interval: 15s\n");
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  absl::Status Rules(const std::string& ns, const std::string& record, size_t rules = 1) {
    std::string doc = absl::StrCat("groups:\n- name: ", record, "\n  rules:\n");
    for (size_t i = 0; i < rules; ++i) {
      absl::StrAppend(&doc, "  - record: ", record, i == 0 ? "" : absl::StrCat("_", i),
                      "\n    expr: vector(1)\n");
    }
    return api_->ApplyConfigMap(ns, "rules", {{"promconf.io/fragment", "true"}},
                                {{"r.rules.yml", doc}});
  }

  // A controller replica's promconf.yml.
  fs::path ControllerConfig(const std::string& name, bool leader_election, int shards = 1) {
    std::string c = absl::StrCat(
        "output:\n  dir: ", (dir_ / ("out-" + name)).string(), "\n  base_config: ",
        (dir_ / "base.yml").string(),
        "\n  configmap: {source: cluster, namespace: monitoring, name: prom}\n  shards: ", shards,
        "\nvalidation:\n  promtool: never\n");
    if (leader_election) {
      absl::StrAppend(&c,
                      "leader_election:\n  enabled: true\n  source: cluster\n"
                      "  namespace: monitoring\n  name: promconf\n  lease_duration: 2s\n"
                      "  renew_deadline: 1500ms\n  retry_period: 300ms\n");
    }
    absl::StrAppend(&c, "sources:\n- name: cluster\n  kubernetes:\n    kubeconfig: ", kubeconfig_,
                    "\n    label_selector: promconf.io/fragment=true\n");
    const fs::path path = dir_ / (name + ".yml");
    WriteFileAtomically(path, c);
    return path;
  }

  fs::path SidecarConfig(const std::string& name, int shard = 0, std::string out_dir = "",
                         const std::string& reload_url = "") {
    if (out_dir.empty()) out_dir = (dir_ / ("out-" + name)).string();
    std::string c = absl::StrCat(
        reload_url.empty() ? "" : absl::StrCat("reload:\n  url: ", reload_url,
                                               "\n  min_interval: 100ms\n"),
        "output:\n  dir: ", out_dir,
        "\n  from_configmap: {source: published, namespace: monitoring, name: prom, shard: ",
        shard,
        "}\nsources:\n- name: published\n  kubernetes:\n    kubeconfig: ", kubeconfig_,
        "\n    namespaces: [monitoring]\n    label_selector: promconf.io/output=prom,"
        "promconf.io/shard=", shard, "\n");
    const fs::path path = dir_ / (name + ".yml");
    WriteFileAtomically(path, c);
    return path;
  }

  std::string LeaseHolder() {
    auto json = api_->GetObjectJson("leases", "monitoring", "promconf");
    if (!json.ok()) return "";
    rapidjson::Document d;
    d.Parse(json->c_str());
    if (d.HasParseError() || !d.HasMember("spec")) return "";
    const auto& spec = d["spec"];
    return spec.HasMember("holderIdentity") && spec["holderIdentity"].IsString()
               ? spec["holderIdentity"].GetString()
               : "";
  }

  // The published files of set `set` (e.g. "prom"), if complete.
  absl::StatusOr<std::map<std::string, std::string>> Published(const std::string& set) {
    std::map<std::string, std::map<std::string, std::string>> cms;
    auto load = [&](const std::string& name) -> const std::map<std::string, std::string>* {
      auto it = cms.find(name);
      if (it != cms.end()) return &it->second;
      auto json = api_->GetObjectJson("configmaps", "monitoring", name);
      if (!json.ok()) return nullptr;
      rapidjson::Document d;
      d.Parse(json->c_str());
      std::map<std::string, std::string> data;
      if (!d.HasParseError() && d.HasMember("data")) {
        for (const auto& m : d["data"].GetObject()) data[m.name.GetString()] = m.value.GetString();
      }
      return &cms.emplace(name, std::move(data)).first->second;
    };
    const auto* first = load(set);
    if (first == nullptr || first->count(kube::kPublishedIndexKey) == 0) {
      return absl::NotFoundError("no index");
    }
    return kube::AssemblePublishedSet(
        first->at(kube::kPublishedIndexKey),
        [&](const std::string& cm, const std::string& key) -> std::optional<absl::string_view> {
          const auto* data = load(cm);
          if (data == nullptr || data->count(key) == 0) return std::nullopt;
          return absl::string_view(data->at(key));
        });
  }

  bool PublishedContains(const std::string& set, const std::string& text) {
    auto files = Published(set);
    if (!files.ok()) return false;
    for (const auto& [path, data] : *files) {
      if (absl::StrContains(data, text)) return true;
    }
    return false;
  }

  std::map<std::string, std::string> Tree(const fs::path& root) {
    std::map<std::string, std::string> out;
    if (!fs::exists(root)) return out;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (!e.is_regular_file()) continue;
      std::string rel = fs::relative(e.path(), root).string();
      if (absl::StrContains(rel, ".promconf-tmp-")) continue;
      out[rel] = ReadWholeFile(e.path().string());
    }
    return out;
  }

  // Every ConfigMap write in the log was made by the replica the Lease named
  // at that moment, and only while that lease was held.
  void ExpectNoWritesOutsideTheLease() {
    std::string holder;
    int writes = 0;
    for (const auto& w : api_->WriteLog()) {
      if (w.resource == "leases" && w.name == "promconf") {
        holder = w.method == "DELETE" ? "" : w.lease_holder;
        continue;
      }
      if (w.resource != "configmaps" || w.ns != "monitoring") continue;
      if (!absl::StrContains(w.who, "promconf/")) continue;  // the test's own writes
      ++writes;
      EXPECT_FALSE(holder.empty()) << w.method << " " << w.name << " by " << w.who
                                   << " while the lease was free";
      EXPECT_EQ(IdentityOf(w.who), holder)
          << w.method << " " << w.name << " by " << w.who << " while " << holder << " led";
    }
    EXPECT_GT(writes, 0);
  }

  fs::path dir_;
  std::unique_ptr<FakeKubeApiServer> api_;
  std::string kubeconfig_;
};

TEST_F(ControllerModeTest, OneLeaderPublishesAndHandsOverOnKillAndOnTerm) {
  ASSERT_TRUE(Rules("team-a", "team_a:one").ok());
  auto a = std::make_unique<Replica>(ControllerConfig("a", true), dir_ / "a.log");
  auto b = std::make_unique<Replica>(ControllerConfig("b", true), dir_ / "b.log");

  ASSERT_TRUE(PollUntil([&] { return PublishedContains("prom", "team_a:one"); },
                        absl::Seconds(60)))
      << a->Log() << b->Log();
  // Exactly one leader, the one the Lease names.
  ASSERT_TRUE(PollUntil([&] { return a->IsLeader() != b->IsLeader(); }, absl::Seconds(30)));
  Replica* leader = a->IsLeader() ? a.get() : b.get();
  std::unique_ptr<Replica>& follower = a->IsLeader() ? b : a;
  EXPECT_FALSE(LeaseHolder().empty());
  // The follower rendered too (it publishes at once when it takes over).
  ASSERT_TRUE(PollUntil([&] { return follower->Ready(); }, absl::Seconds(30)));

  // An edit reaches the published ConfigMap through the leader.
  ASSERT_TRUE(Rules("team-a", "team_a:two").ok());
  ASSERT_TRUE(PollUntil([&] { return PublishedContains("prom", "team_a:two"); }, absl::Seconds(30)))
      << leader->Log();

  // SIGKILL: no release. The follower takes over once the lease expires
  // (lease_duration + retry jitter; generous bound) and publishes.
  const std::string killed = LeaseHolder();
  const absl::Time kill_at = absl::Now();
  leader->Signal(SIGKILL);
  leader->Wait(absl::Seconds(10));
  ASSERT_TRUE(PollUntil([&] { return follower->IsLeader(); }, absl::Seconds(30)))
      << follower->Log();
  const absl::Duration failover = absl::Now() - kill_at;
  EXPECT_LT(failover, kLease + 3 * kRetry + absl::Seconds(5)) << failover;
  EXPECT_NE(LeaseHolder(), killed);
  ASSERT_TRUE(Rules("team-a", "team_a:three").ok());
  ASSERT_TRUE(PollUntil([&] { return PublishedContains("prom", "team_a:three"); },
                        absl::Seconds(30)))
      << follower->Log();

  // A new replica joins as a follower; SIGTERM the leader: it releases the
  // lease and the newcomer takes it without waiting out a lease duration.
  std::unique_ptr<Replica>& dead = a->IsLeader() ? b : a;
  dead = std::make_unique<Replica>(ControllerConfig(&dead == &a ? "a2" : "b2", true),
                                   dir_ / "c.log");
  ASSERT_TRUE(PollUntil([&] { return dead->Ready(); }, absl::Seconds(30))) << dead->Log();
  follower->Signal(SIGTERM);
  EXPECT_EQ(follower->Wait(absl::Seconds(30)), 0) << follower->Log();
  ASSERT_TRUE(PollUntil([&] { return dead->IsLeader(); }, absl::Seconds(30))) << dead->Log();
  // From the release to the successor's acquisition, by the server's clock.
  absl::Time released = absl::InfinitePast(), acquired = absl::InfinitePast();
  for (const auto& w : api_->WriteLog()) {
    if (w.resource != "leases") continue;
    if (w.lease_holder.empty()) {
      EXPECT_EQ(w.lease_duration_seconds, 1);
      released = w.at;
    } else if (released != absl::InfinitePast() && acquired == absl::InfinitePast()) {
      acquired = w.at;
    }
  }
  ASSERT_NE(released, absl::InfinitePast()) << "SIGTERM did not release the lease";
  ASSERT_NE(acquired, absl::InfinitePast());
  EXPECT_LT(acquired - released, kLease) << acquired - released;
  ASSERT_TRUE(Rules("team-a", "team_a:four").ok());
  ASSERT_TRUE(PollUntil([&] { return PublishedContains("prom", "team_a:four"); },
                        absl::Seconds(30)))
      << dead->Log();
  ExpectNoWritesOutsideTheLease();
  EXPECT_TRUE(absl::StrContains(dead->Metrics(), "promconf_leader_transitions_total 1"));
}

TEST_F(ControllerModeTest, SidecarReassemblesThreeMegabytesByteForByte) {
  // Four rule files of ~800 KB each (a fragment is at most 1 MiB).
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(Rules(absl::StrCat("team-", i), absl::StrCat("team_", i, ":big"), 17000).ok());
  }
  // Nothing published yet: an init container fails (and is retried by the
  // kubelet) rather than start Prometheus on nothing.
  auto early = ChildProcess::Run({kPromconf, "--once", "--config.file=" +
                                  SidecarConfig("early", 0).string()},
                                 dir_.string(), absl::Seconds(90));
  EXPECT_NE(early.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(early.out + early.err, "no complete published set"))
      << early.out << early.err;
  Replica controller(ControllerConfig("ctl", false), dir_ / "ctl.log");
  Replica sidecar(SidecarConfig("side"), dir_ / "side.log");
  ASSERT_TRUE(PollUntil([&] { return controller.Ready(); }, absl::Seconds(120)))
      << controller.Log();
  size_t total = 0;
  for (const auto& [p, d] : Tree(dir_ / "out-ctl")) total += d.size();
  EXPECT_GT(total, size_t{3} << 20);
  ASSERT_TRUE(PollUntil([&] { return Tree(dir_ / "out-side") == Tree(dir_ / "out-ctl"); },
                        absl::Seconds(120)))
      << sidecar.Log();
  EXPECT_TRUE(api_->GetObjectJson("configmaps", "monitoring", "prom-3").ok());
  // An init container (--once) copies the same complete set and exits 0.
  auto once = ChildProcess::Run({kPromconf, "--once", "--config.file=" +
                                 SidecarConfig("init", 0, (dir_ / "out-init").string()).string()},
                                dir_.string(), absl::Seconds(90));
  EXPECT_EQ(once.exit_code, 0) << once.out << once.err;
  EXPECT_TRUE(Tree(dir_ / "out-init") == Tree(dir_ / "out-ctl"));

  // Shrinking deletes the stale ConfigMaps; the sidecar follows.
  for (int i = 1; i < 4; ++i) {
    ASSERT_TRUE(api_->DeleteConfigMap(absl::StrCat("team-", i), "rules").ok());
  }
  ASSERT_TRUE(PollUntil([&] {
    return absl::IsNotFound(api_->GetObjectJson("configmaps", "monitoring", "prom-3").status());
  }, absl::Seconds(60))) << controller.Log();
  auto rule_files = [&] {
    int n = 0;
    for (const auto& [p, d] : Tree(dir_ / "out-side")) n += absl::StartsWith(p, "rules/");
    return n;
  };
  ASSERT_TRUE(PollUntil([&] {
    return rule_files() == 1 && Tree(dir_ / "out-side") == Tree(dir_ / "out-ctl");
  }, absl::Seconds(60))) << sidecar.Log();
}

TEST_F(ControllerModeTest, ThreeShardsSplitTargetsAndShareRules) {
  ASSERT_TRUE(Rules("team-a", "team_a:rule").ok());
  std::string targets;
  for (int i = 0; i < 30; ++i) absl::StrAppend(&targets, i ? ", " : "", "'10.0.0.", i, ":9100'");
  ASSERT_TRUE(api_->ApplyConfigMap("team-a", "scrape", {{"promconf.io/fragment", "true"}},
                                   {{"node.scrape.yml",
                                     absl::StrCat("job_name: node\nstatic_configs:\n- targets: [",
                                                  targets, "]\n")}})
                  .ok());
  Replica controller(ControllerConfig("ctl", false, 3), dir_ / "ctl.log");
  Replica sidecar(SidecarConfig("side1", 1), dir_ / "side.log");
  for (int k = 0; k < 3; ++k) {
    const std::string set = absl::StrCat("prom-shard-", k);
    ASSERT_TRUE(PollUntil([&] { return PublishedContains(set, "job_name: node"); },
                          absl::Seconds(60)))
        << controller.Log();
    auto files = Published(set);
    ASSERT_TRUE(files.ok());
    const std::string& config = files->at("prometheus.yml");
    // prometheus-operator's pair, last in the job's relabel_configs.
    EXPECT_TRUE(absl::StrContains(config, "modulus: 3")) << config;
    EXPECT_TRUE(absl::StrContains(config, "action: hashmod")) << config;
    EXPECT_TRUE(absl::StrContains(config, absl::StrCat("regex: \"", k, "\""))) << config;
    EXPECT_TRUE(absl::StrContains(config, "action: keep")) << config;
    // Rules on every shard.
    bool has_rule = false;
    for (const auto& [p, d] : *files) has_rule |= absl::StartsWith(p, "rules/") &&
                                                  absl::StrContains(d, "team_a:rule");
    EXPECT_TRUE(has_rule) << set;
    // Prometheus itself accepts the shard's config.
    if (fs::exists("/usr/bin/promtool")) {
      const fs::path shard_dir = dir_ / set;
      for (const auto& [p, d] : *files) WriteFileAtomically(shard_dir / p, d);
      auto check = ChildProcess::Run(
          {"/usr/bin/promtool", "check", "config", (shard_dir / "prometheus.yml").string()},
          dir_.string(), absl::Seconds(60));
      EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    }
  }
  // A sidecar selecting shard 1 by label gets exactly shard 1's set.
  ASSERT_TRUE(PollUntil([&] {
    auto files = Published("prom-shard-1");
    return files.ok() && Tree(dir_ / "out-side1") == *files;
  }, absl::Seconds(60))) << sidecar.Log();
}

bool HasRule(PrometheusServer& prom, const std::string& name) {
  auto names = prom.RuleNames();
  return names.ok() && std::find(names->begin(), names->end(), name) != names->end();
}

// The whole chain with a real Prometheus: team ConfigMap -> controller ->
// published ConfigMap -> sidecar -> file -> reload -> /api/v1/rules.
TEST_F(ControllerModeTest, ARealPrometheusSeesAChangedRuleThroughTheChain) {
  if (!PrometheusServer::Available()) GTEST_SKIP() << "prometheus not installed";
  auto prom = PrometheusServer::Start({});
  ASSERT_TRUE(prom.ok()) << prom.status();
  PrometheusServer& p = **prom;
  ASSERT_TRUE(Rules("team-a", "team_a:before").ok());
  Replica controller(ControllerConfig("ctl", true), dir_ / "ctl.log");
  Replica sidecar(SidecarConfig("side", 0, p.dir(), p.reload_url()), dir_ / "side.log");
  ASSERT_TRUE(p.WaitFor("team_a:before loaded", [&] { return HasRule(p, "team_a:before"); },
                        absl::Seconds(60))
                  .ok())
      << controller.Log() << sidecar.Log();
  ASSERT_TRUE(Rules("team-a", "team_a:after").ok());
  ASSERT_TRUE(p.WaitFor("team_a:after replaces team_a:before", [&] {
    return HasRule(p, "team_a:after") && !HasRule(p, "team_a:before");
  }, absl::Seconds(60)).ok()) << controller.Log() << sidecar.Log();
}

}  // namespace
}  // namespace promconf
