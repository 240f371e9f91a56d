// Kubernetes source benchmarks; prints a table (targets from issue #3):
//   (a) watch/list decoding throughput on a ~50 MB generated body (>= 500 MB/s)
//   (b) initial sync of 10,000 ConfigMaps x 3 keys x ~2 KiB from the fake API
//       server (run in a forked child so its memory is not ours) through the
//       daemon's SourceSink, work queue and OutputReconciler until the first
//       complete render: time (<= 3 s) and VmRSS (<= 2x payload + 30 MiB),
//       with the output on disk and on tmpfs
//   (c) one ConfigMap updated among 10,000 (--latency-configmaps) on the fake ->
//       OnUpsert, and -> rendered rule file on disk (reload off), p50/p99 over
//       300 updates (p99 <= 20 ms)
// Figures are printed whether or not a target is met.
//
//   kube_bench [--configmaps=N] [--updates=N] [--latency-configmaps=N] [--only=sync|decode|update]

#include "bench/bench_report.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "controller/health.h"
#include "controller/source_sink.h"
#include "informers/document_store.h"
#include "informers/kubernetes/kube_objects.h"
#include "simdjson.h"
#include "informers/kubernetes/kubernetes_source.h"
#include "informers/kubernetes/watch_stream_decoder.h"
#include "runtime/controller.h"
#include "reconcile/fragment.h"
#include "reconcile/output_reconciler.h"
#include "runtime/workqueue.h"
#include "tests/fakes/kube_apiserver.h"
#include "util/log.h"

namespace promconf {
namespace {

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int64_t VmRssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kib = 0;
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(line).substr(6, line.size() - 9)), &kib);
      return kib;
    }
  }
  return -1;
}

// Exactly `bytes` of a realistic, valid rule file (whole rules, then a
// comment to pad): newlines and quotes become JSON escapes.
std::string RuleText(int seed, size_t bytes) {
  std::string out = "groups:\n- name: \"team-rules\"\n  rules:\n";
  for (int i = 0;; ++i) {
    std::string rule = absl::StrCat(
        "  - alert: HighErrorRate", seed, "_", i,
        "\n    expr: sum(rate(http_requests_total{code=~\"5..\",job=\"api\"}[5m])) "
        "/ sum(rate(http_requests_total[5m])) > 0.05\n    for: 10m\n"
        "    labels: {severity: \"page\"}\n");
    if (out.size() + rule.size() + 2 > bytes) break;
    out.append(rule);
  }
  out.append("#");
  out.append(bytes - out.size() - 1, '-');
  out.back() = '\n';
  return out;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string ConfigMapJson(int i) {
  std::string data;
  for (int k = 0; k < 3; ++k) {
    absl::StrAppend(&data, k ? "," : "", "\"k", k, ".rules.yml\":\"", JsonEscape(RuleText(i * 3 + k, 2048)), "\"");
  }
  return absl::StrCat(
      R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"rules-)", i,
      R"(","namespace":"team-)", i % 50, R"(","uid":"6f1c9a52-0000-4000-8000-)", 100000000000 + i,
      R"(","resourceVersion":")", 1000 + i,
      R"(","creationTimestamp":"2026-11-22T03:00:00Z","labels":{"promconf.io/fragment":"true","team":"t)",
      i % 50, R"("}},"data":{)", data, "}}");
}

void BenchDecoder() {
  std::string watch_body;
  std::vector<std::string> list_pages;
  std::string page;
  int in_page = 0;
  for (int i = 0; watch_body.size() < (50u << 20); ++i) {
    const std::string obj = ConfigMapJson(i);
    absl::StrAppend(&watch_body, R"({"type":")", i % 2 ? "MODIFIED" : "ADDED", R"(","object":)", obj, "}\n");
    if (i % 100 == 99) absl::StrAppend(&watch_body, R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":")", 1000 + i, "\"}}}\n");
    absl::StrAppend(&page, in_page ? "," : "", obj);
    if (++in_page == 500) {
      list_pages.push_back(absl::StrCat(R"({"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"99","continue":"x"},"items":[)", page, "]}"));
      page.clear();
      in_page = 0;
    }
  }
  const double mb = watch_body.size() / 1e6;
  constexpr size_t kChunk = 16 << 10;

  auto run = [&](bool parse) {
    kube::WatchStreamDecoder decoder;
    kube::KubeJsonParser parser;
    kube::WatchEvent event;
    size_t objects = 0, bytes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t off = 0; off < watch_body.size(); off += kChunk) {
      absl::Status s = decoder.Feed(absl::string_view(watch_body).substr(off, kChunk), [&](absl::string_view o) {
        ++objects;
        if (!parse) return absl::OkStatus();
        absl::Status ps = parser.ParseWatchEvent(o, &event);
        for (const auto& [k, v] : event.object.data) bytes += v.size();
        return ps;
      });
      if (!s.ok()) {
        std::printf("decoder error: %s\n", s.ToString().c_str());
        return 0.0;
      }
    }
    const double t = Seconds(t0, std::chrono::steady_clock::now());
    (void)bytes;
    (void)objects;
    return mb / t;
  };
  const double framing = std::max(run(false), run(false));
  const double events = std::max(run(true), run(true));
  kube::KubeJsonParser parser;
  kube::KubeList list;
  size_t list_bytes = 0;
  for (const auto& p : list_pages) list_bytes += p.size();
  auto run_list = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& p : list_pages) {
      absl::Status s = parser.ParseList(p, &list);
      if (!s.ok()) std::printf("list error: %s\n", s.ToString().c_str());
    }
    return list_bytes / 1e6 / Seconds(t0, std::chrono::steady_clock::now());
  };
  // Best of two, like the watch figures (the machine is shared and noisy).
  const double list_rate = std::max(run_list(), run_list());
  BenchResult("kubernetes.decode.watch_events_mb_per_s", events);
  BenchResult("kubernetes.decode.list_mb_per_s", list_rate);
  std::printf("| (a) watch framing only (%.0f MB, 16 KiB chunks) | %.0f MB/s | >= 500 MB/s | %s |\n", mb, framing, framing >= 500 ? "met" : "MISSED");
  std::printf("| (a) watch framing + event parse                 | %.0f MB/s | >= 500 MB/s | %s |\n", events, events >= 500 ? "met" : "MISSED");
  std::printf("| (a) list page parse (500 items/page)            | %.0f MB/s | >= 500 MB/s | %s |\n", list_rate, list_rate >= 500 ? "met" : "MISSED");
  // KubeJsonParser uses dom::parser, which libsimdjson.so dispatches at run
  // time (active); on-demand would run the compile-time kernel (builtin).
  std::printf("| (a) simdjson implementation: dom (active) %s; on-demand (builtin) %s | | | |\n",
              simdjson::get_active_implementation()->name().c_str(),
              simdjson::builtin_implementation()->name().c_str());
}

// Forwards to the daemon's own SourceSink (store, render key, health) and
// notes snapshots and the latest upsert, without keeping documents itself
// (that would double the RSS being measured).
class BenchCallbacks : public SourceCallbacks {
 public:
  explicit BenchCallbacks(SourceCallbacks* inner) : inner_(inner) {}
  void OnSnapshot(absl::string_view prefix, std::vector<Document> docs) override {
    const size_t n = docs.size();
    inner_->OnSnapshot(prefix, std::move(docs));
    absl::MutexLock l(&mu_);
    documents_ += n;
    ++snapshots_;
  }
  void OnUpsert(Document doc) override {
    std::string name = doc.name, data = doc.data;
    inner_->OnUpsert(std::move(doc));
    absl::MutexLock l(&mu_);
    last_name_ = std::move(name);
    last_data_ = std::move(data);
  }
  void OnDelete(absl::string_view name) override { inner_->OnDelete(name); }
  void OnProgress() override { inner_->OnProgress(); }
  void OnError(const absl::Status& s) override {
    inner_->OnError(s);
    absl::MutexLock l(&mu_);
    last_error_ = s.ToString();
  }
  bool WaitSnapshot(absl::Duration timeout) {
    absl::MutexLock l(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(+[](int* n) { return *n > 0; }, &snapshots_), timeout);
  }
  bool WaitValue(const std::string& name, const std::string& value, absl::Duration timeout) {
    absl::MutexLock l(&mu_);
    auto ok = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return last_name_ == name && last_data_ == value;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&ok), timeout);
  }
  size_t documents() { absl::MutexLock l(&mu_); return documents_; }
  std::string last_error() { absl::MutexLock l(&mu_); return last_error_; }

 private:
  SourceCallbacks* const inner_;
  absl::Mutex mu_;
  int snapshots_ ABSL_GUARDED_BY(mu_) = 0;
  size_t documents_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_name_ ABSL_GUARDED_BY(mu_);
  std::string last_data_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
};

// Default validation, no promtool, no base config.
OutputOptions OutputsIn(const std::string& dir) {
  OutputOptions o;
  o.dir = dir;
  return o;
}

// The daemon's path from a source to files on disk: store, SourceSink, the
// work queue with one controller worker, the OutputReconciler (reload off).
struct RenderPipeline {
  explicit RenderPipeline(const std::string& out_dir)
      : store({"bench"}),
        queue("bench", Clock::Real(), runtime::NewDefaultControllerRateLimiter(Clock::Real())),
        health(Clock::Real()),
        reconciler(&store, OutputsIn(out_dir)),
        controller("bench", &queue, &reconciler, Clock::Real()),
        sink("bench", &store, &queue, &health, nullptr),
        callbacks(&sink) {
    health.AddSource("bench", absl::InfiniteDuration(), {""});
    controller.Start(1);
  }
  ~RenderPipeline() { controller.Stop(); }
  // Every stored change rendered (bounded wait).
  bool WaitRendered(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (reconciler.LastReport().store_generation == store.generation() && queue.Len() == 0) {
        return true;
      }
      absl::SleepFor(absl::Microseconds(200));
    }
    return false;
  }

  DocumentStore store;
  runtime::WorkQueue queue;
  HealthTracker health;
  OutputReconciler reconciler;
  runtime::Controller controller;
  SourceSink sink;
  BenchCallbacks callbacks;
};

std::map<std::string, std::string> Data(int i) {
  std::map<std::string, std::string> data;
  for (int k = 0; k < 3; ++k) data[absl::StrCat("k", k, ".rules.yml")] = RuleText(i * 3 + k, 2048);
  return data;
}

// `dir` holds the kubeconfig; the output tree goes to `out_dir`, on the
// filesystem `medium` names.

// The Kubernetes source as promconf builds it from `kubeconfig`.
absl::StatusOr<std::unique_ptr<Source>> NewBenchSource(const std::string& kubeconfig) {
  KubernetesSourceConfig config;
  config.kubeconfig = kubeconfig;
  SourceContext context;
  context.name = "bench";
  return kube::NewKubernetesSource(context, config, {});
}

void BenchInitialSync(int configmaps, const std::string& dir, const std::string& out_dir,
                      const std::string& medium) {
  const std::string kubeconfig = dir + "/kubeconfig";
  int ready[2];
  int done[2];
  if (pipe(ready) != 0 || pipe(done) != 0) return;
  const pid_t child = fork();
  if (child == 0) {
    // The fake API server, outside our RSS.
    close(ready[0]);
    close(done[1]);
    auto fake = FakeKubeApiServer::Start({});
    if (!fake.ok()) _exit(1);
    for (int i = 0; i < configmaps; ++i) {
      if (!(*fake)->ApplyConfigMap(absl::StrCat("team-", i % 50), absl::StrCat("rules-", i),
                                   {{"promconf.io/fragment", "true"}}, Data(i)).ok()) {
        _exit(1);
      }
    }
    if (!(*fake)->WriteKubeconfig(kubeconfig).ok()) _exit(1);
    if (write(ready[1], "r", 1) != 1) _exit(1);
    char c;
    while (read(done[0], &c, 1) > 0) {
    }
    fake->reset();
    _exit(0);
  }
  close(ready[1]);
  close(done[0]);
  char c;
  if (read(ready[0], &c, 1) != 1) {
    std::printf("| (b) fake API server child failed to start |\n");
    return;
  }
  const int64_t rss_before = VmRssKiB();
  RenderPipeline pipeline(out_dir);
  BenchCallbacks& callbacks = pipeline.callbacks;
  auto source = NewBenchSource(kubeconfig);
  if (!source.ok()) {
    std::printf("source: %s\n", source.status().ToString().c_str());
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  (void)(*source)->Start(&callbacks);
  const bool synced = callbacks.WaitSnapshot(absl::Seconds(120));
  const double t_snapshot = Seconds(t0, std::chrono::steady_clock::now());
  const bool rendered = synced && pipeline.WaitRendered(absl::Seconds(300));
  const double t = Seconds(t0, std::chrono::steady_clock::now());
  const int64_t rss_after = VmRssKiB();
  std::printf("| (b) [%s] initial sync until the source's snapshot | %.2f s | | |\n", medium.c_str(),
              t_snapshot);
  const double payload_mib = static_cast<double>(configmaps) * 3 * 2048 / (1 << 20);
  const double rss_mib = rss_after / 1024.0;
  const ReconcileReport report = pipeline.reconciler.LastReport();
  const int accepted = report.accepted.count("rules") ? report.accepted.at("rules") : 0;
  std::printf("| (b) [%s] initial sync %d ConfigMaps x 3 x 2 KiB until the first complete render (%s, %zu docs, %d accepted) | %.2f s | <= 3 s | %s |\n",
              medium.c_str(), configmaps, rendered ? "rendered" : synced ? "NOT RENDERED" : ("NOT SYNCED: " + callbacks.last_error()).c_str(),
              callbacks.documents(), accepted, t, t <= 3 ? "met" : "MISSED");
  BenchResult(absl::StrCat("kubernetes.initial_sync_", configmaps, "x3.", medium, ".seconds"), t);
  BenchResult(absl::StrCat("kubernetes.initial_sync_", configmaps, "x3.", medium, ".rss_mib"), rss_mib);
  BenchResult(absl::StrCat("kubernetes.initial_sync_", configmaps, "x3.payload_mib"), payload_mib);
  std::printf("| (b) [%s] VmRSS after sync and render (before start %.0f MiB; payload %.0f MiB; fake in a child) | %.0f MiB | <= %.0f MiB | %s |\n",
              medium.c_str(), rss_before / 1024.0, payload_mib, rss_mib, 2 * payload_mib + 30,
              rss_mib <= 2 * payload_mib + 30 ? "met" : "MISSED");
  (*source)->Stop();
  close(done[1]);
  int status = 0;
  waitpid(child, &status, 0);
}

void BenchUpdateLatency(int updates, int configmaps, const std::string& dir) {
  auto fake = FakeKubeApiServer::Start({});
  if (!fake.ok()) return;
  const std::string kubeconfig = dir + "/kubeconfig-latency";
  (void)(*fake)->WriteKubeconfig(kubeconfig);
  // One change among `configmaps` ConfigMaps: the work must be the change's,
  // not the cluster's.
  for (int i = 0; i < configmaps; ++i) {
    (void)(*fake)->ApplyConfigMap("team-a", absl::StrCat("rules-", i), {{"promconf.io/fragment", "true"}}, Data(i));
  }
  const std::string out_dir = dir + "/out-latency";
  RenderPipeline pipeline(out_dir);
  BenchCallbacks& callbacks = pipeline.callbacks;
  auto source = NewBenchSource(kubeconfig);
  if (!source.ok()) return;
  (void)(*source)->Start(&callbacks);
  callbacks.WaitSnapshot(absl::Seconds(120));
  pipeline.WaitRendered(absl::Seconds(300));
  const std::string rule_file =
      out_dir + "/" + RulesOutputPath("bench", "team-a/rules-7/k0.rules.yml");
  std::vector<double> ms, file_ms;
  auto data = Data(7);
  for (int i = 0; i < updates; ++i) {
    data["k0.rules.yml"] = absl::StrCat("# update ", i, "\n", RuleText(i, 2000));
    const auto t0 = std::chrono::steady_clock::now();
    (void)(*fake)->ApplyConfigMap("team-a", "rules-7", {{"promconf.io/fragment", "true"}}, data);
    if (!callbacks.WaitValue("team-a/rules-7/k0.rules.yml", data["k0.rules.yml"], absl::Seconds(10))) {
      std::printf("update %d not seen: %s\n", i, callbacks.last_error().c_str());
      break;
    }
    ms.push_back(Seconds(t0, std::chrono::steady_clock::now()) * 1000);
    // Then until the rendered rule file on disk holds the new bytes.
    const std::string marker = absl::StrCat("# update ", i, "\n");
    const auto deadline = t0 + std::chrono::seconds(10);
    bool on_disk = false;
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(rule_file, std::ios::binary);
      std::string head(marker.size(), '\0');
      if (in.read(head.data(), static_cast<std::streamsize>(head.size())) && head == marker) {
        on_disk = true;
        break;
      }
      absl::SleepFor(absl::Microseconds(100));
    }
    if (!on_disk) {
      std::printf("update %d never reached %s\n", i, rule_file.c_str());
      break;
    }
    file_ms.push_back(Seconds(t0, std::chrono::steady_clock::now()) * 1000);
  }
  (*source)->Stop();
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  const double p50 = ms[ms.size() / 2], p99 = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  std::printf("| (c) update -> OnUpsert latency, %zu updates, p50 | %.2f ms | | |\n", ms.size(), p50);
  std::printf("| (c) update -> OnUpsert latency, p99            | %.2f ms | | |\n", p99);
  if (file_ms.empty()) return;
  std::sort(file_ms.begin(), file_ms.end());
  const double f50 = file_ms[file_ms.size() / 2];
  const double f99 = file_ms[std::min(file_ms.size() - 1, file_ms.size() * 99 / 100)];
  std::printf("| (c) update -> rendered file on disk (reload off), %zu updates, p50 | %.2f ms | | |\n",
              file_ms.size(), f50);
  BenchResult(absl::StrCat("kubernetes.one_change_in_", configmaps, ".p50_ms"), f50);
  BenchResult(absl::StrCat("kubernetes.one_change_in_", configmaps, ".p99_ms"), f99);
  std::printf("| (c) update -> rendered file on disk, p99 | %.2f ms | <= 10 ms | %s |\n", f99,
              f99 <= 10 ? "met" : "MISSED");
}

}  // namespace
}  // namespace promconf

int main(int argc, char** argv) {
  int configmaps = 10000, updates = 300, latency_configmaps = 10000;
  std::string only;  // sync|decode|update; empty: all three
  for (int i = 1; i < argc; ++i) {
    absl::string_view a(argv[i]);
    if (absl::ConsumePrefix(&a, "--only=")) only = std::string(a);
    if (absl::ConsumePrefix(&a, "--configmaps=")) (void)absl::SimpleAtoi(a, &configmaps);
    if (absl::ConsumePrefix(&a, "--updates=")) (void)absl::SimpleAtoi(a, &updates);
    if (absl::ConsumePrefix(&a, "--latency-configmaps=")) (void)absl::SimpleAtoi(a, &latency_configmaps);
  }
  promconf::SetLogLevel(promconf::LogLevel::kError);
  char tmpl[] = "/tmp/kube_bench.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;
  std::printf("| benchmark | figure | target | |\n|---|---|---|---|\n");
  // (b) first: fork before this process has any threads.
  // (b) first, each run in a child of its own (forked before this process
  // has any threads) so its RSS is its own: output on this machine's disk,
  // then on tmpfs, as with an emptyDir of medium Memory (the chart's
  // default), where 30,000 file creations cost a fraction of ext4's.
  if (only.empty() || only == "sync") {
    std::vector<std::pair<std::string, std::string>> outs = {{dir + "/out-sync", "disk"}};
    char shm[] = "/dev/shm/kube_bench.XXXXXX";
    const bool have_shm = mkdtemp(shm) != nullptr;
    if (have_shm) outs.emplace_back(std::string(shm) + "/out-sync", "tmpfs");
    for (const auto& [out, medium] : outs) {
      std::fflush(stdout);
      const pid_t pid = fork();
      if (pid == 0) {
        promconf::BenchInitialSync(configmaps, dir, out, medium);
        std::fflush(stdout);
        _exit(0);
      }
      int status = 0;
      if (pid > 0) waitpid(pid, &status, 0);
    }
    if (have_shm) std::filesystem::remove_all(shm);
  }
  if (only.empty() || only == "decode") promconf::BenchDecoder();
  if (only.empty() || only == "update") promconf::BenchUpdateLatency(updates, latency_configmaps, dir);
  std::filesystem::remove_all(dir);
  return 0;
}
