// The PromQL corpus against the installed promtool (Debian's 2.42): every
// expression goes into a rule file (one group per expression, a few files,
// one promtool run) and promtool's verdict and error must equal what
// promconf's parser says for 2.42, which the corpus also records. Skips when
// promtool is missing or is not 2.42 (other releases differ in wording and
// in what they accept; the corpus models 2.42 and 3.14).

// GCC 12 at -O1 with ASan reports a false maybe-uninitialized inside
// libstdc++'s <regex> (std::function in its NFA states).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "reconcile/promql/promql.h"
#include "reconcile/promtool.h"

namespace promconf::promql {
namespace {

struct Record {
  int line;
  std::string verdict_242;
  std::string expr;
};

std::vector<Record> LoadCorpus() {
  std::ifstream in(std::string(PROMCONF_SOURCE_DIR) + "/tests/data/promql_corpus.tsv");
  std::vector<Record> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits('\t', 2));
    if (f.size() == 3) out.push_back({n, f[0], f[2]});
  }
  return out;
}

std::string PromtoolVersion(const std::string& promtool) {
  std::string cmd = absl::StrCat("'", promtool, "' --version 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "";
  char buf[256] = {0};
  size_t n = fread(buf, 1, sizeof(buf) - 1, p);
  pclose(p);
  return std::string(buf, n);
}

TEST(PromqlPromtoolTest, CorpusVerdictsEqualPromtool242) {
  std::string promtool = FindPromtool();
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed";
  if (!absl::StrContains(PromtoolVersion(promtool), "version 2.42.")) {
    GTEST_SKIP() << "promtool is not 2.42: " << PromtoolVersion(promtool);
  }
  std::vector<Record> corpus = LoadCorpus();
  ASSERT_GE(corpus.size(), 500u);

  // A few files of many groups each: promtool reports every rule's error.
  constexpr size_t kPerFile = 300;
  std::vector<std::string> files;
  for (size_t i = 0; i < corpus.size(); ++i) {
    if (i % kPerFile == 0) files.push_back("groups:\n");
    // GoQuote's escapes (\\ \" \t \n \xNN \uNNNN) are YAML double-quoted
    // escapes too.
    absl::StrAppend(&files.back(), "- name: g", i, "\n  rules:\n  - alert: A", i,
                    "\n    expr: ", GoQuote(corpus[i].expr), "\n");
  }
  std::vector<absl::string_view> views(files.begin(), files.end());
  absl::StatusOr<std::vector<std::string>> verdicts = PromtoolCheckRules(promtool, views);
  ASSERT_TRUE(verdicts.ok()) << verdicts.status();
  ASSERT_EQ(verdicts->size(), files.size());

  // promtool's verdict per group: the parse error, or "ok".
  std::vector<std::string> theirs(corpus.size(), "ok");
  // PromtoolCheckRules joins a file's messages with "; ".
  std::regex rule_error(
      R"re(group "g(\d+)", rule 1, "A\d+": (?:could not parse expression: )?(.*?)(?=; \d+:\d+: group "g|$))re");
  for (const std::string& out : *verdicts) {
    for (std::sregex_iterator it(out.begin(), out.end(), rule_error), end; it != end; ++it) {
      size_t g = std::stoul((*it)[1].str());
      if (g < theirs.size()) theirs[g] = (*it)[2].str();
    }
  }

  ParseOptions o;
  o.version = {2, 42};
  int disagreements = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    ParseError err;
    auto e = ParseExpr(corpus[i].expr, o, &err);
    std::string mine = e.ok() ? "ok" : err.ToString();
    if (mine != theirs[i]) {
      ++disagreements;
      ADD_FAILURE() << "corpus line " << corpus[i].line << " `" << corpus[i].expr
                    << "`: promconf says " << mine << "; promtool says " << theirs[i];
    }
    EXPECT_EQ(theirs[i], corpus[i].verdict_242)
        << "corpus line " << corpus[i].line << ": recorded verdict is stale";
  }
  EXPECT_EQ(disagreements, 0);
}

}  // namespace
}  // namespace promconf::promql
