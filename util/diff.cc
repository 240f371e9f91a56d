#include "util/diff.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace promconf {
namespace {

std::vector<absl::string_view> SplitLines(const std::string& s) {
  std::vector<absl::string_view> lines;
  if (s.empty()) return lines;
  lines = absl::StrSplit(s, '\n');
  if (!s.empty() && s.back() == '\n') lines.pop_back();
  return lines;
}

}  // namespace

std::string UnifiedDiff(absl::string_view path, const std::string* before, const std::string* after) {
  static const std::string kEmpty;
  const std::string& a_text = before ? *before : kEmpty;
  const std::string& b_text = after ? *after : kEmpty;
  if (before && after && a_text == b_text) return "";
  if (!before && !after) return "";
  std::vector<absl::string_view> a = SplitLines(a_text), b = SplitLines(b_text);

  // Edit script: common prefix and suffix, then an LCS table for the middle
  // when it is small enough, otherwise "replace the middle".
  size_t pre = 0;
  while (pre < a.size() && pre < b.size() && a[pre] == b[pre]) ++pre;
  size_t suf = 0;
  while (suf < a.size() - pre && suf < b.size() - pre &&
         a[a.size() - 1 - suf] == b[b.size() - 1 - suf]) {
    ++suf;
  }
  struct Op {
    char kind;  // ' ', '-', '+'
    size_t ai, bi;
  };
  std::vector<Op> ops;
  for (size_t i = 0; i < pre; ++i) ops.push_back({' ', i, i});
  size_t n = a.size() - pre - suf, m = b.size() - pre - suf;
  if (n * m <= 4000000) {
    std::vector<std::vector<uint32_t>> lcs(n + 1, std::vector<uint32_t>(m + 1, 0));
    for (size_t i = n; i-- > 0;) {
      for (size_t j = m; j-- > 0;) {
        lcs[i][j] = a[pre + i] == b[pre + j] ? lcs[i + 1][j + 1] + 1
                                             : std::max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    size_t i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[pre + i] == b[pre + j]) {
        ops.push_back({' ', pre + i++, pre + j++});
      } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
        ops.push_back({'-', pre + i++, pre + j});
      } else {
        ops.push_back({'+', pre + i, pre + j++});
      }
    }
  } else {
    for (size_t i = 0; i < n; ++i) ops.push_back({'-', pre + i, pre});
    for (size_t j = 0; j < m; ++j) ops.push_back({'+', pre + n, pre + j});
  }
  for (size_t k = 0; k < suf; ++k) ops.push_back({' ', pre + n + k, pre + m + k});

  std::string out = absl::StrCat(before ? absl::StrCat("--- a/", path) : "--- /dev/null", "\n",
                                 after ? absl::StrCat("+++ b/", path) : "+++ /dev/null", "\n");
  constexpr size_t kContext = 3;
  size_t k = 0;
  while (k < ops.size()) {
    if (ops[k].kind == ' ') {
      ++k;
      continue;
    }
    size_t start = k >= kContext ? k - kContext : 0;
    // Extend while the next change is within 2*context lines.
    size_t end = k;
    size_t last_change = k;
    while (end < ops.size()) {
      if (ops[end].kind != ' ') last_change = end;
      if (end - last_change > 2 * kContext) break;
      ++end;
    }
    end = std::min(ops.size(), last_change + kContext + 1);
    size_t a_start = ops[start].ai, b_start = ops[start].bi, a_count = 0, b_count = 0;
    std::string body;
    for (size_t x = start; x < end; ++x) {
      const Op& op = ops[x];
      absl::string_view line = op.kind == '+' ? b[op.bi] : a[op.ai];
      body.push_back(op.kind);
      body.append(line.data(), line.size());
      body.push_back('\n');
      if (op.kind != '+') ++a_count;
      if (op.kind != '-') ++b_count;
    }
    absl::StrAppend(&out, "@@ -", a_count == 0 ? a_start : a_start + 1, ",", a_count, " +",
                    b_count == 0 ? b_start : b_start + 1, ",", b_count, " @@\n", body);
    k = end;
  }
  return out;
}

}  // namespace promconf
