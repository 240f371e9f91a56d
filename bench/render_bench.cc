// render_bench: DocumentStore -> OutputReconciler -> files on disk, for N
// documents (issue #3 targets: one ConfigMap change -> file on disk p99 <=
// 10 ms; 10,000 ConfigMaps x 3 keys of ~2 KiB rendered in <= 3 s).
//
// Usage: render_bench [N ...]   (default 1000 10000 30000)
// The output tree lives in a fresh directory under /tmp (a real filesystem,
// so fsync costs what it costs) and is removed afterwards.
//
// Mix: 80% .rules.yml (one small group, ~2 KiB), 10% .scrape.yml (unique job
// names), 10% .targets.json. Each change upserts a new version of one
// document (rules, scrape or targets in the same proportions) and times
// Upsert + Reconcile, i.e. until the rendered file is renamed into place and
// durable. parse_ms is ParseFragment alone over every document (the floor of
// a first render on one thread).

#include "bench/bench_report.h"
#include "absl/strings/str_cat.h"
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "informers/document_store.h"
#include "reconcile/fragment.h"
#include "reconcile/output_reconciler.h"
#include "util/log.h"

namespace promconf {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string DocName(int i) {
  int kind = i % 10;
  std::string ns = absl::StrFormat("team-%03d", i % 97);
  std::string cm = absl::StrFormat("cm-%06d", i);
  if (kind < 8) return absl::StrCat(ns, "/", cm, "/app.rules.yml");
  if (kind == 8) return absl::StrCat(ns, "/", cm, "/app.scrape.yml");
  return absl::StrCat(ns, "/", cm, "/app.targets.json");
}

std::string DocData(int i, int version) {
  int kind = i % 10;
  if (kind < 8) {
    std::string s = absl::StrFormat("groups:\n- name: g-%06d\n  rules:\n", i);
    for (int r = 0; r < 8; ++r) {
      absl::StrAppendFormat(&s,
                            "  - alert: HighErrorRate%d\n"
                            "    expr: sum by (job) (rate(http_requests_total{code=~\"5..\",cm=\"%06d\"}[5m])) > %d\n"
                            "    for: 10m\n"
                            "    labels:\n      severity: page\n"
                            "    annotations:\n      summary: \"{{ $labels.job }} errors v%d\"\n",
                            r, i, r + 1, version);
    }
    return s;
  }
  if (kind == 8) {
    return absl::StrFormat(
        "job_name: job-%06d\nscrape_interval: 15s\nstatic_configs:\n- targets: ['10.0.%d.%d:%d']\n",
        i, (i / 250) % 250, i % 250, 8000 + version % 1000);
  }
  return absl::StrFormat("[{\"targets\": [\"10.1.%d.%d:9100\"], \"labels\": {\"v\": \"%d\"}}]\n",
                         (i / 250) % 250, i % 250, version);
}

Document MakeDoc(int i, int version) {
  Document d;
  d.name = DocName(i);
  d.data = DocData(i, version);
  return d;
}

struct Row {
  int n = 0;
  double parse_ms = 0;  // ParseFragment alone over all documents, for scale
  double first_ms = 0, nochange_ms = 0, p50 = 0, p99 = 0, max = 0;
  uint64_t writes = 0;
  uint64_t bytes = 0;  // the documents' bytes
};

Row RunOne(int n) {
  Row row;
  row.n = n;
  std::string tmpl = "/tmp/render_bench.XXXXXX";
  std::string dir = mkdtemp(tmpl.data());

  DocumentStore store({"kube"});
  std::vector<Document> docs;
  docs.reserve(n);
  for (int i = 0; i < n; ++i) {
    docs.push_back(MakeDoc(i, 0));
    row.bytes += docs.back().data.size();
  }
  store.ReplacePrefix("kube", "", std::move(docs));

  {
    auto snap = store.Snapshot();
    ValidationOptions v;
    auto tp = Clock::now();
    for (const auto& stored : snap->sources[0].docs) {
      absl::StatusOr<Fragment> f = ParseFragment("kube", stored->doc, v);
      if (!f.ok()) fprintf(stderr, "parse failed: %s\n", std::string(f.status().message()).c_str());
    }
    row.parse_ms = Ms(Clock::now() - tp);
  }

  OutputOptions o;
  o.dir = dir + "/out";
  OutputReconciler rec(&store, o);

  auto t0 = Clock::now();
  runtime::ReconcileResult r = rec.Reconcile("all");
  row.first_ms = Ms(Clock::now() - t0);
  if (!r.status.ok()) fprintf(stderr, "first render failed: %s\n", std::string(r.status.message()).c_str());

  t0 = Clock::now();
  r = rec.Reconcile("all");
  row.nochange_ms = Ms(Clock::now() - t0);

  std::mt19937 rng(42);
  std::vector<double> lat;
  for (int k = 0; k < 200; ++k) {
    int i = static_cast<int>(rng() % static_cast<uint32_t>(n));
    auto t = Clock::now();
    store.Upsert("kube", MakeDoc(i, k + 1));
    r = rec.Reconcile("all");
    lat.push_back(Ms(Clock::now() - t));
    if (!r.status.ok()) fprintf(stderr, "change failed: %s\n", std::string(r.status.message()).c_str());
  }
  std::sort(lat.begin(), lat.end());
  row.p50 = lat[lat.size() / 2];
  row.p99 = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
  row.max = lat.back();
  row.writes = rec.writes();
  std::filesystem::remove_all(dir);
  return row;
}

}  // namespace
}  // namespace promconf

int main(int argc, char** argv) {
  promconf::SetLogLevel(promconf::LogLevel::kError);
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(atoi(argv[i]));
  if (sizes.empty()) sizes = {1000, 10000, 30000};
  printf("%8s %10s %12s %12s %10s %10s %10s %8s\n", "docs", "parse_ms", "first_ms", "nochange_ms", "chg_p50", "chg_p99",
         "chg_max", "writes");
  for (int n : sizes) {
    promconf::Row row = promconf::RunOne(n);
    printf("%8d %10.1f %12.1f %12.3f %10.3f %10.3f %10.3f %8llu\n", row.n, row.parse_ms, row.first_ms, row.nochange_ms,
           row.p50, row.p99, row.max, static_cast<unsigned long long>(row.writes));
    fflush(stdout);
    const std::string key = absl::StrCat("render.", n, "_docs.");
    promconf::BenchResult(key + "first_render_ms", row.first_ms);
    promconf::BenchResult(key + "first_render_mb_per_s", row.bytes / 1e6 / (row.first_ms / 1e3));
    promconf::BenchResult(key + "parse_mb_per_s", row.bytes / 1e6 / (row.parse_ms / 1e3));
    promconf::BenchResult(key + "one_change_p99_ms", row.p99);
  }
  return 0;
}
