// The product's own figures (issue 11): the real promconf binary on its
// DEFAULT config (validation defaults, promtool auto, a reload URL), one
// source at a time, against the real etcd and ZooKeeper, the fake Consul and
// the fake Kubernetes API server (both spoken to over HTTP, like the real
// ones), and the file source. Beside every latency stands its floor: the
// backend's own write round trip, measured in the same run, so the table shows
// promconf's overhead and not just a number.
//
//   <source>.change_to_file.p50_ms / .p99_ms  write -> rendered rules file
//   <source>.write_rtt.p50_ms / .p99_ms       the write itself (the floor)
//   idle.cpu_percent                          promconf's CPU over 60 s, idle,
//                                             10,000 fragments cached
//   reload.burst_1000_in_1s.reloads           reloads for 1,000 changes made
//                                             within 1 s, min_interval 2s
//
//   etcd.first_render_5000x2KiB.seconds       process start -> first render
//                                             of 5,000 x 2 KiB etcd keys
//
// Usage: product_bench [--iterations=N]
//                      [--only=etcd|zookeeper|consul|kubernetes|file|idle|reload|first-render]
//                      [--idle-seconds=N]

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "bench/bench_report.h"
#include "reconcile/fragment.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/consul_server.h"
#include "tests/fakes/etcd_server.h"
#include "tests/fakes/http_test_server.h"
#include "tests/fakes/kube_apiserver.h"
#include "tests/fakes/zookeeper_server.h"
#include "tests/fakes/test_io.h"
#include "util/http_client.h"
#include "util/json.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;

const char kPromconf[] = PROMCONF_BINARY_DIR "/promconf";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Percentiles {
  double p50 = 0, p99 = 0;
};

Percentiles Summarize(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))]; };
  return {at(0.5), at(0.99)};
}

// Counts POST /-/reload, like a Prometheus with --web.enable-lifecycle.
class ReloadTarget {
 public:
  ReloadTarget() : server_(HttpTestServer::Options{}) {
    server_.Route("POST", "/-/reload", [this](const HttpTestRequest&, HttpTestResponse& resp) {
      reloads_.fetch_add(1);
      resp.Send(200, "text/plain", "");
    });
  }
  absl::Status Start() { return server_.Start(); }
  std::string url() const { return server_.url() + "/-/reload"; }
  int reloads() const { return reloads_.load(); }

 private:
  HttpTestServer server_;
  std::atomic<int> reloads_{0};
};

// One promconf child on a config: the default settings but for the output
// folder, the reload URL and `source_yaml`.
class Daemon {
 public:
  Daemon(const fs::path& dir, const std::string& source_yaml, const std::string& reload_url,
         const std::string& extra = "")
      : dir_(dir), port_(PickFreeLoopbackPort()) {
    std::ofstream(dir / "promconf.yml") << "output:\n  dir: " << (dir / "out").string() << "\nreload:\n  url: "
                                        << reload_url << "\n"
                                        << extra << "sources:\n"
                                        << source_yaml;
    child_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{kPromconf, "--config.file=" + (dir / "promconf.yml").string(),
                                 absl::StrCat("--web.listen-address=127.0.0.1:", port_), "--log.level=warn"},
        (dir / "promconf.log").string(), (dir / "promconf.log").string());
  }
  ~Daemon() {
    child_->Signal(SIGTERM);
    child_->Wait(absl::Seconds(20));
  }
  bool WaitReady(absl::Duration timeout) {
    return PollUntil(
        [&] {
          HttpClient http;
          HttpRequest req;
          req.url = absl::StrCat("http://127.0.0.1:", port_, "/readyz");
          req.timeout = absl::Seconds(2);
          auto r = http.Do(req);
          return r.ok() && r->status == 200;
        },
        timeout);
  }
  fs::path out() const { return dir_ / "out"; }
  std::string log() const { return ReadFile(dir_ / "promconf.log"); }
  // utime + stime of the child, in seconds.
  double CpuSeconds() const {
    const std::string pid = FirstPid();
    std::string stat = ReadFile("/proc/" + pid + "/stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return -1;
    std::vector<std::string> f = absl::StrSplit(stat.substr(paren + 2), ' ');
    double ut = 0, st = 0;
    if (f.size() < 13 || !absl::SimpleAtod(f[11], &ut) || !absl::SimpleAtod(f[12], &st)) return -1;
    return (ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  double RssMiB() const {
    std::string status = ReadFile("/proc/" + FirstPid() + "/status");
    size_t at = status.find("VmRSS:");
    if (at == std::string::npos) return -1;
    double kb = 0;
    std::string line = status.substr(at + 6, status.find('\n', at) - at - 6);
    absl::SimpleAtod(absl::StripAsciiWhitespace(absl::StripSuffix(absl::StripAsciiWhitespace(line), "kB")), &kb);
    return kb / 1024;
  }

 private:
  // The promconf process: the child's pid is its process group.
  std::string FirstPid() const {
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
      std::string cmd = ReadFile(e.path() / "cmdline");
      if (absl::StrContains(cmd, (dir_ / "promconf.yml").string())) return name;
    }
    return "self";
  }

  fs::path dir_;
  int port_;
  std::unique_ptr<ChildProcess> child_;
};

// One source kind: how to write a document, and the source's YAML.
struct Backend {
  std::string name;
  std::function<absl::Status(const std::string& doc, const std::string& data)> put;
  std::string source_yaml;
  std::string source_name;
  std::string doc_prefix;  // what the source puts before a document's name
  std::shared_ptr<void> keep;
};

absl::Status HttpPut(const std::string& url, const std::string& body,
                     std::vector<std::pair<std::string, std::string>> headers = {},
                     const std::string& method = "PUT") {
  static HttpClient* http = new HttpClient();  // one keep-alive connection, like a client library
  HttpRequest req;
  req.method = method;
  req.url = url;
  req.body = body;
  req.headers = std::move(headers);
  req.timeout = absl::Seconds(10);
  auto r = http->Do(req);
  if (!r.ok()) return r.status();
  if (r->status == 404) return absl::NotFoundError(url);
  if (r->status / 100 != 2) return absl::InternalError(absl::StrCat(url, ": HTTP ", r->status, ": ", r->body));
  return absl::OkStatus();
}

absl::StatusOr<Backend> MakeBackend(const std::string& name, const fs::path& dir) {
  Backend b;
  b.name = name;
  if (name == "etcd") {
    auto s = EtcdServer::Start();
    if (!s.ok()) return s.status();
    std::shared_ptr<EtcdServer> etcd = std::move(*s);
    b.put = [etcd](const std::string& doc, const std::string& data) { return etcd->Put("/promconf/" + doc, data); };
    b.source_yaml = absl::StrCat("- name: kv\n  etcd:\n    endpoints: [", etcd->endpoint(), "]\n    prefix: /promconf/\n");
    b.source_name = "kv";
    b.keep = etcd;
  } else if (name == "zookeeper") {
    auto s = ZookeeperServer::Start();
    if (!s.ok()) return s.status();
    std::shared_ptr<ZookeeperServer> zk = std::move(*s);
    b.put = [zk](const std::string& doc, const std::string& data) { return zk->Put("/promconf/" + doc, data); };
    b.source_yaml = absl::StrCat("- name: zk\n  zookeeper:\n    servers: [", zk->address(), "]\n    paths: [/promconf]\n");
    b.source_name = "zk";
    b.keep = zk;
  } else if (name == "consul") {
    auto s = FakeConsulServer::Start({});
    if (!s.ok()) return s.status();
    std::shared_ptr<FakeConsulServer> consul = std::move(*s);
    const std::string base = consul->address();
    b.put = [base](const std::string& doc, const std::string& data) {
      return HttpPut(base + "/v1/kv/promconf/" + doc, data);
    };
    b.source_yaml = absl::StrCat("- name: consul\n  consul:\n    address: ", base, "\n    kv_prefix: promconf/\n");
    b.source_name = "consul";
    b.keep = consul;
  } else if (name == "kubernetes") {
    FakeKubeApiServer::Options o;
    o.tls = false;
    o.bookmark_interval = absl::Seconds(60);
    auto s = FakeKubeApiServer::Start(o);
    if (!s.ok()) return s.status();
    std::shared_ptr<FakeKubeApiServer> api = std::move(*s);
    const std::string kubeconfig = (dir / "kubeconfig").string();
    if (absl::Status st = api->WriteKubeconfig(kubeconfig); !st.ok()) return st;
    const std::string url = api->url();
    b.put = [url](const std::string& doc, const std::string& data) {
      // doc: "<configmap>.<key>"; one ConfigMap per fragment, as teams do.
      const std::string cm = absl::StrReplaceAll(doc.substr(0, doc.find('.')), {{"_", "-"}});
      std::string body = absl::StrCat(
          R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")", cm,
          R"(","namespace":"team","labels":{"promconf.io/fragment":"true"}},"data":{)", JsonString(doc), ":",
          JsonString(data), "}}");
      const std::vector<std::pair<std::string, std::string>> headers = {
          {"Authorization", "Bearer test-token"}, {"Content-Type", "application/json"}};
      absl::Status s = HttpPut(absl::StrCat(url, "/api/v1/namespaces/team/configmaps/", cm), body, headers);
      if (absl::IsNotFound(s)) {  // the first write creates it, as kubectl apply would
        s = HttpPut(absl::StrCat(url, "/api/v1/namespaces/team/configmaps"), body, headers, "POST");
      }
      return s;
    };
    b.source_yaml = absl::StrCat("- name: cluster\n  kubernetes:\n    kubeconfig: ", kubeconfig, "\n");
    b.source_name = "cluster";
    b.doc_prefix = "team/bench/";
    b.keep = api;
  } else if (name == "file") {
    const fs::path frag = dir / "fragments";
    fs::create_directories(frag);
    b.put = [frag](const std::string& doc, const std::string& data) {
      WriteFileAtomically(frag / doc, data);
      return absl::OkStatus();
    };
    b.source_yaml = absl::StrCat("- name: local\n  file:\n    paths: [", frag.string(), "]\n");
    b.source_name = "local";
  } else {
    return absl::InvalidArgumentError("unknown backend " + name);
  }
  return b;
}

std::string RuleFile(const std::string& group, const std::string& record) {
  return absl::StrCat("groups:\n- name: ", group, "\n  rules:\n  - record: ", record, "\n    expr: sum(up)\n");
}

int ChangeToFile(const std::string& name, int iterations, ReloadTarget* reload) {
  char tmpl[] = "/tmp/promconf-product-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const fs::path dir = tmpl;
  absl::StatusOr<Backend> b = MakeBackend(name, dir);
  if (!b.ok()) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), b.status().ToString().c_str());
    return 1;
  }
  // Other teams' fragments beside the one that changes.
  const std::string doc = "bench.rules.yml";
  for (int i = 0; i <= 50; ++i) {
    absl::Status s = i < 50 ? b->put(absl::StrCat("team", i, ".rules.yml"), RuleFile(absl::StrCat("team", i), "team:up"))
                            : b->put(doc, RuleFile("bench", "bench:start"));
    if (!s.ok()) {
      std::fprintf(stderr, "%s: write: %s\n", name.c_str(), s.ToString().c_str());
      return 1;
    }
  }
  Daemon daemon(dir, b->source_yaml, reload->url());
  if (!daemon.WaitReady(absl::Seconds(60))) {
    std::fprintf(stderr, "%s: promconf not ready:\n%s\n", name.c_str(), daemon.log().c_str());
    return 1;
  }
  const fs::path file = daemon.out() / RulesOutputPath(b->source_name, b->doc_prefix + doc);
  std::vector<double> to_file, rtt;
  int timeouts = 0;
  for (int i = -10; i < iterations; ++i) {
    const std::string marker = absl::StrCat("bench:v", i + 1000);
    const absl::Time t0 = absl::Now();
    if (absl::Status s = b->put(doc, RuleFile("bench", marker)); !s.ok()) {
      std::fprintf(stderr, "%s: write: %s\n", name.c_str(), s.ToString().c_str());
      return 1;
    }
    const absl::Time acked = absl::Now();
    absl::Time seen = absl::InfinitePast();
    while (absl::Now() - t0 < absl::Seconds(10)) {
      if (ReadFile(file).find(marker) != std::string::npos) {
        seen = absl::Now();
        break;
      }
      absl::SleepFor(absl::Microseconds(100));
    }
    // Consul's source reads at most every 100 ms per dependency (no busy
    // loop): space its changes so each is timed alone.
    if (name == "consul") absl::SleepFor(absl::Milliseconds(120));
    if (i < 0) continue;
    if (seen == absl::InfinitePast()) {
      ++timeouts;
      continue;
    }
    to_file.push_back(absl::ToDoubleMilliseconds(seen - t0));
    rtt.push_back(absl::ToDoubleMilliseconds(acked - t0));
  }
  const Percentiles f = Summarize(to_file), w = Summarize(rtt);
  std::printf("%-11s change->file p50 %8.2f ms  p99 %8.2f ms   | write rtt p50 %6.2f ms  p99 %6.2f ms  (%zu changes, %d timeouts)\n",
              name.c_str(), f.p50, f.p99, w.p50, w.p99, to_file.size(), timeouts);
  BenchResult(name + ".change_to_file.p50_ms", f.p50);
  BenchResult(name + ".change_to_file.p99_ms", f.p99);
  BenchResult(name + ".write_rtt.p50_ms", w.p50);
  BenchResult(name + ".write_rtt.p99_ms", w.p99);
  if (timeouts > 0) std::fprintf(stderr, "%s: log:\n%s\n", name.c_str(), daemon.log().c_str());
  std::error_code ec;
  fs::remove_all(dir, ec);
  return timeouts == 0 ? 0 : 1;
}

// Idle CPU: 10,000 fragments cached (file source), nothing changing.
int Idle(int seconds, ReloadTarget* reload) {
  char tmpl[] = "/tmp/promconf-product-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const fs::path dir = tmpl;
  for (int i = 0; i < 10000; ++i) {
    const fs::path p = dir / "fragments" / absl::StrCat("team-", i % 100) / absl::StrCat("f", i, ".rules.yml");
    fs::create_directories(p.parent_path());
    std::ofstream(p) << RuleFile(absl::StrCat("g", i), absl::StrCat("team:r", i));
  }
  Daemon daemon(dir, absl::StrCat("- name: local\n  file:\n    paths: [", (dir / "fragments").string(), "]\n"),
                reload->url());
  const absl::Time start = absl::Now();
  if (!daemon.WaitReady(absl::Seconds(120))) {
    std::fprintf(stderr, "idle: promconf not ready:\n%s\n", daemon.log().c_str());
    return 1;
  }
  const double ready_s = absl::ToDoubleSeconds(absl::Now() - start);
  absl::SleepFor(absl::Seconds(2));  // let the first reload and writes finish
  const double cpu0 = daemon.CpuSeconds();
  absl::SleepFor(absl::Seconds(seconds));
  const double cpu1 = daemon.CpuSeconds();
  const double pct = 100.0 * (cpu1 - cpu0) / seconds;
  std::printf("idle       10,000 rule fragments (file source): ready after %.2f s, RSS %.1f MiB, CPU %.3f %% of a core over %d s\n",
              ready_s, daemon.RssMiB(), pct, seconds);
  BenchResult("file.initial_sync_10000.seconds", ready_s);
  BenchResult("idle.rss_10000_fragments_mib", daemon.RssMiB());
  BenchResult("idle.cpu_percent", pct);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}

// First render of 5,000 etcd keys of ~2 KiB each (issue 9's comparison with
// confd, whose figure on this machine was 0.46 s): promconf started on the
// default config until /readyz says the first render is written.
int EtcdFirstRender(ReloadTarget* reload) {
  char tmpl[] = "/tmp/promconf-product-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const fs::path dir = tmpl;
  absl::StatusOr<Backend> b = MakeBackend("etcd", dir);
  if (!b.ok()) return 1;
  const std::string pad(1900, '#');
  for (int i = 0; i < 5000; ++i) {
    const std::string rule = absl::StrCat("# ", pad, "\n", RuleFile(absl::StrCat("g", i), absl::StrCat("team:r", i)));
    if (!b->put(absl::StrCat("team-", i % 50, "/f", i, ".rules.yml"), rule).ok()) return 1;
  }
  const absl::Time start = absl::Now();
  Daemon daemon(dir, b->source_yaml, reload->url());
  if (!daemon.WaitReady(absl::Seconds(120))) return 1;
  const double s = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("etcd       first render of 5,000 x 2 KiB keys (process start to /readyz): %.2f s, RSS %.1f MiB\n", s,
              daemon.RssMiB());
  BenchResult("etcd.first_render_5000x2KiB.seconds", s);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}

// 1,000 changes within 1 s at reload.min_interval 2s: how many reloads?
int ReloadBurst() {
  char tmpl[] = "/tmp/promconf-product-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const fs::path dir = tmpl;
  ReloadTarget target;
  if (!target.Start().ok()) return 1;
  const fs::path frag = dir / "fragments";
  WriteFileAtomically(frag / "burst.rules.yml", RuleFile("burst", "burst:v0"));
  Daemon daemon(dir, absl::StrCat("- name: local\n  file:\n    paths: [", frag.string(), "]\n"), target.url(),
                "");
  if (!daemon.WaitReady(absl::Seconds(60))) return 1;
  // Past the first render's reload and its min_interval.
  absl::SleepFor(absl::Seconds(3));
  const int before = target.reloads();
  const absl::Time start = absl::Now();
  int changes = 0;
  for (int i = 1; i <= 1000 && absl::Now() - start < absl::Seconds(1); ++i) {
    WriteFileAtomically(frag / "burst.rules.yml", RuleFile("burst", absl::StrCat("burst:v", i)));
    ++changes;
  }
  const double burst_s = absl::ToDoubleSeconds(absl::Now() - start);
  // Everything settles within min_interval after the burst, plus margin.
  absl::SleepFor(absl::Seconds(5));
  const int reloads = target.reloads() - before;
  const bool last_applied = absl::StrContains(ReadFile(daemon.out() / "rules/local_burst.yml"),
                                              absl::StrCat("burst:v", changes));
  std::printf("reload     %d changes in %.2f s at min_interval 2s: %d reloads (last change in the output: %s)\n",
              changes, burst_s, reloads, last_applied ? "yes" : "NO");
  BenchResult("reload.burst_changes", changes);
  BenchResult("reload.burst_1000_in_1s.reloads", reloads);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return last_applied ? 0 : 1;
}

int Main(int argc, char** argv) {
  int iterations = 200, idle_seconds = 60;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a(argv[i]);
    if (absl::ConsumePrefix(&a, "--iterations=")) (void)absl::SimpleAtoi(a, &iterations);
    else if (absl::ConsumePrefix(&a, "--idle-seconds=")) (void)absl::SimpleAtoi(a, &idle_seconds);
    else if (absl::ConsumePrefix(&a, "--only=")) only = std::string(a);
  }
  signal(SIGPIPE, SIG_IGN);
  ReloadTarget reload;
  if (!reload.Start().ok()) return 1;
  std::printf("promconf on its default config (validation defaults, promtool %s, reload URL set)\n",
              system("command -v promtool >/dev/null 2>&1") == 0 ? "auto: installed" : "auto: not installed");
  int rc = 0;
  for (const char* name : {"etcd", "zookeeper", "consul", "kubernetes", "file"}) {
    if (only.empty() || only == name) rc |= ChangeToFile(name, iterations, &reload);
  }
  if (only.empty() || only == "reload") rc |= ReloadBurst();
  if (only.empty() || only == "first-render") rc |= EtcdFirstRender(&reload);
  if (only.empty() || only == "idle") rc |= Idle(idle_seconds, &reload);
  return rc;
}

}  // namespace
}  // namespace promconf

int main(int argc, char** argv) { return promconf::Main(argc, argv); }
