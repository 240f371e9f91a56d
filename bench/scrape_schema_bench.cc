// Validation throughput of the scrape schema (reconcile/prometheus/) over
// YamlSubsetNode trees, parse excluded: a typical 2 KiB fragment and the
// worst shapes for the walker (wide lists, many relabel regexes to compile,
// wide maps). Prints MB/s of fragment text validated.

#include <optional>
#include <string>

#include <benchmark/benchmark.h>

#include "absl/strings/str_cat.h"
#include "reconcile/fragment.h"
#include "reconcile/prometheus/scrape_schema.h"
#include "reconcile/yaml_subset.h"

namespace promconf::prom {
namespace {

std::string Typical() {
  std::string y =
      "job_name: team-a-pods\nscrape_interval: 30s\nscrape_timeout: 10s\nsample_limit: 10000\n"
      "kubernetes_sd_configs:\n  - role: pod\n    namespaces:\n      names: [team-a]\n"
      "authorization:\n  credentials: abc\ntls_config:\n  insecure_skip_verify: false\n"
      "  min_version: TLS12\nrelabel_configs:\n";
  for (int i = 0; i < 12; ++i) {
    absl::StrAppend(&y, "  - source_labels: [__meta_kubernetes_pod_label_app", i,
                    "]\n    regex: '(api|web|worker)-", i, "'\n    target_label: app_", i, "\n");
  }
  y += "metric_relabel_configs:\n  - source_labels: [__name__]\n    regex: 'go_gc_.*'\n"
       "    action: drop\n";
  return y;
}

std::string WideTargets() {
  std::string y = "job_name: wide\nstatic_configs:\n  - targets:\n";
  while (y.size() < (1 << 20)) absl::StrAppend(&y, "      - host-", y.size(), ".example:9100\n");
  return y;
}

std::string ManyRegexes() {
  std::string y = "job_name: regexes\nmetric_relabel_configs:\n";
  for (int i = 0; y.size() < (1 << 20); ++i) {
    absl::StrAppend(&y, "  - source_labels: [__name__]\n    regex: '(foo|bar)_", i,
                    "_[a-z]+_total'\n    action: drop\n");
  }
  return y;
}

std::string WideParams() {
  std::string y = "job_name: params\nparams:\n";
  for (int i = 0; y.size() < (1 << 20); ++i) absl::StrAppend(&y, "  p", i, ": [a, b, c]\n");
  return y;
}

void Run(benchmark::State& state, const std::string& yaml) {
  std::optional<YamlSubsetNode> root = ParseYamlSubset(yaml);
  if (!root) {
    state.SkipWithError("outside the YAML subset");
    return;
  }
  ScrapeCheckOptions options;
  for (auto _ : state) {
    absl::Status s = CheckScrapeConfig(*root, options);
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * yaml.size()));
}

void BM_Typical2KiB(benchmark::State& state) { Run(state, Typical()); }
void BM_WideTargets1MiB(benchmark::State& state) { Run(state, WideTargets()); }
void BM_ManyRegexes1MiB(benchmark::State& state) { Run(state, ManyRegexes()); }
void BM_WideParams1MiB(benchmark::State& state) { Run(state, WideParams()); }
BENCHMARK(BM_Typical2KiB);
BENCHMARK(BM_WideTargets1MiB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ManyRegexes1MiB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WideParams1MiB)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace promconf::prom

BENCHMARK_MAIN();
