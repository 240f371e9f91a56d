// put -> rendered file latency through the KV-style sources: etcd (issue
// #4 item 4), ZooKeeper and Consul.
//
// The backend (a real etcd or ZooKeeper from Debian, the fake Consul), its
// source, the document store, the work queue with one controller worker and
// the OutputReconciler writing a real output dir; reload is off (no reloader
// is wired). Each iteration puts a new version of one rule fragment (50 other
// fragments sit beside it) and waits until the rendered rules file on disk
// holds it. Printed per backend:
//   put rpc      : the backend's write itself (etcd's and ZooKeeper's own
//                  log fsync is in here)
//   put->upsert  : from before the put until the source's OnUpsert callback
//   put->file    : from before the put until the rendered file has the new
//                  content (what a user waits for; target p99 <= 10 ms)
//   ack->file    : from the put's acknowledgement until the file (promconf's
//                  share: watch delivery + reconcile + atomic write + fsync)
// Usage: source_latency_bench [iterations=300] [etcd|zookeeper|consul|all]

#include <sys/stat.h>

#include <algorithm>
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

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "informers/document_store.h"
#include "informers/consul/consul_source.h"
#include "informers/etcd/etcd_source.h"
#include "informers/zookeeper/zookeeper_source.h"
#include "runtime/controller.h"
#include "reconcile/fragment.h"
#include "reconcile/output_reconciler.h"
#include "runtime/workqueue.h"
#include "controller/health.h"
#include "controller/source_sink.h"
#include "tests/fakes/consul_server.h"
#include "tests/fakes/etcd_server.h"
#include "tests/fakes/zookeeper_server.h"
#include "util/log.h"

namespace promconf {
namespace {

// One backend: its server, a writer, and a source pointed at it.
struct Backend {
  std::string name;
  std::string version;  // for the table's heading
  std::function<absl::Status(const std::string& doc, const std::string& data)> put;
  std::function<absl::StatusOr<std::unique_ptr<Source>>(const SourceContext&)> source;
  std::shared_ptr<void> server;  // keeps it alive
  // Pause between iterations. Consul's source sends at most one request per
  // 100 ms per dependency (no busy loop on a server that answers at once), so
  // back-to-back puts coalesce: its bench spaces them to time one change.
  absl::Duration spacing = absl::ZeroDuration();
};

absl::StatusOr<Backend> StartEtcd() {
  auto server = EtcdServer::Start();
  if (!server.ok()) return server.status();
  std::shared_ptr<EtcdServer> s = std::move(*server);
  Backend b{"etcd", "etcd 3.4", nullptr, nullptr, s};
  b.put = [s](const std::string& doc, const std::string& data) {
    return s->Put("/promconf/" + doc, data);
  };
  b.source = [s](const SourceContext& context) {
    EtcdSourceConfig config;
    config.endpoints = {s->endpoint()};
    config.prefix = "/promconf/";
    return etcd::NewEtcdSource(context, config);
  };
  return b;
}

absl::StatusOr<Backend> StartZookeeper() {
  auto server = ZookeeperServer::Start();
  if (!server.ok()) return server.status();
  std::shared_ptr<ZookeeperServer> s = std::move(*server);
  Backend b{"zookeeper", "ZooKeeper 3.8", nullptr, nullptr, s};
  b.put = [s](const std::string& doc, const std::string& data) {
    return s->Put("/promconf/" + doc, data);
  };
  b.source = [s](const SourceContext& context) {
    ZookeeperSourceConfig config;
    config.servers = {s->address()};
    config.paths = {"/promconf"};
    return zk::NewZookeeperSource(context, config);
  };
  return b;
}

absl::StatusOr<Backend> StartConsul() {
  auto server = FakeConsulServer::Start({});
  if (!server.ok()) return server.status();
  std::shared_ptr<FakeConsulServer> s = std::move(*server);
  Backend b{"consul", "fake Consul, puts 120 ms apart", nullptr, nullptr, s,
            absl::Milliseconds(120)};
  b.put = [s](const std::string& doc, const std::string& data) {
    s->PutKV("promconf/" + doc, data);
    return absl::OkStatus();
  };
  b.source = [s](const SourceContext& context) {
    ConsulSourceConfig config;
    config.address = s->address();
    config.kv_prefix = "promconf/";
    return consul::NewConsulSource(context, config);
  };
  return b;
}

// Wraps the daemon's own SourceSink (store, render key, health) and notes
// when the watched document's upsert arrived.
class TimingSink : public SourceCallbacks {
 public:
  explicit TimingSink(SourceCallbacks* inner) : inner_(inner) {}
  void OnSnapshot(absl::string_view prefix, std::vector<Document> docs) override {
    inner_->OnSnapshot(prefix, std::move(docs));
    absl::MutexLock lock(&mu_);
    ++snapshots_;
  }
  void OnUpsert(Document doc) override {
    const std::string data = doc.data;
    inner_->OnUpsert(std::move(doc));
    absl::MutexLock lock(&mu_);
    last_upsert_data_ = data;
    last_upsert_time_ = absl::Now();
  }
  void OnDelete(absl::string_view name) override { inner_->OnDelete(name); }
  void OnProgress() override { inner_->OnProgress(); }
  void OnError(const absl::Status& status) override {
    std::fprintf(stderr, "source error: %s\n", status.ToString().c_str());
    inner_->OnError(status);
  }

  // When the upsert carrying `data` arrived (InfinitePast if not yet).
  absl::Time UpsertTime(const std::string& data) {
    absl::MutexLock lock(&mu_);
    return last_upsert_data_ == data ? last_upsert_time_ : absl::InfinitePast();
  }
  bool WaitForSnapshot(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return snapshots_ > 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  }

 private:
  SourceCallbacks* const inner_;
  absl::Mutex mu_;
  int snapshots_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_upsert_data_ ABSL_GUARDED_BY(mu_);
  absl::Time last_upsert_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Stats {
  double p50, p99, max, mean;
};

Stats Summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) {
    size_t i = static_cast<size_t>(p * (ms.size() - 1) + 0.5);
    return ms[std::min(i, ms.size() - 1)];
  };
  double sum = 0;
  for (double v : ms) sum += v;
  return {pct(0.50), pct(0.99), ms.back(), sum / ms.size()};
}

int Run(const Backend& backend, int iterations) {
  const std::string kSource = backend.name;
  char tmpl[] = "/tmp/promconf-source-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string out_dir = tmpl;

  for (int i = 0; i < 50; ++i) {
    (void)backend.put(absl::StrCat("team-", i, ".rules.yml"),
                      absl::StrCat("groups:\n- name: team-", i, "\n  rules: []\n"));
  }

  DocumentStore store({kSource});
  runtime::WorkQueue queue("bench", Clock::Real(), runtime::NewDefaultControllerRateLimiter(Clock::Real()));
  OutputOptions options;
  options.dir = out_dir;
  OutputReconciler reconciler(&store, options);
  runtime::Controller controller("bench", &queue, &reconciler, Clock::Real());
  controller.Start(1);
  HealthTracker health(Clock::Real());
  health.AddSource(kSource, absl::InfiniteDuration(), {""});
  SourceSink source_sink(kSource, &store, &queue, &health, /*metrics=*/nullptr);
  TimingSink sink(&source_sink);

  SourceContext context;
  context.name = kSource;
  auto source = backend.source(context);
  if (!source.ok() || !(*source)->Start(&sink).ok()) return 1;
  if (!sink.WaitForSnapshot(absl::Seconds(30))) {
    std::fprintf(stderr, "no initial snapshot\n");
    return 1;
  }

  const std::string doc = "bench.rules.yml";
  const std::string file = out_dir + "/" + RulesOutputPath(kSource, doc);
  std::vector<double> rpc, upsert, to_file, ack_to_file;
  int timeouts = 0;
  for (int i = -20; i < iterations; ++i) {  // 20 warm-up rounds
    if (backend.spacing > absl::ZeroDuration()) absl::SleepFor(backend.spacing);
    const std::string marker = absl::StrCat("bench-", i + 100000);
    const std::string data = absl::StrCat("groups:\n- name: ", marker, "\n  rules: []\n");
    const absl::Time t0 = absl::Now();
    if (!backend.put(doc, data).ok()) return 1;
    const absl::Time acked = absl::Now();
    absl::Time seen = absl::InfinitePast();
    const absl::Time deadline = t0 + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (ReadFile(file).find(marker) != std::string::npos) {
        seen = absl::Now();
        break;
      }
      absl::SleepFor(absl::Microseconds(100));
    }
    if (i < 0) continue;
    if (seen == absl::InfinitePast()) {
      ++timeouts;
      continue;
    }
    rpc.push_back(absl::ToDoubleMilliseconds(acked - t0));
    upsert.push_back(absl::ToDoubleMilliseconds(sink.UpsertTime(data) - t0));
    to_file.push_back(absl::ToDoubleMilliseconds(seen - t0));
    ack_to_file.push_back(absl::ToDoubleMilliseconds(seen - acked));
  }
  (*source)->Stop();
  controller.Stop();

  std::printf("\n%s: put -> rendered rules file on disk (%s, loopback, reload off,\n"
              "1 controller worker, 51 fragments; file polled every 100us)\n",
              backend.name.c_str(), backend.version.c_str());
  std::printf("%-14s %7s %9s %9s %9s %9s\n", "measure", "count", "p50 ms", "p99 ms", "max ms",
              "mean ms");
  auto row = [](const char* name, const std::vector<double>& v) {
    if (v.empty()) return;
    Stats s = Summarize(v);
    std::printf("%-14s %7zu %9.3f %9.3f %9.3f %9.3f\n", name, v.size(), s.p50, s.p99, s.max, s.mean);
  };
  row("put rpc", rpc);
  row("put->upsert", upsert);
  row("put->file", to_file);
  row("ack->file", ack_to_file);
  if (timeouts > 0) std::printf("timeouts (file not updated within 10 s): %d\n", timeouts);
  std::error_code ec;
  std::filesystem::remove_all(out_dir, ec);
  return timeouts == 0 ? 0 : 1;
}

int Main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::max(1, std::atoi(argv[1])) : 300;
  const std::string which = argc > 2 ? argv[2] : "all";
  SetLogLevel(LogLevel::kWarn);
  const std::vector<std::pair<std::string, std::function<absl::StatusOr<Backend>()>>> all = {
      {"etcd", StartEtcd}, {"zookeeper", StartZookeeper}, {"consul", StartConsul}};
  int rc = 0;
  for (const auto& [name, start] : all) {
    if (which != "all" && which != name) continue;
    absl::StatusOr<Backend> backend = start();
    if (!backend.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), backend.status().ToString().c_str());
      rc = 1;
      continue;
    }
    rc |= Run(*backend, iterations);
  }
  return rc;
}

}  // namespace
}  // namespace promconf

int main(int argc, char** argv) { return promconf::Main(argc, argv); }
