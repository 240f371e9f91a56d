#pragma once

// One figure of a benchmark, for `make bench`'s table and
// build/bench/results.json: a flat key with its unit in the name
// ("etcd.put_to_file.p99_ms") and a value. Printed as "RESULT key value" on
// stdout, and appended to $PROMCONF_BENCH_RESULTS when set (hack/bench.sh
// collects them).

#include <cstdio>
#include <cstdlib>
#include <string>

namespace promconf {

inline void BenchResult(const std::string& key, double value) {
  std::printf("RESULT %s %.6g\n", key.c_str(), value);
  std::fflush(stdout);
  if (const char* path = std::getenv("PROMCONF_BENCH_RESULTS"); path != nullptr && *path != '\0') {
    if (FILE* f = std::fopen(path, "a"); f != nullptr) {
      std::fprintf(f, "%s %.6g\n", key.c_str(), value);
      std::fclose(f);
    }
  }
}

}  // namespace promconf
