// The soak: the real promconf binary over every source at once — the fake
// Kubernetes API server, a real etcd, a real ZooKeeper, the fake Consul and a
// file-source folder — with a real Prometheus as the reload target. For the
// run's duration one thread makes random writes, deletes, renames and bad
// fragments and injects faults (etcd killed and restarted or wiped,
// ZooKeeper restarted, promconf's ZooKeeper session expired, the API
// server's 410s, dropped and stalled watches and failed requests, Consul's
// index resets, failures and dropped connections, Prometheus stopped and
// started). When the churn stops, the expected output is computed from what
// the soak last wrote to each backend — through the documented naming rules
// (reconcile/fragment.h's RulesOutputPath/TargetsOutputPath) and the soak's
// own knowledge of which fragments it made bad, never through promconf's
// renderer — and promconf's output dir must match it within a bounded settle
// time, compared semantically (parsed YAML/JSON, not bytes). Also: promconf
// never died and exits 0 on SIGTERM, its fds/threads/RSS stay bounded, every
// bad fragment is "rejected" on /debug/fragments (and every good one
// "accepted"), and Prometheus' last reload succeeded with the expected rules
// and jobs loaded.
//
//   soak [--seed=N] [--seconds=S] [--settle_seconds=S] [--keep]
//   (env SOAK_SEED / SOAK_SECONDS are read when the flags are absent)
//
// The sequence of operations and faults is a function of the seed; their
// timing against promconf's threads is not. Exit 0 on success, 1 on failure
// (the seed and the first difference printed), 77 when a server binary is
// missing.

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "reconcile/fragment.h"
#include "simdjson.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/consul_server.h"
#include "tests/fakes/etcd_server.h"
#include "tests/fakes/kube_apiserver.h"
#include "tests/fakes/prometheus_server.h"
#include "tests/fakes/zookeeper_server.h"
#include "tests/fakes/test_io.h"
#include "util/http_client.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;

const char kPromconf[] = PROMCONF_BINARY_DIR "/promconf";

// Generous bounds on promconf's footprint over the whole run.
constexpr int kMaxFds = 200;
constexpr int kMaxThreads = 64;
#if defined(__SANITIZE_ADDRESS__)
#define PROMCONF_SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROMCONF_SOAK_ASAN 1
#endif
#endif
#ifdef PROMCONF_SOAK_ASAN
// The soak is built like promconf: under ASan, promconf's RSS holds ASan's
// 256 MiB quarantine of freed memory and its shadow (332 MiB seen in 2 min).
constexpr int64_t kMaxRssKiB = 1024 * 1024;
#else
constexpr int64_t kMaxRssKiB = 300 * 1024;
#endif

// The sources back off up to 30 s (client-go's reflector, etcd, Consul), and
// a fault at the churn's end may cost three such periods (a backoff already
// under way, then up to two injected failures of the next requests), so the
// bound is 120 s; the settle time measured is what the report shows.
struct Flags {
  uint64_t seed = 0;
  int seconds = 120;
  int settle_seconds = 120;
  bool keep = false;
};

void Say(const std::string& line) {
  std::fprintf(stdout, "soak: %s\n", line.c_str());
  std::fflush(stdout);
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(s.size() - n);
}

// --- the model: what the soak last wrote to each backend ------------------

enum class Kind { kRules, kScrape, kTargets };

Kind KindOf(const std::string& name) {
  if (absl::EndsWith(name, ".rules.yml")) return Kind::kRules;
  if (absl::EndsWith(name, ".scrape.yml")) return Kind::kScrape;
  return Kind::kTargets;
}

struct Doc {
  std::string data;
  bool bad = false;
  // Good fragments: what the output must contain. Rules: record/alert names;
  // scrape: job names; targets: the value of the soak_gen label.
  std::set<std::string> names;
};

struct Backend {
  explicit Backend(std::string s) : source(std::move(s)) {}
  std::string source;  // promconf's source name
  std::vector<std::string> good_names, bad_names;
  std::map<std::string, Doc> docs;  // document name -> last written
};

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(gen_) < p; }
  absl::Duration Millis(int lo, int hi) { return absl::Milliseconds(Int(lo, hi)); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Int(0, static_cast<int>(v.size()) - 1)];
  }

 private:
  std::mt19937_64 gen_;
};

// Good fragments, valid for Prometheus 2.42; every generation number is
// global, so job names never collide between documents.
Doc GoodDoc(Kind kind, uint64_t gen, Rng& rng) {
  Doc d;
  switch (kind) {
    case Kind::kRules: {
      d.data = absl::StrCat("groups:\n- name: soak_g", gen, "\n  rules:\n");
      const int n = rng.Int(1, 3);
      for (int i = 0; i < n; ++i) {
        if (i == 1) {
          const std::string alert = absl::StrCat("SoakAlert", gen);
          absl::StrAppend(&d.data, "  - alert: ", alert, "\n    expr: vector(1) > 2\n",
                          "    for: 1m\n    labels:\n      severity: none\n");
          d.names.insert(alert);
        } else {
          const std::string record = absl::StrCat("soak:r", gen, ":", i);
          absl::StrAppend(&d.data, "  - record: ", record, "\n    expr: vector(", i + 1, ")\n");
          d.names.insert(record);
        }
      }
      break;
    }
    case Kind::kScrape: {
      auto job = [&](const std::string& name, const std::string& indent) {
        d.names.insert(name);
        return absl::StrCat("job_name: ", name, "\n", indent, "scrape_interval: 60s\n", indent,
                            "static_configs:\n", indent, "- targets: ['127.0.0.1:9']\n");
      };
      if (rng.Chance(0.3)) {
        d.data = absl::StrCat("- ", job(absl::StrCat("soak_", gen, "_a"), "  "), "- ",
                              job(absl::StrCat("soak_", gen, "_b"), "  "));
      } else {
        d.data = job(absl::StrCat("soak_", gen), "");
      }
      break;
    }
    case Kind::kTargets:
      d.data = absl::StrCat(R"([{"targets": ["127.0.0.1:9", "127.0.0.1:)", 10000 + gen % 1000,
                            R"("], "labels": {"soak_gen": ")", gen, "\"}}]\n");
      d.names.insert(absl::StrCat(gen));
      break;
  }
  return d;
}

// Bad fragments, each rejected by promconf for a documented reason.
Doc BadDoc(Kind kind, uint64_t gen, Rng& rng) {
  Doc d;
  d.bad = true;
  if (rng.Chance(0.4)) {
    d.data = absl::StrCat("groups: [\n- name: soak_bad", gen, "\n  rules: {record: x\n");
  } else if (kind == Kind::kRules) {
    d.data = absl::StrCat("groups:\n- name: soak_bad", gen, "\n  rules:\n  - alert: SoakBad", gen,
                          "\n    expr: vector(1)\n    for: soon\n");
  } else {
    d.data = absl::StrCat("job_name: soak_bad", gen, "\nbogus_key: 1\nstatic_configs:\n",
                          "- targets: ['127.0.0.1:9']\n");
  }
  return d;
}

// --- /proc sampling -------------------------------------------------------

struct Range {
  int64_t min = INT64_MAX, max = INT64_MIN;
  void Add(int64_t v) {
    min = std::min(min, v);
    max = std::max(max, v);
  }
  std::string Str() const { return min > max ? "n/a" : absl::StrCat(min, "..", max); }
};

class Sampler {
 public:
  explicit Sampler(pid_t pid) : pid_(pid), thread_([this] { Run(); }) {}
  ~Sampler() { Stop(); }
  void Stop() {
    {
      absl::MutexLock l(&mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  bool dead() const { return dead_.load(); }
  void Get(Range* fds, Range* threads, Range* rss_kib, int* samples) {
    absl::MutexLock l(&mu_);
    *fds = fds_;
    *threads = threads_;
    *rss_kib = rss_;
    *samples = samples_;
  }

 private:
  void Run() {
    const std::string proc = absl::StrCat("/proc/", pid_);
    // Bounded by the run: Stop() ends it within a second.
    for (;;) {
      SampleOnce(proc);
      absl::MutexLock l(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Seconds(1))) return;
    }
  }
  void SampleOnce(const std::string& proc) {
    const std::string stat = ReadWholeFile(proc + "/stat");
    // "pid (comm) S ...": the state follows the last ')'.
    const size_t paren = stat.rfind(')');
    if (stat.empty() || paren == std::string::npos || paren + 2 >= stat.size() ||
        stat[paren + 2] == 'Z' || stat[paren + 2] == 'X') {
      dead_ = true;
      return;
    }
    int64_t threads = -1, rss = -1;
    for (absl::string_view line : absl::StrSplit(ReadWholeFile(proc + "/status"), '\n')) {
      std::vector<absl::string_view> f =
          absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (f.size() < 2) continue;
      if (f[0] == "Threads:") (void)absl::SimpleAtoi(f[1], &threads);
      if (f[0] == "VmRSS:") (void)absl::SimpleAtoi(f[1], &rss);
    }
    int64_t fds = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(proc + "/fd", ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      ++fds;
    }
    absl::MutexLock l(&mu_);
    if (ec) return;
    fds_.Add(fds);
    if (threads >= 0) threads_.Add(threads);
    if (rss >= 0) rss_.Add(rss);
    ++samples_;
  }

  const pid_t pid_;
  std::atomic<bool> dead_{false};
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Range fds_ ABSL_GUARDED_BY(mu_), threads_ ABSL_GUARDED_BY(mu_), rss_ ABSL_GUARDED_BY(mu_);
  int samples_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// --- reading promconf's output ---------------------------------------------

// Semantic reading with yaml-cpp; its exceptions stop here.
std::optional<YAML::Node> LoadYaml(const std::string& text, std::string* error) {
  try {
    return YAML::Load(text);
  } catch (const std::exception& e) {
    *error = e.what();
    return std::nullopt;
  }
}

std::string Scalar(const YAML::Node& n) {
  try {
    return n && n.IsScalar() ? n.as<std::string>() : std::string();
  } catch (const std::exception&) {
    return "";
  }
}

// What one output file holds, in the terms of Doc::names; an error string
// when it does not parse.
std::set<std::string> NamesInRuleFile(const std::string& text, std::string* error) {
  std::set<std::string> names;
  std::optional<YAML::Node> root = LoadYaml(text, error);
  if (!root.has_value()) return names;
  const YAML::Node groups = (*root)["groups"];
  if (!groups.IsSequence()) {
    *error = "no groups: list";
    return names;
  }
  for (const YAML::Node& g : groups) {
    const YAML::Node rules = g["rules"];
    if (!rules.IsSequence()) continue;
    for (const YAML::Node& r : rules) {
      if (r["record"]) names.insert(Scalar(r["record"]));
      if (r["alert"]) names.insert(Scalar(r["alert"]));
    }
  }
  return names;
}

std::set<std::string> GensInTargetsFile(const std::string& text, std::string* error) {
  std::set<std::string> gens;
  std::optional<YAML::Node> root = LoadYaml(text, error);  // JSON is YAML
  if (!root.has_value()) return gens;
  if (!root->IsSequence()) {
    *error = "not a list of target groups";
    return gens;
  }
  for (const YAML::Node& g : *root) gens.insert(Scalar(g["labels"]["soak_gen"]));
  return gens;
}

std::string SetStr(const std::set<std::string>& s) { return "{" + absl::StrJoin(s, ", ") + "}"; }

struct Expected {
  std::map<std::string, std::set<std::string>> rules;    // output path -> names
  std::map<std::string, std::set<std::string>> targets;  // output path -> gens
  std::set<std::string> jobs;
  std::set<std::string> rule_names;  // union of rules' names
  // {source, document}
  std::vector<std::pair<std::string, std::string>> good, bad;
};

Expected Expect(const std::vector<Backend*>& backends, std::string* problem) {
  Expected e;
  for (const Backend* b : backends) {
    for (const auto& [name, doc] : b->docs) {
      if (doc.bad) {
        e.bad.emplace_back(b->source, name);
        continue;
      }
      e.good.emplace_back(b->source, name);
      switch (KindOf(name)) {
        case Kind::kRules: {
          const std::string path = RulesOutputPath(b->source, name);
          if (e.rules.count(path) != 0) *problem = "two documents map to " + path;
          e.rules[path] = doc.names;
          e.rule_names.insert(doc.names.begin(), doc.names.end());
          break;
        }
        case Kind::kTargets: {
          const std::string path = TargetsOutputPath(b->source, name);
          if (e.targets.count(path) != 0) *problem = "two documents map to " + path;
          e.targets[path] = doc.names;
          break;
        }
        case Kind::kScrape:
          e.jobs.insert(doc.names.begin(), doc.names.end());
          break;
      }
    }
  }
  return e;
}

// The first difference between promconf's output dir and `e`, or "".
std::string FirstDifference(const fs::path& out, const Expected& e) {
  for (const char* sub : {"rules", "targets"}) {
    const auto& want = std::string(sub) == "rules" ? e.rules : e.targets;
    std::set<std::string> have;
    std::error_code ec;
    for (auto it = fs::directory_iterator(out / sub, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.empty() || name[0] == '.') continue;  // promconf's temp files
      have.insert(absl::StrCat(sub, "/", name));
    }
    for (const std::string& p : have) {
      if (want.count(p) == 0) return absl::StrCat(p, ": present, not expected");
    }
    for (const auto& [path, names] : want) {
      if (have.count(path) == 0) return absl::StrCat(path, ": missing; expected ", SetStr(names));
      const std::string text = ReadWholeFile((out / path).string());
      std::string error;
      const std::set<std::string> got = std::string(sub) == "rules"
                                            ? NamesInRuleFile(text, &error)
                                            : GensInTargetsFile(text, &error);
      if (!error.empty()) return absl::StrCat(path, ": does not parse: ", error, "\n", text);
      if (got != names) {
        return absl::StrCat(path, ": has ", SetStr(got), ", expected ", SetStr(names), "\n", text);
      }
    }
  }
  const std::string text = ReadWholeFile((out / "prometheus.yml").string());
  std::string error;
  std::optional<YAML::Node> root = LoadYaml(text, &error);
  if (!root.has_value()) return "prometheus.yml: does not parse: " + error;
  std::set<std::string> jobs;
  if ((*root)["scrape_configs"].IsSequence()) {
    for (const YAML::Node& sc : (*root)["scrape_configs"]) jobs.insert(Scalar(sc["job_name"]));
  }
  if (jobs != e.jobs) {
    std::vector<std::string> extra, missing;
    std::set_difference(jobs.begin(), jobs.end(), e.jobs.begin(), e.jobs.end(),
                        std::back_inserter(extra));
    std::set_difference(e.jobs.begin(), e.jobs.end(), jobs.begin(), jobs.end(),
                        std::back_inserter(missing));
    return absl::StrCat("prometheus.yml: job names differ: unexpected {",
                        absl::StrJoin(extra, ", "), "}, missing {", absl::StrJoin(missing, ", "),
                        "}");
  }
  return "";
}

// Every bad fragment "rejected" and every good one "accepted" on
// /debug/fragments; the first exception, or "".
std::string CheckDebugFragments(const std::string& body, const Expected& e) {
  if (body.empty()) return "/debug/fragments: no answer";
  std::map<std::pair<std::string, std::string>, std::string> status;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body).get(root) != simdjson::SUCCESS || !root.is_array()) {
    return "/debug/fragments: not a JSON array";
  }
  for (simdjson::dom::element f : root.get_array()) {
    std::string_view source, document, st;
    if (f["source"].get(source) || f["document"].get(document) || f["status"].get(st)) continue;
    status[{std::string(source), std::string(document)}] = std::string(st);
  }
  for (const auto& [want, list] : {std::pair{"rejected", &e.bad}, std::pair{"accepted", &e.good}}) {
    for (const auto& key : *list) {
      auto it = status.find(key);
      const std::string got = it == status.end() ? "absent" : it->second;
      if (got != want) {
        return absl::StrCat("/debug/fragments: ", key.first, " ", key.second, " is ", got,
                            ", expected ", want);
      }
    }
  }
  return "";
}

// Prometheus' last reload succeeded and it runs exactly the expected rules
// and jobs (so the reload that counted carried the final output).
std::string CheckPrometheus(PrometheusServer& p, const Expected& e) {
  absl::StatusOr<bool> ok = p.LastReloadSuccessful();
  if (!ok.ok()) return "prometheus: runtimeinfo: " + ok.status().ToString();
  if (!*ok) return "prometheus: last reload failed";
  absl::StatusOr<std::vector<std::string>> names = p.RuleNames();
  if (!names.ok()) return "prometheus: rules: " + names.status().ToString();
  const std::set<std::string> loaded(names->begin(), names->end());
  if (loaded != e.rule_names) {
    return absl::StrCat("prometheus: loaded ", loaded.size(), " rules, expected ",
                        e.rule_names.size());
  }
  absl::StatusOr<std::string> config = p.Config();
  if (!config.ok()) return "prometheus: config: " + config.status().ToString();
  for (const std::string& job : e.jobs) {
    // The config comes as a JSON string: lines end in an escaped \n.
    if (!absl::StrContains(*config, absl::StrCat("job_name: ", job, "\\n"))) {
      return "prometheus: running config lacks job " + job;
    }
  }
  return "";
}

// --- the run -----------------------------------------------------------------

// Set by Fail: the run's directory (promconf's log and config, the ZooKeeper
// client's log) stays for a post-mortem.
bool g_failed = false;

int Fail(const Flags& flags, const std::string& what, const std::string& promconf_log) {
  g_failed = true;
  std::fprintf(stdout, "soak: promconf log (tail):\n%s\n", Tail(promconf_log, 6000).c_str());
  std::fprintf(stdout, "soak: FAILED (seed=%" PRIu64 "): %s\n", flags.seed, what.c_str());
  std::fprintf(stdout,
               "soak: reproduce with: soak --seed=%" PRIu64 " --seconds=%d --settle_seconds=%d\n",
               flags.seed, flags.seconds, flags.settle_seconds);
  std::fflush(stdout);
  return 1;
}

int Run(const Flags& flags) {
  if (!PrometheusServer::Available() || !fs::exists("/usr/bin/etcd")) {
    Say("prometheus or etcd not installed: skipped");
    return 77;
  }
  Rng rng(flags.seed);
  char tmpl[] = "/tmp/promconf-soak-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return Fail(flags, "mkdtemp", "");
  const fs::path dir = tmpl;
  struct Cleanup {
    fs::path dir;
    bool keep;
    ~Cleanup() {
      std::error_code ec;
      if (!keep && !g_failed) fs::remove_all(dir, ec);
      if (g_failed) Say("kept " + dir.string());
    }
  } cleanup{dir, flags.keep};
  Say(absl::StrCat("dir ", dir.string(), (flags.keep ? " (kept)" : "")));
  // The ZooKeeper fixture's client logs every refused connection to stderr;
  // a soak restarts the server on purpose, so that goes to a file.
  FILE* zk_log = std::fopen((dir / "zookeeper-client.log").c_str(), "a");
  if (zk_log != nullptr) zoo_set_log_stream(zk_log);

  // --- servers (started from this thread, which outlives them) ---
  if (flags.keep) setenv("PROMCONF_KEEP_TEST_DIRS", "1", 1);  // Prometheus' dir too
  auto api = FakeKubeApiServer::Start({});
  if (!api.ok()) return Fail(flags, "fake API server: " + api.status().ToString(), "");
  auto etcd = EtcdServer::Start();
  if (!etcd.ok()) return Fail(flags, "etcd: " + etcd.status().ToString(), "");
  auto zk = ZookeeperServer::Start();
  if (!zk.ok()) return Fail(flags, "zookeeper: " + zk.status().ToString(), "");
  auto consul = FakeConsulServer::Start({});
  if (!consul.ok()) return Fail(flags, "fake Consul: " + consul.status().ToString(), "");
  PrometheusServer::Options popts;
  popts.config_yaml = "global:\n  scrape_interval: 30s\n  evaluation_interval: 30s\n";
  auto prom = PrometheusServer::Start(popts);
  if (!prom.ok()) return Fail(flags, "prometheus: " + prom.status().ToString(), "");
  FakeKubeApiServer& k = **api;
  EtcdServer& e = **etcd;
  ZookeeperServer& z = **zk;
  FakeConsulServer& c = **consul;
  PrometheusServer& p = **prom;
  const fs::path out = p.dir();  // promconf writes where Prometheus reads
  const fs::path files = dir / "fragments";
  fs::create_directories(files);
  const std::string kubeconfig = (dir / "kubeconfig").string();
  if (absl::Status st = k.WriteKubeconfig(kubeconfig); !st.ok())
    return Fail(flags, st.ToString(), "");

  // --- the model ---
  Backend kube{"kube"}, kv{"etcd"}, zkb{"zk"}, cb{"consul"}, fb{"file"};
  std::vector<Backend*> backends = {&kube, &kv, &zkb, &cb, &fb};
  const char* suffix[] = {".rules.yml", ".scrape.yml", ".targets.json"};
  for (Backend* b : backends) {
    for (int i = 0; i < 9; ++i) {
      if (b == &kube) {
        // <namespace>/<configmap>/<key>: several keys per ConfigMap.
        b->good_names.push_back(absl::StrCat("soak/cm", i % 4, "/d", i, suffix[i % 3]));
      } else {
        b->good_names.push_back(absl::StrCat("team-", i % 3, "/d", i, suffix[i % 3]));
      }
    }
    if (b != &kube) {
      // Names that take sanitizing (and a hash) on the way to a file name.
      b->good_names.push_back("odd/ü ber+1.rules.yml");
      b->good_names.push_back("odd/x..y z.targets.json");
    }
    for (int i = 0; i < 3; ++i) {
      b->bad_names.push_back(b == &kube ? absl::StrCat("soak/cm-bad/b", i, suffix[i % 2])
                                        : absl::StrCat("bad/b", i, suffix[i % 2]));
    }
  }

  // --- promconf ---
  const int port = PickFreeLoopbackPort();
  const std::string base_url = absl::StrCat("http://127.0.0.1:", port);
  WriteFileAtomically(dir / "base.yml", popts.config_yaml);
  WriteFileAtomically(
      dir / "promconf.yml",
      absl::StrCat(
          "output:\n  dir: ", out.string(), "\n  base_config: ", (dir / "base.yml").string(),
          "\nreload:\n  url: ", p.reload_url(), "\n  min_interval: 1s\n  timeout: 10s\n",
          "sources:\n", "- name: kube\n  kubernetes:\n    kubeconfig: ", kubeconfig, "\n",
          "- name: etcd\n  etcd:\n    endpoints: [", e.endpoint(), "]\n    prefix: /promconf/\n",
          "- name: zk\n  zookeeper:\n    servers: [", z.address(), "]\n",
          "    session_timeout: 2s\n    paths: [/promconf]\n",
          "- name: consul\n  consul:\n    address: ", c.address(), "\n    kv_prefix: promconf/\n",
          "- name: file\n  file:\n    paths: [", files.string(), "]\n"));
  const fs::path log = dir / "promconf.log";
  auto daemon = std::make_unique<ChildProcess>(
      std::vector<std::string>{kPromconf, "--config.file=" + (dir / "promconf.yml").string(),
                               absl::StrCat("--web.listen-address=127.0.0.1:", port)},
      log.string(), log.string());
  auto plog = [&] { return ReadWholeFile(log.string()); };
  if (!daemon->started()) return Fail(flags, "promconf did not start", "");
  if (!PollUntil(
          [&] {
            HttpClient http;
            HttpRequest req;
            req.url = base_url + "/readyz";
            req.timeout = absl::Seconds(2);
            auto r = http.Do(req);
            return r.ok() && r->status == 200;
          },
          absl::Seconds(60))) {
    return Fail(flags, "promconf not ready within 60 s", plog());
  }
  Sampler sampler(daemon->pid());

  // --- writers: one per backend, each a function of the model ---
  bool etcd_up = true;
  auto apply_kube_cm = [&](const std::string& cm) -> absl::Status {
    std::map<std::string, std::string> data;
    const std::string prefix = "soak/" + cm + "/";
    for (const auto& [name, doc] : kube.docs) {
      if (absl::StartsWith(name, prefix)) data[name.substr(prefix.size())] = doc.data;
    }
    if (data.empty()) {
      absl::Status st = k.DeleteConfigMap("soak", cm);
      return absl::IsNotFound(st) ? absl::OkStatus() : st;
    }
    return k.ApplyConfigMap("soak", cm, {{"promconf.io/fragment", "true"}}, data);
  };
  auto cm_of = [](const std::string& name) {
    return std::vector<std::string>(absl::StrSplit(name, '/'))[1];
  };
  // Applies the model's state of `name` (present or absent) to the backend.
  auto sync = [&](Backend& b, const std::string& name) -> absl::Status {
    auto it = b.docs.find(name);
    const bool present = it != b.docs.end();
    if (&b == &kube) return apply_kube_cm(cm_of(name));
    if (&b == &kv)
      return present ? e.Put("/promconf/" + name, it->second.data) : e.Delete("/promconf/" + name);
    if (&b == &zkb)
      return present ? z.Put("/promconf/" + name, it->second.data) : z.Delete("/promconf/" + name);
    if (&b == &cb) {
      if (present)
        c.PutKV("promconf/" + name, it->second.data);
      else
        c.DeleteKV("promconf/" + name);
      return absl::OkStatus();
    }
    std::error_code ec;
    if (present)
      WriteFileAtomically(files / name, it->second.data);
    else
      fs::remove(files / name, ec);
    return absl::OkStatus();
  };

  std::map<std::string, int> ops, faults;
  uint64_t gen = 0;
  auto churn_one = [&](Backend& b) -> absl::Status {
    if (&b == &kv && !etcd_up) {
      ++ops["skipped (etcd down)"];
      return absl::OkStatus();
    }
    const int roll = rng.Int(0, 99);
    std::vector<std::string> present;
    for (const auto& [name, doc] : b.docs) present.push_back(name);
    if (roll < 20 && !present.empty()) {  // delete
      const std::string name = rng.Pick(present);
      b.docs.erase(name);
      ++ops["delete"];
      return sync(b, name);
    }
    if (roll < 30 && &b == &fb) {  // rename a good file onto an absent name of its kind
      std::vector<std::string> from, to;
      for (const std::string& n : b.good_names) (b.docs.count(n) ? from : to).push_back(n);
      if (!from.empty()) {
        const std::string a = rng.Pick(from);
        std::vector<std::string> same;
        for (const std::string& n : to) {
          if (KindOf(n) == KindOf(a)) same.push_back(n);
        }
        if (!same.empty()) {
          const std::string bname = rng.Pick(same);
          b.docs[bname] = b.docs[a];
          b.docs.erase(a);
          fs::create_directories((files / bname).parent_path());
          std::error_code ec;
          fs::rename(files / a, files / bname, ec);
          ++ops["rename"];
          return ec ? absl::InternalError("rename: " + ec.message()) : absl::OkStatus();
        }
      }
    }
    if (roll < 40) {  // a bad fragment
      const std::string name = rng.Pick(b.bad_names);
      b.docs[name] = BadDoc(KindOf(name), ++gen, rng);
      ++ops["bad write"];
      return sync(b, name);
    }
    const std::string name = rng.Pick(b.good_names);
    b.docs[name] = GoodDoc(KindOf(name), ++gen, rng);
    ++ops["write"];
    return sync(b, name);
  };

  // --- faults: each either immediate or with a restore due at a time ---
  // Restores are due at a step, not a time, so the whole sequence of
  // operations and faults is a function of the seed (~15 steps a second).
  std::optional<int64_t> etcd_back, prom_back, promconf_thaw, kube_unstall;
  absl::Time thaw_not_before;
  int64_t step = 0;
  auto restore = [&](bool all) -> absl::Status {
    const int64_t now = step;
    if (etcd_back && (all || now >= *etcd_back)) {
      etcd_back.reset();
      if (absl::Status st = e.Restart(); !st.ok()) return st;
      etcd_up = true;
    }
    if (prom_back && (all || now >= *prom_back)) {
      prom_back.reset();
      if (absl::Status st = p.Restart(); !st.ok()) return st;
    }
    if (promconf_thaw && (all || now >= *promconf_thaw)) {
      // The freeze outlasts the session timeout however fast the steps go.
      absl::SleepFor(thaw_not_before - absl::Now());
      promconf_thaw.reset();
      daemon->Signal(SIGCONT);
    }
    if (kube_unstall && (all || now >= *kube_unstall)) {
      // A stalled watch is only caught by promconf's 2-minute read-idle
      // deadline; here the peer (a load balancer) ends it within seconds.
      kube_unstall.reset();
      k.DropWatches();
    }
    return absl::OkStatus();
  };
  auto inject = [&]() -> absl::Status {
    switch (rng.Int(0, 11)) {
      case 0:
        if (etcd_back) break;
        e.Kill();
        etcd_up = false;
        etcd_back = step + rng.Int(8, 45);
        ++faults["etcd killed"];
        break;
      case 1: {
        if (etcd_back) break;
        // Restored to empty: the server goes back in time; the model too.
        e.Kill();
        if (absl::Status st = e.Restart(/*wipe=*/true); !st.ok()) return st;
        kv.docs.clear();
        ++faults["etcd wiped"];
        break;
      }
      case 2:
        if (absl::Status st = z.Restart(); !st.ok()) return st;
        ++faults["zookeeper restarted"];
        break;
      case 3:
        // promconf's session id and password are not exposed, so the
        // session is expired the way a long GC pause or VM stall expires
        // it: promconf is frozen for twice its 2 s session timeout; the
        // server expires the session and promconf sees EXPIRED on resume.
        if (promconf_thaw) break;
        daemon->Signal(SIGSTOP);
        promconf_thaw = step + rng.Int(45, 75);
        thaw_not_before = absl::Now() + absl::Milliseconds(4500);
        ++faults["zookeeper session expired (promconf frozen)"];
        break;
      case 4:
        k.ExpireHistory();
        if (rng.Chance(0.5)) k.DropWatches();
        ++faults["kube history expired (410)"];
        break;
      case 5:
        k.DropWatches();
        ++faults["kube watches dropped"];
        break;
      case 6:
        if (kube_unstall) break;
        k.StallWatches();
        kube_unstall = step + rng.Int(15, 60);
        ++faults["kube watches stalled"];
        break;
      case 7: {
        const int codes[] = {500, 429, 410};
        k.FailNextRequests(codes[rng.Int(0, 2)], rng.Int(1, 2));
        if (rng.Chance(0.5)) k.DropWatches();
        ++faults["kube requests failed"];
        break;
      }
      case 8: {
        const uint64_t index = c.Index();
        c.ResetIndex(std::max<uint64_t>(2, index / static_cast<uint64_t>(rng.Int(2, 10))));
        ++faults["consul index reset"];
        break;
      }
      case 9: {
        const int codes[] = {500, 503, 429};
        c.FailNext(rng.Int(1, 2), codes[rng.Int(0, 2)]);
        if (rng.Chance(0.5))
          c.DropConnections();
        else
          c.WakeBlockingQueries();
        ++faults["consul failures/drops"];
        break;
      }
      case 10:
      case 11:
        if (prom_back) break;
        if (absl::Status st = p.Stop(); !st.ok()) return st;
        prom_back = step + rng.Int(15, 75);
        ++faults["prometheus stopped"];
        break;
    }
    return absl::OkStatus();
  };

  Say(absl::StrCat("seed=", flags.seed, " seconds=", flags.seconds,
                   " settle_seconds=", flags.settle_seconds, " promconf pid ", daemon->pid()));
  const absl::Time start = absl::Now();
  const absl::Time churn_end = start + absl::Seconds(flags.seconds);
  const int64_t max_steps = int64_t{flags.seconds} * 200;  // a hard bound on the loop
  int64_t next_fault = rng.Int(45, 120);
  for (; step < max_steps && absl::Now() < churn_end; ++step) {
    if (sampler.dead()) return Fail(flags, absl::StrCat("promconf died at step ", step), plog());
    if (absl::Status st = restore(false); !st.ok())
      return Fail(flags, "restore: " + st.ToString(), plog());
    if (step >= next_fault) {
      if (absl::Status st = inject(); !st.ok())
        return Fail(flags, "fault: " + st.ToString(), plog());
      next_fault = step + rng.Int(45, 120);
    }
    Backend& b = *backends[rng.Int(0, static_cast<int>(backends.size()) - 1)];
    if (absl::Status st = churn_one(b); !st.ok()) {
      return Fail(flags, absl::StrCat("write to ", b.source, ": ", st.ToString()), plog());
    }
    absl::SleepFor(rng.Millis(20, 80));
  }
  if (absl::Status st = restore(true); !st.ok())
    return Fail(flags, "restore: " + st.ToString(), plog());
  const absl::Duration churned = absl::Now() - start;

  // --- settle: the output must match the model ---
  std::string problem;
  const Expected want = Expect(backends, &problem);
  if (!problem.empty()) return Fail(flags, "the soak's own model: " + problem, plog());
  const absl::Time settle_start = absl::Now();
  const absl::Time settle_deadline = settle_start + absl::Seconds(flags.settle_seconds);
  std::string diff, last_head;
  for (int i = 0; i < flags.settle_seconds * 10 + 10; ++i) {  // bounded in count and time
    if (sampler.dead()) return Fail(flags, "promconf died while settling", plog());
    diff = FirstDifference(out, want);
    if (diff.empty()) diff = CheckDebugFragments(HttpGetBody(base_url + "/debug/fragments"), want);
    if (diff.empty()) diff = CheckPrometheus(p, want);
    if (diff.empty() || absl::Now() > settle_deadline) break;
    // What is still pending, once per change: where the settle time goes.
    const std::string head = diff.substr(0, diff.find('\n'));
    if (head != last_head) {
      Say(absl::StrCat(
          "  settling (+",
          absl::FormatDuration(absl::Trunc(absl::Now() - settle_start, absl::Milliseconds(1))),
          "): ", head));
      last_head = head;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  const absl::Duration settle = absl::Now() - settle_start;
  if (!diff.empty()) {
    return Fail(flags,
                absl::StrCat("output did not match within ", flags.settle_seconds,
                             " s; first difference: ", diff),
                plog());
  }

  // --- the end: figures, then a clean exit ---
  sampler.Stop();
  Range fds, threads, rss;
  int samples = 0;
  sampler.Get(&fds, &threads, &rss, &samples);
  daemon->Signal(SIGTERM);
  const int code = daemon->Wait(absl::Seconds(30));
  const std::string log_text = plog();
  int expiries = 0;
  for (absl::string_view line : absl::StrSplit(log_text, '\n')) {
    if (absl::StrContains(line, "msg=\"zookeeper: source error\"") &&
        absl::StrContains(line, "session expired")) {
      ++expiries;
    }
  }

  int64_t total_ops = 0, total_faults = 0;
  for (const auto& [what, n] : ops) total_ops += n;
  for (const auto& [what, n] : faults) total_faults += n;
  Say(absl::StrCat("churn ", absl::FormatDuration(churned), ", ", step, " steps, ", total_ops,
                   " operations, ", total_faults, " faults"));
  for (const auto& [what, n] : ops) Say(absl::StrCat("  op    ", what, ": ", n));
  for (const auto& [what, n] : faults) Say(absl::StrCat("  fault ", what, ": ", n));
  Say(absl::StrCat("  zookeeper sessions promconf saw expire (its log): ", expiries));
  Say(absl::StrCat("final state: ", want.rules.size(), " rule files, ", want.targets.size(),
                   " targets files, ", want.jobs.size(), " jobs, ", want.bad.size(),
                   " bad fragments; settled in ", absl::FormatDuration(settle)));
  Say(absl::StrCat("promconf over ", samples, " samples: fds ", fds.Str(), ", threads ",
                   threads.Str(), ", RSS ", rss.min / 1024, "..", rss.max / 1024, " MiB"));

  if (code != 0)
    return Fail(flags, absl::StrCat("promconf exited ", code, " on SIGTERM"), log_text);
  for (const char* report :
       {"AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer"}) {
    if (absl::StrContains(log_text, report))
      return Fail(flags, absl::StrCat("sanitizer report (", report, ")"), log_text);
  }
  if (fds.max >= kMaxFds || threads.max >= kMaxThreads || rss.max >= kMaxRssKiB) {
    return Fail(flags,
                absl::StrCat("footprint over bounds: fds < ", kMaxFds, ", threads < ", kMaxThreads,
                             ", RSS < ", kMaxRssKiB / 1024, " MiB"),
                log_text);
  }
  Say(absl::StrCat("PASSED (seed=", flags.seed, ")"));
  return 0;
}

bool ParseFlags(int argc, char** argv, Flags* flags) {
  bool have_seed = false;
  if (const char* s = std::getenv("SOAK_SEED"); s != nullptr && *s != '\0') {
    have_seed = absl::SimpleAtoi(s, &flags->seed);
  }
  if (const char* s = std::getenv("SOAK_SECONDS"); s != nullptr && *s != '\0') {
    if (!absl::SimpleAtoi(s, &flags->seconds)) return false;
  }
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--seed=")) {
      if (!absl::SimpleAtoi(a, &flags->seed)) return false;
      have_seed = true;
    } else if (absl::ConsumePrefix(&a, "--seconds=")) {
      if (!absl::SimpleAtoi(a, &flags->seconds)) return false;
    } else if (absl::ConsumePrefix(&a, "--settle_seconds=")) {
      if (!absl::SimpleAtoi(a, &flags->settle_seconds)) return false;
    } else if (a == "--keep") {
      flags->keep = true;
    } else {
      return false;
    }
  }
  if (flags->seconds < 1 || flags->seconds > 24 * 3600 || flags->settle_seconds < 1 ||
      flags->settle_seconds > 600) {
    return false;
  }
  if (!have_seed)
    flags->seed = std::random_device()() ^ static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  return true;
}

}  // namespace
}  // namespace promconf

int main(int argc, char** argv) {
  promconf::Flags flags;
  if (!promconf::ParseFlags(argc, argv, &flags)) {
    std::fprintf(stderr,
                 "usage: soak [--seed=N] [--seconds=S (1..86400)] [--settle_seconds=S (1..600)] "
                 "[--keep]\n");
    return 2;
  }
  promconf::Say(absl::StrCat("seed=", flags.seed));
  return promconf::Run(flags);
}
