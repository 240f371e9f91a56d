// Controller mode latency (issue #10 item 7): the real promconf binary as two
// leader-elected controller replicas and one sidecar (output.from_configmap),
// against the fake API server on loopback (TLS, token).
//
// Printed:
//   edit->ConfigMap : a team's rules ConfigMap is updated through the API
//                     until the published ConfigMap holds the new rule
//   edit->file      : ... until the sidecar's rules file on disk holds it
//                     (what a user waits for: no kubelet in the path)
//   failover (KILL) : SIGKILL the leader until a new edit is in the sidecar's
//                     file (lease expiry by observed time + retry + publish)
//   handover (TERM) : SIGTERM the leader until a new edit is in the file (the
//                     lease is released, so no lease_duration wait)
// Lease settings: 2s lease, 1500ms renew deadline, 300ms retry (the e2e
// test's); production defaults (15s/10s/2s) scale the failover figure.
// Usage: controller_bench [edits=200] [failovers=5]

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/kube_apiserver.h"
#include "tests/fakes/test_io.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;

const char kPromconf[] = PROMCONF_BINARY_DIR "/promconf";

struct Replica {
  int port;
  std::unique_ptr<ChildProcess> child;
  bool IsLeader() const {
    return absl::StrContains(HttpGetBody(absl::StrCat("http://127.0.0.1:", port, "/metrics")),
                             "\npromconf_leader 1");
  }
  bool Ready() const {
    return absl::StartsWith(HttpGetBody(absl::StrCat("http://127.0.0.1:", port, "/readyz")), "ok");
  }
};

std::unique_ptr<Replica> StartReplica(const fs::path& config, const fs::path& log) {
  auto r = std::make_unique<Replica>();
  r->port = PickFreeLoopbackPort();
  r->child = std::make_unique<ChildProcess>(
      std::vector<std::string>{kPromconf, "--config.file=" + config.string(),
                               absl::StrCat("--web.listen-address=127.0.0.1:", r->port),
                               "--log.level=warn"},
      log.string(), log.string());
  return r;
}

std::string Rule(const std::string& record) {
  return absl::StrCat("groups:\n- name: bench\n  rules:\n  - record: ", record,
                      "\n    expr: vector(1)\n");
}

void Print(const char* what, std::vector<double> ms) {
  if (ms.empty()) {
    std::printf("%-18s (no samples)\n", what);
    return;
  }
  std::sort(ms.begin(), ms.end());
  auto q = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
  std::printf("%-18s n=%-4zu p50 %8.1f ms   p99 %8.1f ms   max %8.1f ms\n", what, ms.size(),
              q(0.50), q(0.99), ms.back());
}

int Main(int argc, char** argv) {
  const int edits = argc > 1 ? std::atoi(argv[1]) : 200;
  const int failovers = argc > 2 ? std::atoi(argv[2]) : 5;
  char tmpl[] = "/tmp/promconf-controller-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const fs::path dir = tmpl;
  auto api = FakeKubeApiServer::Start({});
  if (!api.ok()) {
    std::fprintf(stderr, "fake API server: %s\n", api.status().ToString().c_str());
    return 1;
  }
  const std::string kubeconfig = (dir / "kubeconfig").string();
  if (!(*api)->WriteKubeconfig(kubeconfig).ok()) return 1;
  // 50 other teams' rules beside the one edited.
  for (int i = 0; i < 50; ++i) {
    (void)(*api)->ApplyConfigMap(absl::StrCat("team-", i), "rules",
                                 {{"promconf.io/fragment", "true"}},
                                 {{"r.rules.yml", Rule(absl::StrCat("team_", i, ":r"))}});
  }
  auto edit = [&](const std::string& record) {
    return (*api)->ApplyConfigMap("bench", "rules", {{"promconf.io/fragment", "true"}},
                                  {{"r.rules.yml", Rule(record)}});
  };
  (void)edit("bench:r0");

  auto controller_config = [&](const std::string& name) {
    const fs::path p = dir / (name + ".yml");
    WriteFileAtomically(p, absl::StrCat(
        "output:\n  dir: ", (dir / ("out-" + name)).string(),
        "\n  configmap: {source: cluster, namespace: monitoring, name: prom}\n"
        "validation:\n  promtool: never\n"
        "leader_election:\n  enabled: true\n  source: cluster\n  namespace: monitoring\n"
        "  name: promconf\n  lease_duration: 2s\n  renew_deadline: 1500ms\n"
        "  retry_period: 300ms\n"
        "sources:\n- name: cluster\n  kubernetes:\n    kubeconfig: ", kubeconfig, "\n"));
    return p;
  };
  const fs::path sidecar_config = dir / "sidecar.yml";
  WriteFileAtomically(sidecar_config, absl::StrCat(
      "output:\n  dir: ", (dir / "out-sidecar").string(),
      "\n  from_configmap: {source: published, namespace: monitoring, name: prom}\n"
      "sources:\n- name: published\n  kubernetes:\n    kubeconfig: ", kubeconfig,
      "\n    namespaces: [monitoring]\n    label_selector: promconf.io/output=prom\n"));

  int replica_counter = 0;
  auto new_replica = [&] {
    const std::string name = absl::StrCat("r", replica_counter++);
    return StartReplica(controller_config(name), dir / (name + ".log"));
  };
  std::vector<std::unique_ptr<Replica>> replicas;
  replicas.push_back(new_replica());
  replicas.push_back(new_replica());
  auto sidecar = StartReplica(sidecar_config, dir / "sidecar.log");

  // The edited fragment's rules file, once the sidecar has written it.
  fs::path rules_file;
  auto find_rules_file = [&] {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir / "out-sidecar/rules", ec)) {
      if (absl::StrContains(ReadWholeFile(e.path().string()), "bench:r0\n")) {
        rules_file = e.path();
        return true;
      }
    }
    return false;
  };
  auto file_has = [&](const std::string& record) {
    return absl::StrContains(ReadWholeFile(rules_file.string()), record + "\n");
  };
  auto published_has = [&](const std::string& record) {
    auto cm = (*api)->GetObjectJson("configmaps", "monitoring", "prom");
    return cm.ok() && absl::StrContains(*cm, record + "\\n");
  };
  if (!PollUntil(find_rules_file, absl::Seconds(120))) {
    std::fprintf(stderr, "the sidecar never wrote the bench rules; logs in %s\n", dir.c_str());
    return 1;
  }
  std::printf("controller mode, fake API server on loopback, %d edits, %d failovers each\n",
              edits, failovers);

  std::vector<double> to_cm, to_file;
  for (int i = 1; i <= edits; ++i) {
    const std::string record = absl::StrCat("bench:r", i);
    const absl::Time start = absl::Now();
    if (!edit(record).ok()) return 1;
    bool cm_seen = false;
    const absl::Time deadline = start + absl::Seconds(30);
    while (absl::Now() < deadline) {
      if (!cm_seen && published_has(record)) {
        cm_seen = true;
        to_cm.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
      }
      if (file_has(record)) {
        to_file.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
        break;
      }
      absl::SleepFor(absl::Microseconds(200));
    }
  }
  Print("edit->ConfigMap", to_cm);
  Print("edit->file", to_file);

  std::vector<double> kill_ms, term_ms;
  int record_n = edits + 1;
  for (int round = 0; round < 2 * failovers; ++round) {
    const bool kill = round % 2 == 0;
    // Both replicas up, one leading, before each round.
    if (!PollUntil([&] {
          return replicas[0]->Ready() && replicas[1]->Ready() &&
                 (replicas[0]->IsLeader() || replicas[1]->IsLeader());
        }, absl::Seconds(60))) {
      std::fprintf(stderr, "no leader; logs in %s\n", dir.c_str());
      return 1;
    }
    const int leader = replicas[0]->IsLeader() ? 0 : 1;
    const absl::Time start = absl::Now();
    replicas[leader]->child->Signal(kill ? SIGKILL : SIGTERM);
    // An edit right after the signal: it reaches the file only through the
    // new leader.
    const std::string record = absl::StrCat("bench:r", record_n++);
    if (!edit(record).ok()) return 1;
    if (!PollUntil([&] { return file_has(record); }, absl::Seconds(60))) {
      std::fprintf(stderr, "no failover; logs in %s\n", dir.c_str());
      return 1;
    }
    (kill ? kill_ms : term_ms).push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    replicas[leader]->child->Wait(absl::Seconds(10));
    replicas[leader] = new_replica();
  }
  Print("failover (KILL)", kill_ms);
  Print("handover (TERM)", term_ms);
  std::printf("(lease 2s, renew deadline 1500ms, retry 300ms x [1, 2.2) jitter)\n");
  replicas.clear();
  sidecar.reset();
  fs::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace promconf

int main(int argc, char** argv) { return promconf::Main(argc, argv); }
