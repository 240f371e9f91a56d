#include "reconcile/yaml_subset.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "reconcile/fragment.h"
#include "reconcile/yaml_document_counter.h"
#include "reconcile/yaml_tree.h"
#include "yaml-cpp/anchor.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/mark.h"
#include "yaml-cpp/parser.h"
#include "yaml-cpp/yaml.h"

// The contract under test: ParseYamlSubset either returns exactly the tree
// yaml-cpp (the fallback, and the parser whose behaviour users already see)
// builds, or std::nullopt. Trees are compared through a canonical rendering
// so that a mismatch prints as a readable two-tree diff.

namespace promconf {
namespace {

using Kind = YamlSubsetNode::Kind;

std::string Quote(absl::string_view s) { return absl::StrCat("\"", absl::CHexEscape(s), "\""); }

// One node per line: kind, quoted-ness, text, 1-based start line. Null nodes
// carry no line: yaml-cpp marks an empty value ("key:") with the position of
// whatever token follows it, often on a later line.
void RenderSubset(const YamlSubsetNode& n, int indent, std::string* out) {
  const std::string pad(indent + 2, ' ');
  switch (n.kind) {
    case Kind::kNull:
      out->append("null\n");
      return;
    case Kind::kScalar:
      absl::StrAppend(out, n.quoted ? "quoted " : "plain ", Quote(n.scalar), " @", n.line, "\n");
      return;
    case Kind::kMap:
      absl::StrAppend(out, "map @", n.line, "\n");
      for (const auto& [key, value] : n.map) {
        absl::StrAppend(out, pad, Quote(key), ": ");
        RenderSubset(value, indent + 2, out);
      }
      return;
    case Kind::kSeq:
      absl::StrAppend(out, "seq @", n.line, "\n");
      for (const YamlSubsetNode& item : n.seq) {
        absl::StrAppend(out, pad, "- ");
        RenderSubset(item, indent + 2, out);
      }
      return;
  }
}

// The same rendering for yaml-cpp: Null -> null, Scalar -> plain/quoted
// (quoted and block scalars get the non-specific tag "!", plain ones "?"),
// Map -> map, Sequence -> seq. Anything the subset cannot express (an
// explicit tag, a key that is not a scalar) renders so that it cannot match.
void RenderYamlCpp(const YAML::Node& n, int indent, std::string* out) {
  const std::string pad(indent + 2, ' ');
  const int line = n.Mark().line + 1;
  const std::string tag = n.Tag();
  const bool explicit_tag = !tag.empty() && tag != "?" && !(n.IsScalar() && tag == "!");
  if (explicit_tag) absl::StrAppend(out, "tag<", Quote(tag), "> ");
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
      out->append("undefined\n");
      return;
    case YAML::NodeType::Null:
      out->append("null\n");
      return;
    case YAML::NodeType::Scalar:
      absl::StrAppend(out, tag == "!" ? "quoted " : "plain ", Quote(n.Scalar()), " @", line, "\n");
      return;
    case YAML::NodeType::Map:
      absl::StrAppend(out, "map @", line, "\n");
      // Iterators hand out proxies: copy the handles, never bind references.
      for (auto it = n.begin(); it != n.end(); ++it) {
        const YAML::Node key = it->first;
        const YAML::Node value = it->second;
        if (key.IsScalar()) {
          absl::StrAppend(out, pad, Quote(key.Scalar()), ": ");
        } else {
          std::string rendered;
          RenderYamlCpp(key, indent + 2, &rendered);
          absl::StrAppend(out, pad, "<non-scalar key ", absl::CHexEscape(rendered), ">: ");
        }
        RenderYamlCpp(value, indent + 2, out);
      }
      return;
    case YAML::NodeType::Sequence:
      absl::StrAppend(out, "seq @", line, "\n");
      for (auto it = n.begin(); it != n.end(); ++it) {
        const YAML::Node item = *it;
        absl::StrAppend(out, pad, "- ");
        RenderYamlCpp(item, indent + 2, out);
      }
      return;
  }
}

// The header's promises about a returned tree that rendering cannot see:
// keys are unique and Find() finds them.
std::string CheckInvariants(const YamlSubsetNode& n, const std::string& path) {
  if (n.IsMap()) {
    for (size_t i = 0; i < n.map.size(); ++i) {
      const auto& [key, value] = n.map[i];
      const std::string child = absl::StrCat(path, ".", key);
      if (n.Find(key) != &value) {
        return absl::StrCat(child, ": duplicate key, or Find() does not return its value\n");
      }
      std::string bad = CheckInvariants(value, child);
      if (!bad.empty()) return bad;
    }
    if (n.Find("\x01no such key") != nullptr) {
      return absl::StrCat(path, ": Find() of a missing key\n");
    }
  } else if (n.Find("a") != nullptr) {
    return absl::StrCat(path, ": Find() on a non-map\n");
  }
  if (n.IsSeq()) {
    for (size_t i = 0; i < n.seq.size(); ++i) {
      std::string bad = CheckInvariants(n.seq[i], absl::StrCat(path, "[", i, "]"));
      if (!bad.empty()) return bad;
    }
  }
  return "";
}

// yaml-cpp 0.7's LoadAll never returns for some invalid streams: a stray ','
// where a document may start ("- a\n,", "---\n,", ",") is never consumed and
// every HandleNextDocument() reports one more empty document, allocating
// until the process dies (jbeder/yaml-cpp#1040, fixed upstream by #1319). So
// documents are counted by hand, and this many means "runaway".
constexpr size_t kRunawayDocuments = 64;

struct YamlCppParse {
  std::string error;     // non-empty: yaml-cpp throws
  size_t documents = 0;  // at most kRunawayDocuments
  YAML::Node root;       // the only document, when there is exactly one
};

YamlCppParse ParseWithYamlCpp(absl::string_view text) {
  YamlCppParse out;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    YamlDocumentCounter counter;
    while (out.documents < kRunawayDocuments && parser.HandleNextDocument(counter)) ++out.documents;
    if (out.documents == 1) out.root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    out.error = e.what();
  }
  return out;
}

// Empty when yaml-cpp reads `text` as exactly one document equal to
// `subset` (or as no document at all and `subset` is null, which is what
// Load() returns for an empty stream); otherwise what differs.
std::string MismatchWithYamlCpp(absl::string_view text, const YamlSubsetNode& subset) {
  const YamlCppParse parsed = ParseWithYamlCpp(text);
  if (!parsed.error.empty()) return absl::StrCat("yaml-cpp rejects it: ", parsed.error, "\n");
  if (parsed.documents > 1) {
    return absl::StrCat("yaml-cpp reads ", parsed.documents, " documents\n");
  }
  std::string want = "null\n";
  if (parsed.documents == 1) {
    want.clear();
    RenderYamlCpp(parsed.root, 0, &want);
  }
  std::string got;
  RenderSubset(subset, 0, &got);
  std::string invariants = CheckInvariants(subset, "");
  if (want == got && invariants.empty()) return "";
  return absl::StrCat(invariants, "yaml-cpp:\n", want, "subset:\n", got);
}

// Whether yaml-cpp reads `text` as at most one document without error.
bool YamlCppAccepts(absl::string_view text) {
  const YamlCppParse parsed = ParseWithYamlCpp(text);
  return parsed.error.empty() && parsed.documents <= 1;
}

std::string Describe(absl::string_view text, absl::string_view mismatch) {
  return absl::StrCat("document: \"", absl::CHexEscape(text), "\"\n", mismatch);
}

// ---- tables --------------------------------------------------------------

struct YamlCase {
  std::string name;  // a test name: [A-Za-z0-9_]
  std::string text;
};

void PrintTo(const YamlCase& c, std::ostream* os) {
  *os << c.name << ": \"" << absl::CHexEscape(c.text) << "\"";
}

std::string NestedMaps(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) absl::StrAppend(&s, std::string(i, ' '), "k", i, ":\n");
  absl::StrAppend(&s, std::string(depth, ' '), "leaf\n");
  return s;
}

std::string NestedFlowSeqs(int depth) {
  return absl::StrCat("a: ", std::string(depth, '['), "x", std::string(depth, ']'), "\n");
}

std::string NestedBlockSeqs(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) absl::StrAppend(&s, std::string(i, ' '), "-\n");
  absl::StrAppend(&s, std::string(depth, ' '), "x\n");
  return s;
}

// Rule files as people write them; the fast path is useless unless it takes
// every one of these.
std::vector<YamlCase> MustAcceptCases() {
  return {
      {"Empty", ""},
      {"OnlyComments", "# nothing here yet\n\n# really\n"},
      {"OnlyDocumentStart", "---\n"},
      {"GroupsEmptyFlow", "groups: []\n"},
      {"GroupsEmptyFlowWithComment", "groups: [] # none yet\n"},
      {"GroupsNull", "groups:\n"},
      {"NoFinalNewline", "groups:\n- name: x\n  rules: []"},
      {"CompactSequences",
       "groups:\n- name: x\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n"},
      {"IndentedSequences", R"yaml(groups:
  - name: x
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
)yaml"},
      {"LeadingDocumentStart", "---\ngroups:\n- name: x\n  rules: []\n"},
      {"DocumentStartWithComment", "--- # team rules\ngroups: []\n"},
      {"TypicalRuleFile", R"yaml(# Rules for the checkout service.
groups:
- name: checkout
  interval: 30s
  rules:
  - record: job:http_requests:rate5m
    expr: sum by (job) (rate(http_requests_total[5m]))
  - record: job:http_errors:ratio_rate5m  # errors over requests
    expr: |
      sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))
        /
      sum by (job) (rate(http_requests_total[5m]))
  - alert: CheckoutErrors
    expr: job:http_errors:ratio_rate5m{job="checkout"} > 0.05
    for: 5m
    labels:
      severity: page
      team: payments
    annotations:
      summary: "{{ $labels.job }} fails {{ $value | humanizePercentage }} of requests"
      runbook_url: https://runbooks.example.com/checkout#errors
)yaml"},
      {"ExprMultiLinePlain", R"yaml(groups:
- name: latency
  rules:
  - alert: HighLatency
    expr: histogram_quantile(0.99,
        sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))
      < 0.5
    for: 10m
  - record: x:y
    expr:
      sum(rate(errors_total[5m]))
      / sum(rate(requests_total[5m]))
)yaml"},
      // PromQL continuation lines often start with a comparison or "*";
      // inside a plain scalar these are text, not YAML indicators.
      {"ExprContinuationStartsWithOperator", R"yaml(groups:
- name: g
  rules:
  - alert: ErrorBudget
    expr: sum(rate(errors_total[5m])) / sum(rate(requests_total[5m]))
      * 100
      > 5
)yaml"},
      {"ExprLiteral", R"yaml(groups:
- name: g
  rules:
  - alert: A
    expr: |
      sum(rate(errors_total[5m]))

        > 0
    for: 1m
)yaml"},
      {"ExprLiteralStrip", R"yaml(groups:
- name: g
  rules:
  - record: a:b
    expr: |-
      sum by (job) (
        rate(x_total[5m])
      )
  - record: c:d
    expr: up
)yaml"},
      {"ExprFolded", R"yaml(groups:
- name: g
  rules:
  - alert: Folded
    expr: >
      sum(rate(errors_total[5m]))
      > 0
    annotations:
      description: >
        Error rate has been above zero
        for five minutes.

        Check the dashboards.
)yaml"},
      {"LabelsBlockAndFlow", R"yaml(groups:
- name: g
  rules:
  - alert: A
    expr: up == 0
    labels: {severity: "page", team: 'infra', tier: db}
  - alert: B
    expr: up == 0
    labels: {severity: "page"}
    annotations: {summary: "x: y"}
  - alert: C
    expr: up == 0
    labels:
      severity: ticket
)yaml"},
      {"QuotedEscapes", R"yaml(groups:
- name: g
  rules:
  - alert: Quoting
    expr: up{job="a\\b"} == 0
    annotations:
      summary: "say \"hi\" to C:\\dir\nnext line"
      description: 'it''s "down": {{ $value }} \n stays'
      empty: ""
      empty_single: ''
      hash: "# not a comment"
)yaml"},
      {"Comments", R"yaml(# leading comment

groups:   # after a key
# own line at column 0
- name: commented  # after a value
  # indented own line
  rules:
    # deeper own line
  - record: a:b  # x
    expr: up # y
  # between items
  - alert: B
    expr: "up == 0" # after a quoted value
    labels: {severity: page}  # after a flow map

# trailing comment
)yaml"},
      {"ExprOnNextLine", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr:\n      up == 0\n"},
      {"EmptyValues", R"yaml(groups:
- name: g
  rules:
  - alert: A
    expr: up == 0
    labels:
    annotations: {}
- name: h
  rules: []
)yaml"},
      {"NonAsciiUtf8", R"yaml(groups:
- name: g
  rules:
  - alert: Größe
    expr: disk_used_bytes > 1e12
    annotations:
      summary: "Ünïcödé — 日本語 🚀"
      description: Speicher fast voll – bitte prüfen ✓
)yaml"},
      {"PlainWithColonsAndHashes", R"yaml(groups:
- name: a:b:c
  rules:
  - record: x:y:z
    expr: a:b{x="y"}#not-a-comment
)yaml"},
      {"TrailingSpaces", "groups:   \n- name: x   \n  rules: []   \n"},
      {"TargetsStyleRootSequence",
       "- targets: [a:80, 'b:80', \"c:80\"]\n  labels: {zone: b}\n- targets: []\n"},
      {"NestedTwentyDeep", NestedMaps(20)},
  };
}

// Outside the must-accept list but inside what a conforming parser reads:
// the subset may say "not sure", but if it answers it must match yaml-cpp.
std::vector<YamlCase> MayDeclineCases() {
  return {
      {"KeepChomping", "a: |+\n  x\n\nb: >+\n  y\n\n"},
      {"FoldedStrip", "a: >-\n  x\n  y\n"},
      {"FoldedMoreIndented", "a: >\n  x\n  y\n\n  z\n   more\n\n  w\n\n\n"},
      {"LiteralLeadingAndTrailingBlankLines", "a: |\n\n  x\n\n # c\nb: |\nc: >-\n  a\n   b\n"},
      {"LiteralHashLines", "a: |\n  x\n  # content\n # comment\n"},
      // Clip keeps the final line break only when there is one (YAML 1.2
      // 8.1.1.2; yaml-cpp and PyYAML agree): "x", not "x\n".
      {"LiteralAtEndWithoutNewline", "a: |\n  x"},
      {"FoldedAtEndWithoutNewline", "a: >-\n  x\n  y"},
      {"FoldedClipAtEndWithoutNewline", "a: >\n  x\n  y"},
      // Leading empty lines are kept in folded scalars too: "\ny\n".
      {"FoldedLeadingBlankLine", "a: >\n\n  y\n"},
      {"NullsAndScalarTypes",
       "a: ~\nb: null\nc: Null\nd: NULL\ne: true\nf: 1.5\ng: \"null\"\nh: 0x1F\n"},
      {"QuotedKeys", "\"a b\": c\n'k''s': v\n\"\": empty\n"},
      {"KeysWithSpacesAndColons", "a b: c\na:b: c\nhttp://x: y\n"},
      {"MoreEscapes", "a: \"\\t\\u00e9\\x41\\U0001F600\\/\\e\\N\\_\\L\\P\\ \\\t\"\n"},
      {"NulEscape", "a: \"x\\0y\"\n"},
      {"SingleQuotedWithDoubleQuotes", "a: 'say \"hi\"'\nb: \"it's\"\n"},
      {"NestedCompactSequences", "- - a\n  - b\n-\n  c: d\n- \n- - - e\n"},
      {"SequenceItemOnNextLine", "-\n  a: b\n-\n  x\n"},
      {"NestedFlow", "a: [a, [b, c], {d: e}, []]\nb: {a: [1, 2], b: {c: d}, e: {}}\n"},
      {"FlowMapKeyWithoutValue", "a: {b, c: d}\n"},
      {"FlowSeqSinglePairMap", "a: [b: c]\n"},
      {"FlowTrailingComma", "a: [b, c,]\nd: {e: f,}\n"},
      {"FlowQuoted", "a: [\"x, y\", 'z]']\nb: {\"k: 1\": 'v}'}\n"},
      {"RootFlowMap", "{a: b}\n"},
      {"RootFlowSeq", "[a, b]\n"},
      {"RootScalar", "just a scalar\n"},
      {"RootQuotedScalar", "\"just a scalar\"\n"},
      {"CommentAfterEmptyValue", "a:    # comment\n  value\nb: # c\n  - x\n"},
      {"PlainContinuationIndicators", "a: x\n  > 0.5\n  - y\n   ? z\n  # c\n"},
      {"PlainStartingWithIndicators", "a: -x\nb: ?y\nc: :z\nd: -\ne: x-\n"},
      {"PlainWithQuotesInside", "a: it's\nb: say \"x\"\n"},
      {"DocumentEndMarker", "a: b\n...\n"},
      {"ByteOrderMark", absl::StrCat("\xef\xbb\xbf", "a: b\n")},
      {"ManySpaces", "a:      b\nc:    'd'    # e\n"},
      {"BlankLinesWithSpaces", "a: b\n   \n\nc:\n  \n  d\n"},
      {"SequenceScalarContinuation", "- a\n  b\n- c\n"},
      {"EmptyLiteral", "a: |\nb: |-\n"},
      {"TabAfterValueSeparator", "a:\tb\n"},
      {"TabInsideScalar", "a: b\tc\n"},
      {"IndentedRootMap", "  a: b\n  c: d\n"},
      {"DocumentStartAndScalar", "--- text\n"},
      {"LongLine", absl::StrCat("a: ", std::string(5000, 'x'), "\n")},
  };
}

// Outside the subset, or not YAML at all: the only right answer is "not sure".
std::vector<YamlCase> MustDeclineCases() {
  return {
      {"Anchor", "a: &x b\nc: d\n"},
      {"Alias", "a: &x b\nc: *x\n"},
      {"AnchorOnMap", "a: &m\n  b: c\nd: *m\n"},
      {"TagStr", "a: !!str x\n"},
      {"TagLocal", "a: !foo x\n"},
      {"TagNonSpecific", "a: ! x\n"},
      {"ComplexKey", "? complex key\n: v\n"},
      {"YamlDirective", "%YAML 1.2\n---\na: b\n"},
      {"TagDirective", "%TAG !e! tag:example.com,2000:\n---\na: b\n"},
      {"TabIndentation", "a:\n\tb: c\n"},
      {"TabIndentationInRuleFile", "groups:\n- name: x\n  rules:\n\t- record: a\n\t  expr: up\n"},
      {"CrLf", "groups:\r\n- name: x\r\n  rules: []\r\n"},
      {"LoneCr", "a: b\rc: d\n"},
      {"SecondDocument", "a: b\n---\nc: d\n"},
      {"SecondDocumentAfterStart", "---\na: b\n---\nc: d\n"},
      {"DuplicateKeys", "a: 1\na: 2\n"},
      {"DuplicateKeysNested", "groups:\n- name: x\n  name: y\n"},
      {"DuplicateKeysQuotedAndPlain", "a: 1\n\"a\": 2\n"},
      {"DuplicateKeysFlow", "labels: {a: 1, a: 2}\n"},
      {"MultiLineDoubleQuoted", "a: \"x\n  y\"\n"},
      {"MultiLineSingleQuoted", "a: 'x\n  y'\n"},
      {"FlowSeqSpanningLines", "a: [x,\n  y]\n"},
      {"FlowMapSpanningLines", "labels: {a: b,\n  c: d}\n"},
      {"ExplicitIndentationLiteral", "a: |2\n   x\n"},
      {"ExplicitIndentationFolded", "a: >1-\n  x\n"},
      {"InvalidUtf8Byte", "a: \xff\n"},
      {"TruncatedUtf8", "a: \xc3\n"},
      {"OverlongUtf8", "a: \xc0\xaf\n"},
      {"Utf16Surrogate", "a: \xed\xa0\x80\n"},
      {"MapValueIsMap", "a: b: c\n"},
      // yaml-cpp 0.7 reads the next two as "x " (a spec deviation).
      {"UnterminatedSingleQuote", "a: 'x\n"},
      {"UnterminatedDoubleQuote", "a: \"x\n"},
      {"UnclosedFlowSeq", "a: [x, y\n"},
      {"TextAfterQuoted", "a: \"x\" y\n"},
      {"SeqThenMapSameLevel", "a:\n  - b\n  c: d\n"},
      // yaml-cpp 0.7 reads the next two as two documents (a spec deviation).
      {"RootSeqThenMap", "- a\nb: c\n"},
      {"LessIndentedKey", "  a: b\nc: d\n"},
      // A comment ends a plain scalar; a further line cannot continue it.
      {"CommentThenContinuation", "a: b # c\n  d\n"},
      {"RootScalarCommentThenLine", "a #\nb\n"},
      // "---" opens a second (empty) document even after an indented root.
      {"TrailingDocumentStartAfterIndentedRoot", "  groups: []\n---\n"},
      // YAML 1.2 allows "?" inside a plain scalar in a flow collection, but
      // yaml-cpp, libyaml/PyYAML and go-yaml (so Prometheus itself) end the
      // scalar there and reject the document: the fast path must not
      // accept what the fallback and Prometheus reject.
      {"QuestionMarkInFlowSeqScalar", "a: [b?]\n"},
      {"QuestionMarkInFlowMapScalar", "annotations: {summary: is it down?}\n"},
      // yaml-cpp never returns on these (see kRunawayDocuments).
      {"StrayComma", ","},
      {"StrayCommaAfterRootSequence", "- targets: [a]\n,\n"},
      {"StrayCommaAfterDocumentStart", "---\n,\n"},
      {"StrayCommaAfterFlowSeq", "[a],\n"},
      {"NestedMapsTooDeep", NestedMaps(66)},
      {"NestedFlowSeqsTooDeep", NestedFlowSeqs(66)},
      {"NestedBlockSeqsTooDeep", NestedBlockSeqs(66)},
  };
}

std::string TestName(const testing::TestParamInfo<YamlCase>& info) { return info.param.name; }

class MustAcceptTest : public testing::TestWithParam<YamlCase> {};

TEST_P(MustAcceptTest, ParsesExactlyAsYamlCpp) {
  const std::string& text = GetParam().text;
  ASSERT_TRUE(YamlCppAccepts(text)) << "the table is wrong: yaml-cpp rejects it";
  std::optional<YamlSubsetNode> tree = ParseYamlSubset(text);
  ASSERT_TRUE(tree.has_value()) << "the fast path declines it";
  std::string mismatch = MismatchWithYamlCpp(text, *tree);
  EXPECT_TRUE(mismatch.empty()) << Describe(text, mismatch);
}

INSTANTIATE_TEST_SUITE_P(YamlSubset, MustAcceptTest, testing::ValuesIn(MustAcceptCases()),
                         TestName);

class MayDeclineTest : public testing::TestWithParam<YamlCase> {};

TEST_P(MayDeclineTest, WhenAcceptedParsesExactlyAsYamlCpp) {
  const std::string& text = GetParam().text;
  std::optional<YamlSubsetNode> tree = ParseYamlSubset(text);
  if (!tree.has_value()) return;
  std::string mismatch = MismatchWithYamlCpp(text, *tree);
  EXPECT_TRUE(mismatch.empty()) << Describe(text, mismatch);
}

INSTANTIATE_TEST_SUITE_P(YamlSubset, MayDeclineTest, testing::ValuesIn(MayDeclineCases()),
                         TestName);

class MustDeclineTest : public testing::TestWithParam<YamlCase> {};

TEST_P(MustDeclineTest, SaysNotSure) {
  const std::string& text = GetParam().text;
  std::optional<YamlSubsetNode> tree = ParseYamlSubset(text);
  if (!tree.has_value()) return;
  std::string rendered;
  RenderSubset(*tree, 0, &rendered);
  ADD_FAILURE() << "document: \"" << absl::CHexEscape(text) << "\"\nsubset returned:\n" << rendered;
}

INSTANTIATE_TEST_SUITE_P(YamlSubset, MustDeclineTest, testing::ValuesIn(MustDeclineCases()),
                         TestName);

// ---- the repository's own rule files ---------------------------------------

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}

std::vector<std::filesystem::path> RuleFilesInRepo() {
  std::vector<std::filesystem::path> files;
  for (const char* dir : {"examples", "tests"}) {
    std::error_code ec;
    std::filesystem::recursive_directory_iterator it(
        std::filesystem::path(PROMCONF_SOURCE_DIR) / dir, ec);
    for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (it->is_regular_file(ec) &&
          (absl::EndsWith(name, ".rules.yml") || absl::EndsWith(name, ".rules.yaml"))) {
        files.push_back(it->path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(YamlSubsetTest, RuleFilesInRepoTakeTheFastPath) {
  const std::vector<std::filesystem::path> files = RuleFilesInRepo();
  // examples/ has two, tests/unit/testdata/ at least two more.
  EXPECT_GE(files.size(), 4u);
  for (const std::filesystem::path& path : files) {
    SCOPED_TRACE(path.string());
    const std::string text = ReadFile(path);
    if (!YamlCppAccepts(text)) continue;  // deliberately broken input for other tests
    std::optional<YamlSubsetNode> tree = ParseYamlSubset(text);
    ASSERT_TRUE(tree.has_value()) << "the fast path declines it";
    std::string mismatch = MismatchWithYamlCpp(text, *tree);
    EXPECT_TRUE(mismatch.empty()) << Describe(text, mismatch);
  }
}

// ---- differential fuzzing --------------------------------------------------

// Bytes that steer a YAML parser: indicators, whitespace, line breaks
// (including a CR), letters and digits that extend scalars, and UTF-8 that is
// valid, truncated or stray.
const std::vector<std::string>& Insertions() {
  // clang-format off
  static const std::vector<std::string>* const kInsertions = new std::vector<std::string>{
      ":", "-", "#", "'", "\"", "{", "}", "[", "]", ",", "|", ">", "&", "*", "!", "?", "%", "@",
      "`", "~", "\\", ".", " ", " ", " ", "\n", "\n", "\t", "\r", "a", "x", "Z", "0", "7",
      ": ", "- ", " #", "---", "...", "\n  ", "é", "\xc3", "\x80", std::string(1, '\0'), "\x04"};
  // clang-format on
  return *kInsertions;
}

size_t Pick(std::mt19937& rng, size_t n) { return n == 0 ? 0 : rng() % n; }

std::string MutateOnce(const std::string& doc, std::mt19937& rng) {
  std::vector<std::string> lines = absl::StrSplit(doc, '\n');
  const size_t l = Pick(rng, lines.size());
  switch (Pick(rng, 6)) {
    case 0: {  // delete a byte
      if (doc.empty()) return doc;
      std::string out = doc;
      out.erase(Pick(rng, out.size()), 1);
      return out;
    }
    case 1: {  // insert bytes
      std::string out = doc;
      const std::string& ins = Insertions()[Pick(rng, Insertions().size())];
      out.insert(Pick(rng, out.size() + 1), ins);
      return out;
    }
    case 2:  // duplicate a line
      lines.insert(lines.begin() + l, lines[l]);
      break;
    case 3:  // delete a line
      if (lines.size() > 1) lines.erase(lines.begin() + l);
      break;
    case 4:  // swap two lines
      std::swap(lines[l], lines[Pick(rng, lines.size())]);
      break;
    case 5: {  // re-indent a line by -2, -1, +1 or +2
      static constexpr int kDeltas[] = {-2, -1, 1, 2};
      const int delta = kDeltas[Pick(rng, 4)];
      if (delta > 0) {
        lines[l].insert(0, delta, ' ');
      } else {
        size_t spaces = 0;
        while (spaces < lines[l].size() && spaces < size_t(-delta) && lines[l][spaces] == ' ')
          ++spaces;
        lines[l].erase(0, spaces);
      }
      break;
    }
  }
  return absl::StrJoin(lines, "\n");
}

std::vector<std::string> FuzzSeeds() {
  std::vector<std::string> seeds;
  for (const YamlCase& c : MustAcceptCases()) seeds.push_back(c.text);
  for (const YamlCase& c : MayDeclineCases()) {
    if (c.text.size() < 1000) seeds.push_back(c.text);
  }
  for (const std::filesystem::path& path : RuleFilesInRepo()) seeds.push_back(ReadFile(path));
  return seeds;
}

// A fixed sequence of mutants: every seed in turn, 1-3 mutations each.
std::vector<std::string> Mutants(size_t count) {
  const std::vector<std::string> seeds = FuzzSeeds();
  std::mt19937 rng(1);
  std::vector<std::string> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    std::string doc = seeds[i % seeds.size()];
    const size_t mutations = 1 + Pick(rng, 3);
    for (size_t m = 0; m < mutations; ++m) doc = MutateOnce(doc, rng);
    out.push_back(std::move(doc));
  }
  return out;
}

// Whether the subset answers for `doc` and the answer differs from yaml-cpp's.
bool SubsetDisagrees(const std::string& doc) {
  std::optional<YamlSubsetNode> tree = ParseYamlSubset(doc);
  return tree.has_value() && !MismatchWithYamlCpp(doc, *tree).empty();
}

// Greedily drops lines, then bytes, while the document still disagrees, so a
// failure reports a small reproducer.
std::string Minimize(std::string doc) {
  for (bool progress = true; progress;) {
    progress = false;
    std::vector<std::string> lines = absl::StrSplit(doc, '\n');
    for (size_t i = 0; i < lines.size() && lines.size() > 1;) {
      std::vector<std::string> fewer = lines;
      fewer.erase(fewer.begin() + i);
      std::string candidate = absl::StrJoin(fewer, "\n");
      if (SubsetDisagrees(candidate)) {
        doc = std::move(candidate);
        lines = std::move(fewer);
        progress = true;
      } else {
        ++i;
      }
    }
    for (size_t i = 0; i < doc.size();) {
      std::string candidate = doc;
      candidate.erase(i, 1);
      if (SubsetDisagrees(candidate)) {
        doc = std::move(candidate);
        progress = true;
      } else {
        ++i;
      }
    }
  }
  return doc;
}

// Enough to reach most corners of a small parser, few enough that the pair
// of fuzz tests stays within seconds under ASan.
constexpr size_t kTreeFuzzCases = 12000;
constexpr size_t kFragmentFuzzCases = 4000;
constexpr size_t kReportedFailures = 3;

TEST(YamlSubsetFuzzTest, AcceptedMutantsParseExactlyAsYamlCpp) {
  const std::vector<std::string> mutants = Mutants(kTreeFuzzCases);
  size_t accepted = 0, yaml_cpp_only = 0, failures = 0;
  // The smallest failing mutant per way of failing (yaml-cpp rejects it,
  // reads several documents, builds another tree), minimized below.
  std::map<std::string, std::string> smallest;
  for (const std::string& doc : mutants) {
    std::optional<YamlSubsetNode> tree = ParseYamlSubset(doc);
    if (!tree.has_value()) {
      yaml_cpp_only += YamlCppAccepts(doc);
      continue;
    }
    ++accepted;
    std::string mismatch = MismatchWithYamlCpp(doc, *tree);
    if (mismatch.empty()) continue;
    if (++failures <= kReportedFailures) ADD_FAILURE() << Describe(doc, mismatch);
    std::string& kept = smallest[mismatch.substr(0, mismatch.find_first_of(":\n"))];
    if (kept.empty() || doc.size() < kept.size()) kept = doc;
  }
  for (const auto& [how, doc] : smallest) {
    const std::string minimal = Minimize(doc);
    std::optional<YamlSubsetNode> tree = ParseYamlSubset(minimal);
    ADD_FAILURE() << "minimized: " << Describe(minimal, MismatchWithYamlCpp(minimal, *tree));
  }
  EXPECT_EQ(failures, 0u) << "mutants on which the subset and yaml-cpp disagree";
  std::printf(
      "[   FUZZ   ] subset accepted %zu of %zu mutants (%.1f%%); %zu more valid for yaml-cpp\n",
      accepted, mutants.size(), 100.0 * accepted / mutants.size(), yaml_cpp_only);
  // A parser that declines everything would pass the rest of this test.
  EXPECT_GT(accepted * 10, mutants.size()) << accepted << " of " << mutants.size();
}

// RenderSubset plus what the full parser adds: the line of every key.
void RenderWithKeyLines(const YamlSubsetNode& n, int indent, std::string* out) {
  const std::string pad(indent + 2, ' ');
  if (n.IsMap()) {
    absl::StrAppend(out, "map @", n.line, "\n");
    for (const auto& [key, value] : n.map) {
      absl::StrAppend(out, pad, Quote(key), " @", value.key_line, ": ");
      RenderWithKeyLines(value, indent + 2, out);
    }
  } else if (n.IsSeq()) {
    absl::StrAppend(out, "seq @", n.line, "\n");
    for (const YamlSubsetNode& item : n.seq) {
      absl::StrAppend(out, pad, "- ");
      RenderWithKeyLines(item, indent + 2, out);
    }
  } else {
    RenderSubset(n, indent, out);
  }
}

// ParseYaml builds its tree from yaml-cpp's events when the fast path is
// unsure: wherever the fast path answers, both trees are the same (kinds,
// quoting, scalars, lines, key lines), so every check sees one tree.
TEST(YamlSubsetFuzzTest, FastPathTreeEqualsTheTreeBuiltFromYamlCppEvents) {
  std::vector<std::string> docs = Mutants(kTreeFuzzCases);
  for (const YamlCase& c : MustAcceptCases()) docs.push_back(c.text);
  for (const std::filesystem::path& path : RuleFilesInRepo()) docs.push_back(ReadFile(path));
  size_t compared = 0, failures = 0;
  YamlParseOptions slow;
  slow.fast_path = false;
  for (const std::string& doc : docs) {
    std::optional<YamlSubsetNode> fast = ParseYamlSubset(doc);
    if (!fast.has_value() || YamlTreeDepth(*fast) > slow.max_depth) continue;
    ++compared;
    absl::StatusOr<YamlSubsetNode> built = ParseYaml(doc, slow);
    std::string want, got;
    RenderWithKeyLines(*fast, 0, &want);
    if (built.ok()) RenderWithKeyLines(*built, 0, &got);
    if (built.ok() && want == got) continue;
    if (++failures <= kReportedFailures) {
      ADD_FAILURE() << Describe(doc, absl::StrCat("fast path:\n", want, "from yaml-cpp events:\n",
                                                  built.ok() ? got : built.status().ToString()));
    }
  }
  EXPECT_EQ(failures, 0u);
  EXPECT_GT(compared * 10, docs.size());
  std::printf("[   FUZZ   ] %zu fast-path trees equal to the event-built ones\n", compared);
}

Document RuleDoc(std::string name, std::string data) {
  Document d;
  d.name = std::move(name);
  d.data = std::move(data);
  return d;
}

// Empty when ParseFragment answers the same with and without the fast
// path: the same status (rejections all come from yaml-cpp, so even the
// messages agree) and, when valid, the same output path and bytes.
std::string FastPathMismatch(absl::string_view source, const Document& doc,
                             ValidationOptions options, bool* valid) {
  options.yaml_fast_path = true;
  absl::StatusOr<Fragment> fast = ParseFragment(source, doc, options);
  options.yaml_fast_path = false;
  absl::StatusOr<Fragment> slow = ParseFragment(source, doc, options);
  *valid = slow.ok();
  if (fast.status() != slow.status()) {
    return absl::StrCat("fast path: ", fast.status().ToString(),
                        "\nyaml-cpp: ", slow.status().ToString(), "\n");
  }
  if (fast.ok() && (fast->kind != slow->kind || fast->output_path != slow->output_path ||
                    fast->output_bytes() != slow->output_bytes())) {
    return absl::StrCat("fast path: ", fast->output_path, "\n", fast->output_bytes(),
                        "yaml-cpp: ", slow->output_path, "\n", slow->output_bytes());
  }
  return "";
}

// Most of the fast path's business is the verbatim case; the namespaced one
// re-emits the rule file from its tree.
struct FragmentSetup {
  const char* source;
  const char* name;
  ValidationOptions options;
};

std::vector<FragmentSetup> FragmentSetups() {
  ValidationOptions namespaced;
  namespaced.enforce_namespace_label = "namespace";
  namespaced.namespaced_sources = {"cluster"};
  return {{"kv", "team/x.rules.yml", ValidationOptions()},
          {"cluster", "team-a/cm/x.rules.yml", namespaced}};
}

TEST(YamlSubsetFragmentTest, SameAnswerWithAndWithoutFastPath) {
  std::vector<YamlCase> cases = MustAcceptCases();
  for (std::vector<YamlCase> more : {MayDeclineCases(), MustDeclineCases()}) {
    cases.insert(cases.end(), more.begin(), more.end());
  }
  // Rule files where the subset and yaml-cpp have been seen to part ways.
  cases.push_back({"CommentThenContinuation", R"yaml(groups:
- name: g
  rules:
  - alert: A
    expr: up == 0  # while deploying
      unless on() deploying == 1
)yaml"});
  cases.push_back({"QuestionMarkInFlowMap", R"yaml(groups:
- name: g
  rules:
  - alert: A
    expr: up == 0
    annotations: {summary: is it down?}
)yaml"});
  cases.push_back({"IndentedWithTrailingDocumentStart", R"yaml(  groups:
  - name: g
    rules:
    - record: a:b
      expr: up
---
)yaml"});
  for (const YamlCase& c : cases) {
    // ParseFragment would hand these to LoadAll, which never returns.
    if (ParseWithYamlCpp(c.text).documents == kRunawayDocuments) continue;
    for (const FragmentSetup& setup : FragmentSetups()) {
      bool valid;
      std::string mismatch =
          FastPathMismatch(setup.source, RuleDoc(setup.name, c.text), setup.options, &valid);
      EXPECT_TRUE(mismatch.empty()) << c.name << " as " << setup.source << " " << setup.name << "\n"
                                    << Describe(c.text, mismatch);
    }
  }
}

TEST(YamlSubsetFuzzTest, ParseFragmentSameWithAndWithoutFastPath) {
  const std::vector<FragmentSetup> setups = FragmentSetups();
  const std::vector<std::string> mutants = Mutants(kFragmentFuzzCases);
  size_t valid_count = 0, runaway = 0, failures = 0;
  std::string smallest;
  for (size_t i = 0; i < mutants.size(); ++i) {
    // ParseFragment would hand these to LoadAll, which never returns.
    if (ParseWithYamlCpp(mutants[i]).documents == kRunawayDocuments) {
      ++runaway;
      continue;
    }
    // Every fourth case namespaced.
    const FragmentSetup& setup = setups[i % 4 == 3 ? 1 : 0];
    const Document doc = RuleDoc(setup.name, mutants[i]);
    bool valid;
    std::string mismatch = FastPathMismatch(setup.source, doc, setup.options, &valid);
    valid_count += valid;
    if (mismatch.empty()) continue;
    if (++failures <= kReportedFailures) {
      ADD_FAILURE() << setup.source << " " << setup.name << "\n" << Describe(doc.data, mismatch);
    }
    if (smallest.empty() || doc.data.size() < smallest.size()) smallest = doc.data;
  }
  EXPECT_EQ(failures, 0u) << "smallest: \"" << absl::CHexEscape(smallest) << "\"";
  std::printf("[   FUZZ   ] %zu of %zu mutated rule files valid; %zu skipped (yaml-cpp runaway)\n",
              valid_count, mutants.size(), runaway);
}

}  // namespace
}  // namespace promconf
