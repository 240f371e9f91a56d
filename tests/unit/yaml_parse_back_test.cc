// Every output promconf renders, read back by the parsers Prometheus uses
// (gopkg.in/yaml.v2 for prometheus.yml, gopkg.in/yaml.v3 for rule files,
// encoding/json for file_sd targets) through tests/tools/yamlcheck, must be
// exactly the tree promconf validated: same strings, and nothing outside the
// fragment's own entry. Fed with every class of code point a tenant could
// use to bend a YAML 1.1 reader (U+2028 read as a line break is how a
// fragment once added remote_write).
//
// Skips only when `go` is not installed.

#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/json.h"
#include "reconcile/fragment.h"
#include "reconcile/fragment_yaml.h"
#include "reconcile/renderer.h"
#include "reconcile/yaml_tree.h"
#include "tests/fakes/temp_dir.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;

std::string Utf8(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
  return out;
}

// The strings a tenant may put in a string field.
std::vector<std::string> HostileStrings() {
  std::vector<std::string> out;
  for (uint32_t c = 0; c < 0x20; ++c) out.push_back(Utf8(c));  // C0, NUL included
  out.push_back(Utf8(0x7f));                                   // DEL
  for (uint32_t c = 0x80; c < 0xa0; ++c) out.push_back(Utf8(c));  // C1, NEL (U+0085) included
  for (uint32_t c : {0xa0u, 0x2028u, 0x2029u, 0xfeffu, 0xe000u, 0xf8ffu, 0xf0000u, 0x10fffdu, 0xfdd0u,
                     0xfdefu, 0xfffeu, 0xffffu, 0x1fffeu, 0x10ffffu, 0x1f600u, 0xe9u, 0x4e2du, 0xfffdu}) {
    out.push_back(Utf8(c));
  }
  for (const char* s : {": ", " #", "#", ":", " ", "  ", "\t", "\r\n", "\n", "\n\n", "---", "...", "- ",
                        "-", "?", "? x", ",", "[", "]", "{", "}", "&a", "*a", "!", "!!str", "|", ">", "'",
                        "\"", "%", "@", "`", "\\", "<<", "=", "~", "", "yes", "No", "ON", "off", "y", "N",
                        "true", "False", "null", "Null", "NULL", "0x1F", "0o17", "017", "1_000", "1e3", ".5",
                        "+1", "-1", ".inf", "-.Inf", ".NaN", "1:20", "2001-12-14",
                        "2001-12-14t21:59:43.10-05:00", "a: b", "a #b", "{{ $labels.x }}", "x\u2028remote_write: {url: http://evil}",
                        "\xc2\x85remote_write:\n- url: http://evil"}) {
    out.push_back(s);
  }
  return out;
}

// Typed expectation for tests/tools/yamlcheck (see its header).
void AppendWant(const YamlSubsetNode& n, std::string* out) {
  switch (n.kind) {
    case YamlSubsetNode::Kind::kNull:
      out->append("{\"n\":0}");
      return;
    case YamlSubsetNode::Kind::kScalar:
      out->append(n.quoted ? "{\"q\":" : "{\"p\":");
      AppendJsonString(out, n.scalar);
      out->push_back('}');
      return;
    case YamlSubsetNode::Kind::kMap: {
      out->append("{\"m\":[");
      bool first = true;
      for (const YamlSubsetEntry& e : n.map) {
        out->append(first ? "[" : ",[");
        first = false;
        AppendJsonString(out, e.key);
        out->push_back(',');
        AppendWant(e.value, out);
        out->push_back(']');
      }
      out->append("]}");
      return;
    }
    case YamlSubsetNode::Kind::kSeq: {
      out->append("{\"s\":[");
      bool first = true;
      for (const YamlSubsetNode& item : n.seq) {
        if (!first) out->push_back(',');
        first = false;
        AppendWant(item, out);
      }
      out->append("]}");
      return;
    }
  }
}

YamlSubsetNode Str(absl::string_view s) {
  YamlSubsetNode n;
  n.kind = YamlSubsetNode::Kind::kScalar;
  n.quoted = true;
  n.scalar = std::string(s);
  return n;
}

YamlSubsetNode Seq(std::vector<YamlSubsetNode> items) {
  YamlSubsetNode n;
  n.kind = YamlSubsetNode::Kind::kSeq;
  n.seq = std::move(items);
  return n;
}

// The file_sd JSON promconf means to write for a validated targets tree:
// every group has "targets" and "labels", all strings.
YamlSubsetNode TargetsWant(const YamlSubsetNode& root) {
  YamlSubsetNode out = Seq({});
  for (const YamlSubsetNode& g : root.seq) {
    YamlSubsetNode group;
    group.kind = YamlSubsetNode::Kind::kMap;
    YamlSubsetNode targets = Seq({});
    if (const YamlSubsetNode* t = g.Find("targets"); t != nullptr) {
      for (const YamlSubsetNode& item : t->seq) targets.seq.push_back(Str(item.scalar));
    }
    YamlSubsetNode labels;
    labels.kind = YamlSubsetNode::Kind::kMap;
    if (const YamlSubsetNode* l = g.Find("labels"); l != nullptr) {
      for (const YamlSubsetEntry& e : l->map) labels.map.push_back({e.key, Str(e.value.scalar)});
    }
    group.map.push_back({"targets", std::move(targets)});
    group.map.push_back({"labels", std::move(labels)});
    out.seq.push_back(std::move(group));
  }
  return out;
}

// Builds tests/tools/yamlcheck once per build tree; "" when go is missing.
std::string BuildYamlcheck(std::string* why) {
  if (std::system("command -v go >/dev/null 2>&1") != 0) {
    *why = "go is not installed (apt-get install golang-go golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev)";
    return "";
  }
  const fs::path dir = fs::path(PROMCONF_BINARY_DIR) / "yamlcheck";
  std::error_code ec;
  fs::create_directories(dir / "cache", ec);
  const fs::path bin = dir / "yamlcheck";
  const std::string cmd = absl::StrCat(
      "cd '", PROMCONF_SOURCE_DIR, "/tests/tools/yamlcheck' && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= "
      "GOCACHE='", (dir / "cache").string(), "' go build -o '", bin.string(), "' . 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  std::string output;
  char buf[4096];
  size_t n;
  while (p != nullptr && (n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int rc = p != nullptr ? pclose(p) : -1;
  if (rc != 0) {
    *why = absl::StrCat("go build failed: ", output);
    return "";
  }
  return bin.string();
}

std::string RunYamlcheck(const std::string& bin, const std::string& dir) {
  FILE* p = popen(absl::StrCat("'", bin, "' '", dir, "' 2>&1").c_str(), "r");
  std::string output;
  char buf[4096];
  size_t n;
  while (p != nullptr && (n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  if (p != nullptr) pclose(p);
  return output;
}

class CaseWriter {
 public:
  explicit CaseWriter(std::string dir) : dir_(std::move(dir)) {}
  void Add(absl::string_view name, absl::string_view out, const YamlSubsetNode& want, absl::string_view modes) {
    const std::string base = absl::StrCat(dir_, "/", name);
    std::ofstream(base + ".out", std::ios::binary) << out;
    std::string w;
    AppendWant(want, &w);
    std::ofstream(base + ".want", std::ios::binary) << w;
    std::ofstream(base + ".mode", std::ios::binary) << modes;
    ++count_;
  }
  int count() const { return count_; }

 private:
  std::string dir_;
  int count_ = 0;
};

std::string Q(absl::string_view s) {
  std::string out;
  AppendQuoted(s, &out);
  return out;
}

const char kBase[] =
    "global:\n  scrape_interval: 15s\n  external_labels:\n    cluster: \"a\"\n"
    "rule_files:\n- /etc/prometheus/static/*.yml\n"
    "scrape_configs:\n- job_name: base\n  sample_limit: 100\n";

// Every string field whose value Prometheus takes as free text (the full
// schema judges the others: URLs, label names, regexes, targets, PromQL).
std::string ScrapeFragment(absl::string_view v) {
  return absl::StrCat("job_name: ", Q(absl::StrCat("j", v)), "\nmetrics_path: ", Q(v), "\nparams:\n  ",
                      Q(absl::StrCat("k", v)), ": [", Q(v), "]\n  ", Q(v), ": [", Q(v),
                      "]\nbearer_token: ", Q(v), "\nstatic_configs:\n- targets: ['127.0.0.1:9']",
                      "\n  labels:\n    l: ", Q(v), "\nrelabel_configs:\n- source_labels: [a]",
                      "\n  separator: ", Q(v), "\n  regex: '(.*)'\n  target_label: t",
                      "\n  replacement: ", Q(v), "\n  action: replace\nsample_limit: 10\n");
}

std::string RuleFragment(absl::string_view v) {
  return absl::StrCat("groups:\n- name: ", Q(absl::StrCat("g", v)), "\n  rules:\n  - alert: ",
                      Q(absl::StrCat("A", v)), "\n    expr: up\n    labels:\n      l: ",
                      Q(v), "\n    annotations:\n      a: ", Q(v), "\n      b: ", Q(absl::StrCat(v, "x", v)),
                      "\n  - record: r:x\n    expr: sum(up)\n    labels:\n      l: ", Q(v), "\n");
}

std::string TargetsFragment(absl::string_view v) {
  return absl::StrCat("- targets: [", Q(v), ", ", Q(absl::StrCat("h", v, ":80")), "]\n  labels:\n    l: ", Q(v),
                      "\n    m: ", Q(absl::StrCat(v, v)), "\n");
}

TEST(YamlParseBackTest, EveryOutputReadsBackAsTheTreePromconfValidated) {
  std::string why;
  const std::string bin = BuildYamlcheck(&why);
  if (bin.empty()) {
    if (absl::StrContains(why, "not installed")) GTEST_SKIP() << why;
    FAIL() << why;
  }
  TempDir tmp;
  CaseWriter cases(tmp.path());

  absl::StatusOr<YamlSubsetNode> base = ParseYaml(kBase);
  ASSERT_TRUE(base.ok()) << base.status();

  std::vector<std::string> values;
  for (const std::string& s : HostileStrings()) {
    values.push_back(s);
    values.push_back(absl::StrCat("a", s, "b"));
    values.push_back(absl::StrCat(s, " tail"));
  }
  int index = 0;
  for (const std::string& v : values) {
    SCOPED_TRACE(absl::StrCat("value \"", absl::CHexEscape(v), "\""));
    const std::string name = absl::StrCat("v", index++);
    // Scrape config -> prometheus.yml.
    {
      Document doc;
      doc.name = "x.scrape.yml";
      doc.data = ScrapeFragment(v);
      absl::StatusOr<Fragment> f = ParseFragment("kv", doc, {});
      ASSERT_TRUE(f.ok()) << f.status();
      RenderInput in;
      in.base_config = kBase;
      in.fragments.push_back({0, "kv", doc.name, &*f});
      absl::StatusOr<RenderOutput> out = Render(in);
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_TRUE(out->rejections.empty());
      // The tree promconf meant to write: the base as it was, its
      // scrape_configs followed by the fragment's validated tree, and
      // rules/*.yml added to rule_files.
      absl::StatusOr<YamlSubsetNode> frag_tree = ParseYaml(doc.data);
      ASSERT_TRUE(frag_tree.ok());
      YamlSubsetNode want = *base;
      for (YamlSubsetEntry& e : want.map) {
        if (e.key == "scrape_configs") e.value.seq.push_back(*frag_tree);
        if (e.key == "rule_files") e.value.seq.push_back(YamlStringNode(kRuleFilesGlob));
      }
      cases.Add(name + "_prometheus", *out->files.at(kPrometheusConfigName), want, "v2 v3");
    }
    // Rule file.
    {
      Document doc;
      doc.name = "x.rules.yml";
      doc.data = RuleFragment(v);
      absl::StatusOr<Fragment> f = ParseFragment("kv", doc, {});
      ASSERT_TRUE(f.ok()) << f.status();
      absl::StatusOr<YamlSubsetNode> tree = ParseYaml(doc.data);
      ASSERT_TRUE(tree.ok());
      cases.Add(name + "_rules", f->output_bytes(), *tree, "v3 v2");
    }
    // Targets (YAML in, JSON out).
    {
      Document doc;
      doc.name = "x.targets.yml";
      doc.data = TargetsFragment(v);
      absl::StatusOr<Fragment> f = ParseFragment("kv", doc, {});
      ASSERT_TRUE(f.ok()) << f.status();
      absl::StatusOr<YamlSubsetNode> tree = ParseYaml(doc.data);
      ASSERT_TRUE(tree.ok());
      cases.Add(name + "_targets", f->output_bytes(), TargetsWant(*tree), "json");
    }
  }

  const std::string report = RunYamlcheck(bin, tmp.path());
  const std::string done = absl::StrCat("checked ", cases.count(), " cases\n");
  EXPECT_TRUE(absl::EndsWith(report, done)) << report;
  std::vector<std::string> lines = absl::StrSplit(report, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 1u) << "mismatches (case v<N> is value N of the list):\n" << report;
  std::printf("[ PARSEBACK ] %d outputs read back by yaml.v2/yaml.v3/encoding/json\n", cases.count());
}

// Raw bytes no YAML reader may see (invalid UTF-8, surrogates, C0/C1
// controls, DEL, a BOM inside, non-characters) reject the fragment in every
// string field, naming the line; none of them reaches an output.
TEST(YamlParseBackTest, RawUnreadableBytesRejectTheFragmentInEveryField) {
  struct Raw {
    std::string bytes;
    std::string reason;
  };
  const std::vector<Raw> raws = {
      {"\xed\xa0\x80", "invalid UTF-8"}, {"\xed\xbf\xbf", "invalid UTF-8"}, {"\x80", "invalid UTF-8"},
      {"\xe2\x80", "invalid UTF-8"},     {"\xc0\xaf", "invalid UTF-8"},     {"\xf8\x88\x80\x80\x80", "invalid UTF-8"},
      {"\x01", "not allowed"},           {"\x1b", "not allowed"},           {"\x7f", "not allowed"},
      {"\xc2\x80", "not allowed"},       {"\xc2\x9f", "not allowed"},       {"\xef\xbb\xbf", "not allowed"},
      {"\xef\xbf\xbe", "not allowed"},   {"\xef\xbf\xbf", "not allowed"}};
  // The fragment builders quote with escapes; put the raw bytes in by
  // replacing a marker after quoting.
  const std::string marker = "MARKER";
  struct Kind {
    const char* name;
    std::string text;
  };
  const std::vector<Kind> kinds = {{"x.scrape.yml", ScrapeFragment(marker)},
                                   {"x.rules.yml", RuleFragment(marker)},
                                   {"x.targets.yml", TargetsFragment(marker)}};
  int checked = 0;
  for (const Kind& kind : kinds) {
    // Each occurrence of the marker in turn: every field.
    for (size_t at = kind.text.find(marker); at != std::string::npos; at = kind.text.find(marker, at + 1)) {
      const int line = 1 + static_cast<int>(std::count(kind.text.begin(), kind.text.begin() + at, '\n'));
      for (const Raw& raw : raws) {
        Document doc;
        doc.name = kind.name;
        doc.data = kind.text;
        doc.data.replace(at, marker.size(), raw.bytes);
        FragmentError err;
        absl::StatusOr<Fragment> f = ParseFragment("kv", doc, {}, &err);
        ASSERT_FALSE(f.ok()) << kind.name << " line " << line << " \"" << absl::CHexEscape(raw.bytes) << "\"";
        EXPECT_THAT(err.reason, ::testing::HasSubstr(raw.reason));
        EXPECT_EQ(err.line, line);
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 12 * 25);
}

// The attack from the issue, as the tenant wrote it (raw separators in a
// plain scalar): whatever yaml-cpp makes of it, what is written reads back
// as that and adds no key.
TEST(YamlParseBackTest, RawLineSeparatorsCannotAddKeys) {
  std::string why;
  const std::string bin = BuildYamlcheck(&why);
  if (bin.empty()) {
    if (absl::StrContains(why, "not installed")) GTEST_SKIP() << why;
    FAIL() << why;
  }
  TempDir tmp;
  CaseWriter cases(tmp.path());
  absl::StatusOr<YamlSubsetNode> base = ParseYaml(kBase);
  ASSERT_TRUE(base.ok());
  int accepted = 0;
  int i = 0;
  for (const std::string& sep : {Utf8(0x2028), Utf8(0x2029), Utf8(0x85)}) {
    for (const std::string& text :
         {absl::StrCat("job_name: x\nmetrics_path: /m", sep, "remote_write:", sep, "- url: http://evil/\n"),
          absl::StrCat("job_name: x\nmetrics_path: \"/m", sep, "remote_write: [{url: http://evil/}]\"\n"),
          absl::StrCat("job_name: x", sep, "honor_labels: true\n"),
          absl::StrCat("job_name: x\nparams:\n  a: [b", sep, "c]\n")}) {
      Document doc;
      doc.name = "x.scrape.yml";
      doc.data = text;
      absl::StatusOr<Fragment> f = ParseFragment("kv", doc, {});
      if (!f.ok()) continue;  // rejected is fine too
      ++accepted;
      RenderInput in;
      in.base_config = kBase;
      in.fragments.push_back({0, "kv", doc.name, &*f});
      absl::StatusOr<RenderOutput> out = Render(in);
      ASSERT_TRUE(out.ok());
      absl::StatusOr<YamlSubsetNode> frag_tree = ParseYaml(doc.data);
      ASSERT_TRUE(frag_tree.ok());
      YamlSubsetNode want = *base;
      for (YamlSubsetEntry& e : want.map) {
        if (e.key == "scrape_configs") e.value.seq.push_back(*frag_tree);
        if (e.key == "rule_files") e.value.seq.push_back(YamlStringNode(kRuleFilesGlob));
      }
      cases.Add(absl::StrCat("raw", i++), *out->files.at(kPrometheusConfigName), want, "v2 v3");
    }
  }
  EXPECT_GT(accepted, 0);
  const std::string report = RunYamlcheck(bin, tmp.path());
  EXPECT_EQ(report, absl::StrCat("checked ", cases.count(), " cases\n"));
}

}  // namespace
}  // namespace promconf
