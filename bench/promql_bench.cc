// promql_bench: PromQL parse throughput (issue 9 point 10: "PromQL parse
// MB/s"), printed as a table.
//
// Usage: promql_bench
// Rows: the corpus (tests/data/promql_corpus.tsv, every record, valid and
// invalid) at 2.42 and 3.14; its valid records only; a large synthetic rule
// expression (~100 KiB: 400 alert-style terms joined by `or`); a flat
// selector with 20,000 matchers; and print + enforce over the valid corpus.
// Each row repeats its work for at least half a second of this thread's CPU
// time, and rates are per CPU second: on a shared machine wall-clock rates
// say more about the neighbours than about the parser.

#include <time.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "reconcile/promql/promql.h"

namespace promconf::promql {
namespace {

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::vector<std::string> LoadCorpus(bool valid_only) {
  std::ifstream in(std::string(PROMCONF_SOURCE_DIR) + "/tests/data/promql_corpus.tsv");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits('\t', 2));
    if (f.size() != 3) continue;
    if (valid_only && f[1] != "ok") continue;
    out.push_back(f[2]);
  }
  return out;
}

template <typename F>
void Row(const char* name, size_t bytes_per_iter, size_t exprs_per_iter, F&& body) {
  size_t iters = 0;
  const double start = CpuSeconds();
  double secs = 0;
  do {
    body();
    ++iters;
    secs = CpuSeconds() - start;
  } while (secs < 0.5);
  double mb = static_cast<double>(bytes_per_iter) * iters / (1024.0 * 1024.0);
  double us_per_expr = secs * 1e6 / (static_cast<double>(exprs_per_iter) * iters);
  std::printf("%-44s %10.1f MB/s %12.2f us/expr %10zu bytes\n", name, mb / secs, us_per_expr,
              bytes_per_iter);
}

size_t Bytes(const std::vector<std::string>& v) {
  size_t n = 0;
  for (const auto& s : v) n += s.size();
  return n;
}

int Main() {
  std::vector<std::string> all = LoadCorpus(false);
  std::vector<std::string> valid = LoadCorpus(true);
  if (all.empty()) {
    std::fprintf(stderr, "promql_bench: corpus not found\n");
    return 1;
  }
  std::printf("%-44s %15s %20s %16s\n", "workload", "throughput", "latency", "input");
  size_t ok = 0;
  for (Version v : {Version{2, 42}, kNewestVersion}) {
    ParseOptions o;
    o.version = v;
    Row(absl::StrCat("parse corpus (", all.size(), " exprs) @", VersionString(v)).c_str(),
        Bytes(all), all.size(), [&] {
          for (const auto& s : all) ok += ParseExpr(s, o).ok();
        });
  }
  Row(absl::StrCat("parse valid corpus (", valid.size(), " exprs)").c_str(), Bytes(valid),
      valid.size(), [&] {
        for (const auto& s : valid) ok += ParseExpr(s).ok();
      });

  std::string synthetic;
  for (int i = 0; i < 400; ++i) {
    if (i > 0) synthetic += " or ";
    absl::StrAppend(&synthetic, "sum by (namespace, job) (rate(http_requests_total{job=\"api-", i,
                    "\",code=~\"5..\",namespace!=\"kube-system\"}[5m])) / sum by (namespace, job) "
                    "(rate(http_requests_total{job=\"api-", i, "\"}[5m])) > 0.05");
  }
  Row("parse synthetic expression (400 terms)", synthetic.size(), 1,
      [&] { ok += ParseExpr(synthetic).ok(); });

  std::string flat = "up{";
  for (int i = 0; i < 20000; ++i) absl::StrAppend(&flat, "label_", i, "=\"value\",");
  flat += "}";
  Row("parse selector with 20,000 matchers", flat.size(), 1, [&] { ok += ParseExpr(flat).ok(); });

  std::vector<std::unique_ptr<Expr>> parsed;
  for (const auto& s : valid) parsed.push_back(*ParseExpr(s));
  size_t printed_bytes = 0;
  for (const auto& e : parsed) printed_bytes += Print(*e).size();
  Row("print valid corpus", printed_bytes, parsed.size(), [&] {
    for (const auto& e : parsed) ok += Print(*e).size();
  });
  Row("parse + enforce namespace + print (valid)", Bytes(valid), valid.size(), [&] {
    for (const auto& s : valid) {
      auto e = ParseExpr(s);
      EnforceLabel(**e, "namespace", "team-a");
      ok += Print(**e).size();
    }
  });
  std::printf("(checksum %zu)\n", ok);
  return 0;
}

}  // namespace
}  // namespace promconf::promql

int main() { return promconf::promql::Main(); }
