// The differential corpus (tests/data/scrape_corpus/*.yml): each file is a
// prometheus.yml with one scrape config and its verdicts in comments:
//   # expect: valid|invalid             Prometheus 2.42 (Debian's promtool agrees:
//                                        tests/integration/scrape_corpus_promtool_test.cc)
//   # expect-newest: valid|invalid      the newest supported release, when it differs
//   # expect-untrusted: valid|invalid   from an untrusted source, when it differs
//   # upstream-only: ...                Debian's build lacks the feature
// This test asserts the schema's verdict on each, for each of the three.

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "reconcile/fragment.h"
#include "reconcile/prometheus/scrape_schema.h"
#include "reconcile/yaml_subset.h"

namespace promconf::prom {
namespace {

namespace fs = std::filesystem;

struct CorpusCase {
  std::string file;
  std::string text;
  bool valid_242 = false;
  bool valid_newest = false;
  bool valid_untrusted = false;
  bool upstream_only = false;
};

std::optional<bool> Verdict(const std::string& text, absl::string_view tag) {
  const std::string prefix = absl::StrCat("# ", tag, ": ");
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, prefix)) continue;
    std::string v = line.substr(prefix.size());
    if (v == "valid") return true;
    if (v == "invalid") return false;
    ADD_FAILURE() << "bad verdict line: " << line;
  }
  return std::nullopt;
}

std::vector<CorpusCase> LoadCorpus() {
  std::vector<CorpusCase> out;
  const fs::path dir = fs::path(PROMCONF_SOURCE_DIR) / "tests/data/scrape_corpus";
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".yml") continue;
    CorpusCase c;
    c.file = e.path().filename().string();
    std::ifstream f(e.path());
    std::stringstream ss;
    ss << f.rdbuf();
    c.text = ss.str();
    std::optional<bool> v = Verdict(c.text, "expect");
    EXPECT_TRUE(v.has_value()) << c.file << " has no # expect:";
    c.valid_242 = v.value_or(false);
    c.valid_newest = Verdict(c.text, "expect-newest").value_or(c.valid_242);
    c.valid_untrusted = Verdict(c.text, "expect-untrusted").value_or(c.valid_newest);
    c.upstream_only = absl::StrContains(c.text, "# upstream-only:");
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(),
            [](const CorpusCase& a, const CorpusCase& b) { return a.file < b.file; });
  return out;
}

TEST(ScrapeCorpus, VerdictsMatchTheSchema) {
  const std::vector<CorpusCase> corpus = LoadCorpus();
  ASSERT_GE(corpus.size(), 100u);
  int valid = 0, invalid = 0, upstream = 0;
  for (const CorpusCase& c : corpus) {
    std::optional<YamlSubsetNode> root = ParseYamlSubset(c.text);
    ASSERT_TRUE(root.has_value()) << c.file << " is outside the YAML subset";
    const YamlSubsetNode* list = root->Find("scrape_configs");
    ASSERT_TRUE(list != nullptr && list->IsSeq() && list->seq.size() == 1) << c.file;
    const YamlSubsetNode& sc = list->seq[0];
    struct Run {
      const char* what;
      const char* version;
      bool trusted;
      bool want;
    };
    const Run runs[] = {{"2.42, trusted", "2.42", true, c.valid_242},
                        {"newest, trusted", "", true, c.valid_newest},
                        {"newest, untrusted", "", false, c.valid_untrusted}};
    for (const Run& r : runs) {
      ScrapeCheckOptions o;
      o.version = ParsePromVersion(r.version).value();
      o.trusted = r.trusted;
      FragmentError e;
      const bool got = CheckScrapeConfig(sc, o, &e, "scrape_configs[0]").ok();
      EXPECT_EQ(got, r.want) << c.file << " (" << r.what << "): " << e.key << ": " << e.reason;
      if (!got) {
        EXPECT_GT(e.line, 0) << c.file;
      }
    }
    (c.valid_242 ? valid : invalid)++;
    upstream += c.upstream_only ? 1 : 0;
  }
  // A corpus of both kinds, mostly checkable against Debian's promtool.
  EXPECT_GE(valid, 40);
  EXPECT_GE(invalid, 40);
  EXPECT_LE(upstream, static_cast<int>(corpus.size()) / 5);
}

}  // namespace
}  // namespace promconf::prom
