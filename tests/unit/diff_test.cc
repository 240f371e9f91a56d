#include "util/diff.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace promconf {
namespace {

TEST(UnifiedDiffTest, Hunks) {
  std::string a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
  std::string b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n";
  EXPECT_EQ(UnifiedDiff("f", &a, &b),
            "--- a/f\n+++ b/f\n@@ -2,9 +2,10 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n 10\n+11\n");
  EXPECT_EQ(UnifiedDiff("f", &a, &a), "");
  std::string one = "x\n";
  EXPECT_EQ(UnifiedDiff("f", nullptr, &one), "--- /dev/null\n+++ b/f\n@@ -0,0 +1,1 @@\n+x\n");
  EXPECT_EQ(UnifiedDiff("f", &one, nullptr), "--- a/f\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-x\n");
  EXPECT_EQ(UnifiedDiff("f", nullptr, nullptr), "");
}

// Changes more than 2 x 3 context lines apart are separate hunks.
TEST(UnifiedDiffTest, DistantChangesAreSeparateHunks) {
  std::string a, b;
  for (int i = 1; i <= 20; ++i) {
    absl::StrAppend(&a, i, "\n");
    absl::StrAppend(&b, i == 2 || i == 19 ? "x" : absl::StrCat(i), "\n");
  }
  EXPECT_EQ(UnifiedDiff("f", &a, &b),
            "--- a/f\n+++ b/f\n"
            "@@ -1,5 +1,5 @@\n 1\n-2\n+x\n 3\n 4\n 5\n"
            "@@ -16,5 +16,5 @@\n 16\n 17\n 18\n-19\n+x\n 20\n");
}

// Applies a diff UnifiedDiff printed to `before`'s lines: the reference the
// generated cases are checked against (what `patch` would do).
std::string Apply(const std::string& before, const std::string& diff) {
  std::vector<std::string> a;
  if (!before.empty()) a = absl::StrSplit(before, '\n');
  if (!a.empty()) a.pop_back();  // the text ends in '\n'
  std::vector<std::string> out;
  size_t next = 0;  // first line of `a` not yet copied
  std::vector<std::string> lines = absl::StrSplit(diff, '\n');
  for (size_t i = 2; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.rfind("@@ -", 0) == 0) {
      std::vector<std::string> f = absl::StrSplit(l.substr(4), absl::ByAnyChar(", +"), absl::SkipEmpty());
      size_t start = 0, count = 0;
      EXPECT_TRUE(absl::SimpleAtoi(f[0], &start) && absl::SimpleAtoi(f[1], &count)) << l;
      const size_t first = count == 0 ? start : start - 1;
      while (next < first) out.push_back(a[next++]);
    } else if (!l.empty() && l[0] == ' ') {
      EXPECT_EQ(a.at(next), l.substr(1));
      out.push_back(a[next++]);
    } else if (!l.empty() && l[0] == '-') {
      EXPECT_EQ(a.at(next), l.substr(1));
      ++next;
    } else if (!l.empty() && l[0] == '+') {
      out.push_back(l.substr(1));
    }
  }
  while (next < a.size()) out.push_back(a[next++]);
  std::string text;
  for (const std::string& l : out) absl::StrAppend(&text, l, "\n");
  return text;
}

std::string RandomText(std::mt19937* rng, int max_lines) {
  std::uniform_int_distribution<int> lines(0, max_lines), word(0, 4);
  std::string s;
  for (int n = lines(*rng); n > 0; --n) absl::StrAppend(&s, "line", word(*rng), "\n");
  return s;
}

// Whatever the inputs, the hunks turn `before` into `after`.
TEST(UnifiedDiffTest, HunksReproduceTheNewTextOnGeneratedInputs) {
  std::mt19937 rng(12);
  for (int round = 0; round < 2000; ++round) {
    const std::string a = RandomText(&rng, 30), b = RandomText(&rng, 30);
    const std::string d = UnifiedDiff("f", &a, &b);
    if (a == b) {
      EXPECT_EQ(d, "");
      continue;
    }
    EXPECT_EQ(Apply(a, d), b) << "before:\n" << a << "after:\n" << b << "diff:\n" << d;
  }
}

// A middle too large for the LCS table is shown replaced whole, still
// correct.
TEST(UnifiedDiffTest, LargeMiddleIsReplacedWhole) {
  std::string a = "head\n", b = "head\n";
  for (int i = 0; i < 2100; ++i) {
    absl::StrAppend(&a, "a", i, "\n");
    absl::StrAppend(&b, "b", i, "\n");
  }
  absl::StrAppend(&a, "tail\n");
  absl::StrAppend(&b, "tail\n");
  const std::string d = UnifiedDiff("f", &a, &b);
  EXPECT_EQ(d.substr(0, 37), "--- a/f\n+++ b/f\n@@ -1,2102 +1,2102 @@");
  EXPECT_EQ(Apply(a, d), b);
}

}  // namespace
}  // namespace promconf
