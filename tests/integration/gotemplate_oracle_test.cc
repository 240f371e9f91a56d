// The C++ template parser against the real thing:
//  - Go's own text/template (Debian's Go 1.19, the release Prometheus 2.42
//    was built with), through tests/integration/gotemplate_oracle/main.go
//    with a function map stub of the same names: the corpus, every
//    truncation of it, and seeded random mutations must get the same
//    verdict from both;
//  - Debian's promtool 2.42: each corpus template as an alert annotation in
//    its own rule file; `promtool check rules` must accept exactly the valid
//    ones.
// Skips when go or promtool is not installed.

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "reconcile/gotemplate/template.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/temp_dir.h"
#include "tests/unit/gotemplate_corpus.h"

namespace promconf::gotemplate {
namespace {

const PrometheusVersion kDebian{2, 42};

bool Have(const char* tool) {
  return system(absl::StrCat("command -v ", tool, " >/dev/null 2>&1").c_str()) == 0;
}

// Runs `cmd` (stdout and stderr captured); returns the exit code.
int RunCommand(const std::string& cmd, std::string* output) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string BuildOracle(const std::string& dir) {
  std::string bin = dir + "/gotemplate_oracle";
  std::string out;
  int rc = RunCommand(absl::StrCat("cd '", dir, "' && GOCACHE='", dir,
                            "/gocache' GOPATH=/usr/share/gocode GO111MODULE=off go build -o '",
                            bin, "' '", PROMCONF_SOURCE_DIR,
                            "/tests/integration/gotemplate_oracle/main.go'"),
               &out);
  if (rc != 0) {
    ADD_FAILURE() << "go build: " << out;
    return "";
  }
  return bin;
}

// Go's verdicts ("ok" or "err <message>") for `texts`, parsed as Prometheus
// 2.42 parses alert templates.
std::vector<std::string> OracleVerdicts(const std::string& bin, const std::string& dir,
                                        const std::vector<std::string>& texts,
                                        bool preamble = true) {
  std::string input;
  for (const std::string& t : texts) absl::StrAppend(&input, t.size(), "\n", t);
  std::string in_path = dir + "/oracle.in";
  std::ofstream(in_path, std::ios::binary) << input;
  std::string funcs;
  for (const TemplateFunction& f : AllTemplateFunctions()) {
    if (f.go_builtin || !kDebian.AtLeast(f.since_major, f.since_minor)) continue;
    absl::StrAppend(&funcs, funcs.empty() ? "" : ",", f.name);
  }
  std::string out;
  int rc = RunCommand(absl::StrCat("'", bin, "' -preamble=", preamble ? "true" : "false",
                                  " -name=", testing::kCorpusTemplateName, " -funcs=", funcs, " < '", in_path, "'"), &out);
  EXPECT_EQ(rc, 0) << out.substr(0, 2000);
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  return lines;
}

// Truncations and seeded random edits of the corpus, biased towards the
// template syntax, so the comparison covers far more than the table.
std::vector<std::string> Mutations() {
  std::vector<std::string> out;
  for (const auto& c : testing::kTemplateCorpus) {
    for (size_t i = 0; i < c.text.size(); ++i) out.emplace_back(c.text.substr(0, i));
  }
  static const char* const kPieces[] = {
      "{{", "}}", "{{- ", " -}}", "(", ")", "$", "$x", ".", ".a", "-", " ", "\n", "|", ",",
      ":=", "=", "\"", "'", "`", "/*", "*/", "end", "if", "else", "range", "with", "define",
      "block", "template", "break", "continue", "nil", "true", "1", "0x", "1e", "_", "i",
      "\\", "frob", "printf", "$labels", "{{end}}", "{{else}}", "\xc3\xa9", "\xff", "+",
  };
  std::mt19937 rng(20261202);
  const size_t n_corpus = std::size(testing::kTemplateCorpus);
  for (int i = 0; i < 30000; ++i) {
    std::string t(testing::kTemplateCorpus[rng() % n_corpus].text);
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t pos = t.empty() ? 0 : rng() % (t.size() + 1);
      switch (rng() % 3) {
        case 0:
          t.insert(pos, kPieces[rng() % std::size(kPieces)]);
          break;
        case 1:
          if (!t.empty()) t.erase(pos, 1 + rng() % 4);
          break;
        default:
          if (!t.empty()) {
            size_t from = rng() % t.size();
            t.insert(pos, t.substr(from, 1 + rng() % 12));
          }
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

TEST(GoTemplateOracleTest, SameVerdictsAsGoTextTemplate) {
  if (!Have("go")) GTEST_SKIP() << "go not installed";
  TempDir dir;
  std::string bin = BuildOracle(dir.path());
  ASSERT_FALSE(bin.empty());

  std::vector<std::string> texts;
  std::vector<bool> in_table;
  for (const auto& c : testing::kTemplateCorpus) {
    texts.emplace_back(c.text);
    in_table.push_back(true);
  }
  for (std::string& m : Mutations()) {
    texts.push_back(std::move(m));
    in_table.push_back(false);
  }
  std::vector<std::string> go = OracleVerdicts(bin, dir.path(), texts);
  ASSERT_EQ(go.size(), texts.size());
  ParseOptions options;
  options.version = kDebian;
  options.name = std::string(testing::kCorpusTemplateName);
  int mismatches = 0, go_rejected = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const bool go_ok = go[i] == "ok";
    if (!go_ok) ++go_rejected;
    if (i < std::size(testing::kTemplateCorpus)) {
      EXPECT_EQ(go_ok, testing::kTemplateCorpus[i].valid)
          << "the table's verdict is wrong for: " << texts[i] << "\nGo: " << go[i];
    }
    absl::Status ours = CheckAlertTemplate(texts[i], options);
    if (ours.ok() != go_ok && ++mismatches <= 25) {
      ADD_FAILURE() << (in_table[i] ? "corpus" : "mutation") << " template: \"" << texts[i]
                    << "\"\nGo: " << go[i] << "\nours: " << ours;
    }
  }
  EXPECT_EQ(mismatches, 0);
  // The mutations must exercise both verdicts.
  EXPECT_GT(go_rejected, static_cast<int>(texts.size() / 10));
  EXPECT_LT(go_rejected, static_cast<int>(texts.size() * 9 / 10));
}

// Without the preamble ($labels etc. undefined, the template's own body may
// be empty): ParseTemplate against Go on the same inputs.
TEST(GoTemplateOracleTest, WithoutPreambleSameVerdictsAsGo) {
  if (!Have("go")) GTEST_SKIP() << "go not installed";
  TempDir dir;
  std::string bin = BuildOracle(dir.path());
  ASSERT_FALSE(bin.empty());
  std::vector<std::string> texts = Mutations();
  for (const auto& c : testing::kTemplateCorpus) texts.emplace_back(c.text);
  std::vector<std::string> go = OracleVerdicts(bin, dir.path(), texts, /*preamble=*/false);
  ASSERT_EQ(go.size(), texts.size());
  ParseOptions options;
  options.version = kDebian;
  options.name = std::string(testing::kCorpusTemplateName);
  int mismatches = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    absl::Status ours = ParseTemplate(texts[i], options);
    if (ours.ok() != (go[i] == "ok") && ++mismatches <= 25) {
      ADD_FAILURE() << "template: \"" << texts[i] << "\"\nGo: " << go[i] << "\nours: " << ours;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

std::string Utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  }
  return s + static_cast<char>(0x80 | (cp & 0x3F));
}

// Where a field name ends depends on Go's Unicode letter/digit tables
// (combining marks, for one, are neither): a sweep over many blocks.
TEST(GoTemplateOracleTest, UnicodeNamesSameAsGo) {
  if (!Have("go")) GTEST_SKIP() << "go not installed";
  TempDir dir;
  std::string bin = BuildOracle(dir.path());
  ASSERT_FALSE(bin.empty());
  std::vector<std::string> texts;
  for (uint32_t cp = 0x80; cp < 0x10500; cp += cp < 0x3100 ? 1 : 7) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    texts.push_back("{{ .a" + Utf8(cp) + " }}");
  }
  std::vector<std::string> go = OracleVerdicts(bin, dir.path(), texts, /*preamble=*/false);
  ASSERT_EQ(go.size(), texts.size());
  ParseOptions options;
  options.version = kDebian;
  int mismatches = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (ParseTemplate(texts[i], options).ok() != (go[i] == "ok") && ++mismatches <= 10) {
      ADD_FAILURE() << texts[i] << ": Go says " << go[i];
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// YAML double-quoted scalar (JSON escapes are valid YAML).
std::string YamlQuote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7F) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

bool ValidUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

TEST(GoTemplateOracleTest, SameVerdictsAsPromtool) {
  if (!Have("promtool")) GTEST_SKIP() << "promtool not installed";
  TempDir dir;
  std::string files;
  std::vector<size_t> cases;
  for (size_t i = 0; i < std::size(testing::kTemplateCorpus); ++i) {
    const auto& c = testing::kTemplateCorpus[i];
    if (!ValidUtf8(c.text)) continue;  // a YAML file cannot carry it
    std::string path = absl::StrCat(dir.path(), "/case", i, ".yml");
    // Half the cases as a label, half as an annotation: Prometheus checks
    // both the same way.
    std::string where = i % 2 == 0 ? "annotations" : "labels";
    std::ofstream(path) << "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    "
                        << where << ":\n      x: " << YamlQuote(c.text) << "\n";
    absl::StrAppend(&files, " '", path, "'");
    cases.push_back(i);
  }
  std::string out;
  RunCommand(absl::StrCat("promtool check rules --lint=none", files), &out);
  // Per file: "Checking <path>" then "  SUCCESS: ..." or a FAILED report.
  for (size_t i : cases) {
    std::string path = absl::StrCat(dir.path(), "/case", i, ".yml");
    size_t at = out.find("Checking " + path + "\n");
    ASSERT_NE(at, std::string::npos) << path << "\n" << out.substr(0, 4000);
    size_t line_end = out.find('\n', at);
    absl::string_view next_line = absl::string_view(out).substr(line_end + 1);
    next_line = next_line.substr(0, next_line.find('\n'));
    const bool promtool_ok = absl::StrContains(next_line, "SUCCESS");
    const auto& c = testing::kTemplateCorpus[i];
    EXPECT_EQ(promtool_ok, c.valid) << "promtool disagrees with the table on: " << c.text;
    ParseOptions options;
    options.version = kDebian;
    options.name = std::string(testing::kCorpusTemplateName);
    EXPECT_EQ(CheckAlertTemplate(c.text, options).ok(), promtool_ok)
        << "promtool disagrees with us on: " << c.text;
  }
}

}  // namespace
}  // namespace promconf::gotemplate
