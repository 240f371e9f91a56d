// The differential half of tests/data/scrape_corpus: every case Debian's
// build supports (not "# upstream-only") goes through the installed
// `promtool check config --syntax-only` (Prometheus 2.42), in batches of 25
// files per process, and its verdict must equal the case's "# expect:" --
// the verdict tests/unit/prometheus/scrape_corpus_test.cc asserts for the
// schema. Skipped when promtool is not installed.

#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/fakes/temp_dir.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;

bool HavePromtool() { return system("command -v promtool >/dev/null 2>&1") == 0; }

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs one bounded promtool process over `files` (in `dir`) and returns its
// output.
std::string RunPromtool(const fs::path& dir, const std::vector<std::string>& files) {
  std::string cmd = absl::StrCat("cd '", dir.string(),
                                 "' && timeout 120 promtool check config --syntax-only");
  for (const std::string& f : files) absl::StrAppend(&cmd, " '", f, "'");
  cmd += " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(ScrapeCorpusPromtool, DebianPromtoolAgreesWithTheCorpus) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed";
  const fs::path corpus = fs::path(PROMCONF_SOURCE_DIR) / "tests/data/scrape_corpus";
  TempDir tmp;
  std::map<std::string, bool> want;  // file -> valid on 2.42
  for (const auto& e : fs::directory_iterator(corpus)) {
    if (e.path().extension() != ".yml") continue;
    const std::string text = ReadFile(e.path());
    if (absl::StrContains(text, "# upstream-only:")) continue;
    const std::string name = e.path().filename().string();
    want[name] = absl::StrContains(text, "# expect: valid\n");
    fs::copy_file(e.path(), fs::path(tmp.path()) / name);
  }
  ASSERT_GE(want.size(), 100u);
  std::vector<std::string> names;
  for (const auto& [n, v] : want) names.push_back(n);
  std::map<std::string, std::string> verdicts;  // file -> promtool's block
  for (size_t i = 0; i < names.size(); i += 25) {
    std::vector<std::string> batch(names.begin() + i,
                                   names.begin() + std::min(names.size(), i + 25));
    const std::string out = RunPromtool(tmp.path(), batch);
    // "Checking <file>\n  SUCCESS: ..." / "  FAILED: ..." per file.
    std::string current;
    for (absl::string_view line : absl::StrSplit(out, '\n')) {
      if (absl::StartsWith(line, "Checking ")) {
        current = std::string(line.substr(9));
        continue;
      }
      if (!current.empty()) absl::StrAppend(&verdicts[current], line, "\n");
    }
  }
  int checked = 0;
  for (const auto& [name, valid] : want) {
    auto it = verdicts.find(name);
    ASSERT_NE(it, verdicts.end()) << "promtool said nothing about " << name;
    const bool promtool_valid =
        absl::StrContains(it->second, "SUCCESS") && !absl::StrContains(it->second, "FAILED");
    EXPECT_EQ(promtool_valid, valid) << name << ": promtool says:\n" << it->second;
    ++checked;
  }
  EXPECT_GE(checked, 100);
}

}  // namespace
}  // namespace promconf
