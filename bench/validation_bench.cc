// validation_bench: ParseFragment (read, bound, validate, emit) over the
// worst shapes we know how to build, in MB/s of input. Work must be linear
// in the input: the MB/s of a shape should not fall as it grows (issue 8:
// a 900 KB fragment of long keys 60 levels deep over 250k items once took
// 543 s, because a key-path string was built for every node).
//
// Usage: validation_bench   (prints one row per shape and size)

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "reconcile/fragment.h"

namespace promconf {
namespace {

using Clock = std::chrono::steady_clock;

struct Shape {
  const char* name;
  const char* doc_name;
  std::function<std::string(int)> make;  // scale -> document
};

// 60 levels of maps under long keys (inside an SD config, whose contents
// this schema does not check), then `items` list items at the bottom.
std::string DeepLongKeys(int items) {
  std::string s = "job_name: deep\ndns_sd_configs:\n- ";
  std::string indent = "  ";
  const std::string key(4000, 'k');
  for (int level = 0; level < 60; ++level) {
    absl::StrAppend(&s, level ? indent : "", key, level, ":\n");
    indent += "  ";
  }
  for (int i = 0; i < items; ++i) absl::StrAppend(&s, indent, "- x\n");
  return s;
}

// Issue 8's shape: an anchored key reused as the key of 60 nested levels,
// then `items` list items. (Issue 8 used 400 KB; YAML caps an implicit key
// at 1024 characters, yaml-cpp refuses longer ones, so 1000 here.)
std::string AnchoredKeyDeep(int items) {
  std::string s = absl::StrCat("job_name: a\ndns_sd_configs:\n- &k ", std::string(1000, 'k'), ":\n");
  std::string indent = "    ";
  for (int level = 1; level < 60; ++level) {
    absl::StrAppend(&s, indent, "*k :\n");
    indent += "  ";
  }
  for (int i = 0; i < items; ++i) absl::StrAppend(&s, indent, "- x\n");
  return s;
}

std::string FlowTargets(int items) {
  std::string s = "- targets: [";
  for (int i = 0; i < items; ++i) absl::StrAppend(&s, i ? "," : "", "a");
  s.append("]\n");
  return s;
}

std::string BlockParams(int items) {
  std::string s = "job_name: p\nparams:\n  x:\n";
  for (int i = 0; i < items; ++i) s.append("  - a\n");
  return s;
}

std::string WideLabels(int items) {
  std::string s = "- targets: [a]\n  labels:\n";
  for (int i = 0; i < items; ++i) absl::StrAppend(&s, "    l", i, ": v\n");
  return s;
}

std::string ManyRules(int rules) {
  std::string s = "groups:\n- name: g\n  rules:\n";
  for (int i = 0; i < rules; ++i) {
    absl::StrAppend(&s, "  - alert: A", i, "\n    expr: sum by (job) (rate(x_total{a=\"b\"}[5m])) > ", i,
                    "\n    for: 5m\n    labels:\n      severity: page\n    annotations:\n      summary: \"{{ $labels.job }}\"\n");
  }
  return s;
}

// Flow style (yaml-cpp path) with a big anchor aliased under long keys.
std::string AliasedKeys(int items) {
  std::string s = absl::StrCat("job_name: a\nparams:\n  big: &k [\"", std::string(400, 'v'), "\"]\n");
  for (int i = 0; i < items; ++i) absl::StrAppend(&s, "  p", i, ": *k\n");
  return s;
}

std::string LaughsBomb(int levels) {
  std::string s = "job_name: bomb\nparams:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < levels; ++i) {
    absl::StrAppend(&s, "  l", i, ": &l", i, " [");
    for (int k = 0; k < 10; ++k) absl::StrAppend(&s, k ? ", " : "", "*l", i - 1);
    s.append("]\n");
  }
  return s;
}

void Run() {
  const std::vector<Shape> shapes = {
      {"deep_long_keys (60 x 4 KB keys, N items)", "d.scrape.yml", DeepLongKeys},
      {"anchored_key_60_deep (issue 8)", "i.scrape.yml", [](int n) { return AnchoredKeyDeep(n / 10); }},
      {"flow_targets (N items on one line)", "t.targets.yml", FlowTargets},
      {"block_params (N list items)", "p.scrape.yml", BlockParams},
      {"wide_labels (N keys in one map)", "w.targets.yml", WideLabels},
      {"many_rules (N/10 rules)", "r.rules.yml", [](int n) { return ManyRules(n / 10); }},
      {"aliased_values (N/100 aliases of 400 B)", "a.scrape.yml", [](int n) { return AliasedKeys(n / 100); }},
      {"billion_laughs (rejected)", "b.scrape.yml", [](int) { return LaughsBomb(12); }},
  };
  ValidationOptions options;
  options.max_fragment_bytes = 256 << 20;
  std::printf("%-44s %10s %10s %10s  %s\n", "shape", "N", "bytes", "MB/s", "outcome");
  for (const Shape& shape : shapes) {
    for (int n : {25000, 250000}) {
      Document doc;
      doc.name = shape.doc_name;
      doc.data = shape.make(n);
      int reps = 0;
      std::string outcome;
      const Clock::time_point start = Clock::now();
      Clock::duration elapsed{};
      do {
        absl::StatusOr<Fragment> f = ParseFragment("bench", doc, options);
        outcome = f.ok() ? "accepted" : std::string(f.status().message()).substr(0, 70);
        ++reps;
        elapsed = Clock::now() - start;
      } while (elapsed < std::chrono::milliseconds(300) && reps < 1000);
      const double seconds = std::chrono::duration<double>(elapsed).count() / reps;
      std::printf("%-44s %10d %10zu %10.1f  %s\n", shape.name, n, doc.data.size(),
                  doc.data.size() / seconds / 1e6, outcome.c_str());
      std::fflush(stdout);
    }
  }
}

}  // namespace
}  // namespace promconf

int main() {
  promconf::Run();
  return 0;
}
