// ParseYaml's bounds and semantics: every limit the header promises, met
// by the hostile shape it exists for, rejected cleanly with a reason.

#include "reconcile/yaml_tree.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reconcile/fragment.h"
#include "reconcile/fragment_yaml.h"
#include "reconcile/renderer.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;

YamlParseOptions Slow() {
  YamlParseOptions o;
  o.fast_path = false;
  return o;
}

// Rejected with `reason`, through both paths.
void ExpectRejected(const std::string& text, const std::string& reason, int line = -1) {
  for (bool fast : {true, false}) {
    YamlParseOptions o;
    o.fast_path = fast;
    YamlParseError err;
    absl::StatusOr<YamlSubsetNode> tree = ParseYaml(text, o, &err);
    ASSERT_FALSE(tree.ok()) << (fast ? "fast" : "slow") << ": " << text.substr(0, 200);
    EXPECT_THAT(std::string(tree.status().message()), HasSubstr(reason));
    EXPECT_THAT(err.reason, HasSubstr(reason));
    if (line >= 0) {
      EXPECT_EQ(err.line, line) << tree.status();
    }
  }
}

std::string Emit(const YamlSubsetNode& n) {
  std::string out;
  EmitYamlBlock(n, 0, false, &out);
  return out;
}

// ---- nesting ---------------------------------------------------------------

TEST(YamlTreeTest, MillionDeepNestingIsRejectedBeforeYamlCppRecurses) {
  constexpr int kDeep = 1000000;
  std::string block_seqs;
  for (int i = 0; i < kDeep; ++i) block_seqs.append("- ");
  block_seqs.append("x\n");
  ExpectRejected(block_seqs, "nest", 1);
  ExpectRejected(std::string(kDeep, '[') + std::string(kDeep, ']'), "nest", 1);
  std::string flow_maps;
  for (int i = 0; i < kDeep; ++i) flow_maps.append("{a: ");
  ExpectRejected(flow_maps, "nest", 1);
  std::string keys;
  for (int i = 0; i < kDeep; ++i) keys.append("? ");
  ExpectRejected(keys + "x\n", "nest", 1);
  // Through indentation: one more space per line.
  std::string indented;
  for (int i = 0; i < 3000; ++i) absl::StrAppend(&indented, std::string(i, ' '), "-\n");
  ExpectRejected(indented, "nest");
  // The base config has no size limit: Render must refuse it too.
  RenderInput in;
  in.base_config = absl::StrCat("global: ", std::string(kDeep, '['));
  absl::StatusOr<RenderOutput> out = Render(in);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("nest"));
}

TEST(YamlTreeTest, DepthLimitIsExactOnTheTree) {
  auto nested = [](int depth) {
    return absl::StrCat(std::string(depth, '['), "x", std::string(depth, ']'));
  };
  EXPECT_TRUE(ParseYaml(nested(64), Slow()).ok());
  // Just under the text bound yaml-cpp recurses a few hundred levels (its
  // own depth guard may answer first): rejected, no crash.
  std::string dashes;
  for (int i = 0; i < 250; ++i) dashes.append("- ");
  ExpectRejected(dashes + "x\n", "");
  ExpectRejected(nested(250), "deeper than 64");
  ExpectRejected(nested(65), "deeper than 64");
  // An alias cannot nest its anchor deeper than the limit either.
  std::string text = absl::StrCat("a: &a ", nested(40), "\nb: ", std::string(30, '['), "*a",
                                  std::string(30, ']'), "\n");
  ExpectRejected(text, "deeper than 64");
}

// ---- aliases -----------------------------------------------------------------

std::string Laughs(int levels, int fan_out, size_t leaf_bytes) {
  std::string s = absl::StrCat("l0: &l0 \"", std::string(leaf_bytes, 'x'), "\"\n");
  for (int i = 1; i < levels; ++i) {
    absl::StrAppendFormat(&s, "l%d: &l%d [", i, i);
    for (int k = 0; k < fan_out; ++k) absl::StrAppendFormat(&s, "%s*l%d", k ? ", " : "", i - 1);
    s.append("]\n");
  }
  return s;
}

TEST(YamlTreeTest, BillionLaughsIsRefusedByItsExpandedBytes) {
  // 10^9 leaves.
  const std::string bomb = Laughs(10, 10, 1);
  YamlParseError err;
  absl::StatusOr<YamlSubsetNode> tree = ParseYaml(bomb, {}, &err);
  ASSERT_FALSE(tree.ok());
  EXPECT_THAT(err.reason, HasSubstr("expands to more than"));
  EXPECT_THAT(err.reason, HasSubstr("16 bytes per input byte"));
  EXPECT_GT(err.line, 0);
  // Few aliases of a big anchor: counting nodes would let this through
  // (1 MB of aliases once became a bad_alloc abort).
  std::string wide = absl::StrCat("big: &b \"", std::string(100000, 'x'), "\"\nlist:\n");
  for (int i = 0; i < 200; ++i) wide.append("- *b\n");
  tree = ParseYaml(wide, {}, &err);
  ASSERT_FALSE(tree.ok());
  EXPECT_THAT(err.reason, HasSubstr("expands to more than"));
  // Nested anchors cannot multiply copies of one subtree.
  std::string nested_anchors;
  for (int i = 0; i < 60; ++i) absl::StrAppend(&nested_anchors, "&a", i, " [");
  absl::StrAppend(&nested_anchors, "\"", std::string(20000, 'y'), "\"", std::string(60, ']'), "\n");
  tree = ParseYaml(nested_anchors, {}, &err);
  ASSERT_FALSE(tree.ok());
  EXPECT_THAT(err.reason, HasSubstr("expands to more than"));
  // The budget is explicit and honoured exactly.
  YamlParseOptions tight;
  tight.max_cost = 1000;
  EXPECT_FALSE(ParseYaml(Laughs(3, 10, 10), tight).ok());
  EXPECT_TRUE(ParseYaml(Laughs(3, 10, 10)).ok());
}

TEST(YamlTreeTest, SmallAliasesExpandAndLeaveNoTrace) {
  absl::StatusOr<YamlSubsetNode> tree = ParseYaml("a: &x {k: [1, \"2\"]}\nb: *x\n");
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_EQ(Emit(*tree), "a:\n  k:\n  - 1\n  - \"2\"\nb:\n  k:\n  - 1\n  - \"2\"\n");
}

TEST(YamlTreeTest, AliasInsideItsOwnAnchorIsRejected) {
  YamlParseError err;
  absl::StatusOr<YamlSubsetNode> tree = ParseYaml("a: &a [x, *a]\n", {}, &err);
  ASSERT_FALSE(tree.ok());
}

// ---- merge keys --------------------------------------------------------------

TEST(YamlTreeTest, MergeKeysAreExpandedExplicitKeysWinEarlierSourcesWin) {
  absl::StatusOr<YamlSubsetNode> tree = ParseYaml(
      "a: &a {x: 1, y: 1}\n"
      "b: &b {y: 2, z: 2}\n"
      "c:\n  <<: [*a, *b]\n  x: 3\n"
      "d: {x: 4, <<: *b}\n"
      "e: {<<: {w: 5}}\n"
      "f: {\"<<\": literal}\n");
  ASSERT_TRUE(tree.ok()) << tree.status();
  // ("y" is a bool to YAML 1.1 readers: as a key it is quoted.)
  EXPECT_EQ(Emit(*tree),
            "a:\n  x: 1\n  \"y\": 1\n"
            "b:\n  \"y\": 2\n  z: 2\n"
            "c:\n  \"y\": 1\n  z: 2\n  x: 3\n"
            "d:\n  x: 4\n  \"y\": 2\n  z: 2\n"
            "e:\n  w: 5\n"
            "f:\n  \"<<\": literal\n");
}

TEST(YamlTreeTest, MergeKeysCannotHideKeysFromValidation) {
  // A merge key smuggling a key the schema refuses: the check sees it.
  Document doc;
  doc.name = "m.scrape.yml";
  doc.data = "- &x {job_name: a}\n- <<: *x\n  job_name: b\n  honor_labels: true\n";
  absl::StatusOr<Fragment> ok = ParseFragment("kv", doc, {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->scrape_configs.size(), 2u);
  EXPECT_EQ(ok->scrape_configs[1].yaml, "- job_name: b\n  honor_labels: true\n");

  doc.data = "- &x {job_name: a}\n- <<: [*x, {remote_write: [{url: http://evil}]}]\n  job_name: b\n";
  absl::StatusOr<Fragment> bad = ParseFragment("kv", doc, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("unknown key \"remote_write\""));

  // The merged key is validated and emitted like any other.
  doc.data = "- &x {job_name: a, scrape_interval: soon}\n- <<: *x\n  job_name: b\n";
  bad = ParseFragment("kv", doc, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("not a valid duration"));
  // A host file smuggled through a merge key is seen: refused from an
  // untrusted source, emitted as a plain key from a trusted one.
  doc.data = "- &x {job_name: a, bearer_token_file: /etc/shadow}\n- <<: *x\n  job_name: b\n";
  bad = ParseFragment("kv", doc, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("bearer_token_file"));
  ValidationOptions trusted;
  trusted.trusted_sources.insert("kv");
  ok = ParseFragment("kv", doc, trusted);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->scrape_configs[1].yaml, "- bearer_token_file: /etc/shadow\n  job_name: b\n");

  // Rule files too: no "<<", "&" or "*" reaches the output.
  doc.name = "r.rules.yml";
  doc.data =
      "groups:\n- name: g\n  rules:\n  - &r {alert: A, expr: up == 0, labels: {severity: page}}\n"
      "  - <<: *r\n    alert: B\n";
  ok = ParseFragment("kv", doc, {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->output_bytes(),
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    labels:\n      severity: page\n"
            "  - expr: up == 0\n    labels:\n      severity: page\n    alert: B\n");
}

TEST(YamlTreeTest, MergeKeyValuesMustBeMappings) {
  ExpectRejected("a: {<<: x}\n", "merge key");
  ExpectRejected("a: {<<: [{b: 1}, x]}\n", "merge key");
  ExpectRejected("a: {<<: {b: 1}, <<: {c: 1}}\n", "duplicate key");
}

// ---- keys, text, tags --------------------------------------------------------

TEST(YamlTreeTest, DuplicateAndNonScalarKeysAreRejected) {
  ExpectRejected("a: 1\nb: 2\na: 3\n", "duplicate key", 3);
  ExpectRejected("{a: 1, a: 2}\n", "duplicate key");
  std::string many = "m:\n";
  for (int i = 0; i < 100; ++i) absl::StrAppend(&many, "  k", i, ": v\n");
  ExpectRejected(many + "  k7: again\n", "duplicate key", 102);
  YamlParseError err;
  ASSERT_FALSE(ParseYaml(many + "  k7: again\n", {}, &err).ok());
  EXPECT_EQ(err.key, "m.k7");
  ExpectRejected("? [a]\n: b\n", "keys must be strings");
  ExpectRejected("{[a]: b}\n", "keys must be strings");
  ExpectRejected("~: b\n", "keys must be strings");
  ExpectRejected("a: &m {x: 1}\n*m : b\n", "keys must be strings");
}

TEST(YamlTreeTest, TextMustBeValidPrintableUtf8) {
  ExpectRejected("a: b\nc: \xff\n", "invalid UTF-8", 2);
  ExpectRejected("a: \xed\xa0\x80\n", "invalid UTF-8", 1);          // a surrogate
  ExpectRejected("a: \xc0\xaf\n", "invalid UTF-8", 1);              // overlong
  ExpectRejected("a: \"x\xc2\x9fy\"\n", "U+009F is not allowed", 1);  // C1
  ExpectRejected("a: x\x01y\n", "U+0001 is not allowed", 1);
  ExpectRejected("a: x\x7fy\n", "U+007F is not allowed", 1);
  ExpectRejected("a: \xef\xbf\xbe\n", "U+FFFE is not allowed", 1);
  ExpectRejected("a: b\xef\xbb\xbf\n", "U+FEFF is not allowed", 1);
  // Escapes may name any code point but a lone surrogate.
  ExpectRejected("a: \"\\ud800\"\n", "invalid");
  absl::StatusOr<YamlSubsetNode> bom = ParseYaml("\xef\xbb\xbf" "a: b\n");
  ASSERT_TRUE(bom.ok()) << bom.status();
  absl::StatusOr<YamlSubsetNode> escaped = ParseYaml("a: \"\\u2028\\x85\\0\"\n");
  ASSERT_TRUE(escaped.ok()) << escaped.status();
  EXPECT_EQ(escaped->Find("a")->scalar, std::string("\xe2\x80\xa8\xc2\x85\0", 6));
}

TEST(YamlTreeTest, TagsOtherThanStrAreRejected) {
  absl::StatusOr<YamlSubsetNode> tree = ParseYaml("a: !!str 5\n");
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_TRUE(tree->Find("a")->quoted);
  EXPECT_EQ(Emit(*tree), "a: \"5\"\n");
  ExpectRejected("a: !!int 5\n", "tag");
  ExpectRejected("a: !custom x\n", "tag");
  ExpectRejected("a: !!map {b: 1}\n", "tag");
}

TEST(YamlTreeTest, YamlCppErrorsAndSecondDocumentsNameTheLine) {
  ExpectRejected("a: [1, 2\nb: 3\n", "invalid YAML");
  ExpectRejected("a: 1\n---\nb: 2\n", "more than one YAML document", 2);
  ExpectRejected("a: *nothing\n", "invalid YAML");
}

TEST(YamlTreeTest, ErrorKeyPathsNameTheNode) {
  YamlParseError err;
  ASSERT_FALSE(ParseYaml("a:\n- b: 1\n- c: {d: 1, d: 2}\n", Slow(), &err).ok());
  EXPECT_EQ(err.key, "a[1].c.d");
  EXPECT_EQ(err.line, 3);
}

// ---- emitter -----------------------------------------------------------------

TEST(YamlEmitTest, PlainOnlyWhenProvablyPlainAndSameType) {
  for (const char* s : {"a", "/metrics", "a:b", "http://x:80/y?z=1", "sum(rate(x[5m]))", "a b", "é", "a-b", "_x",
                        "job:up:sum"}) {
    EXPECT_TRUE(IsUnambiguousString(s)) << s;
  }
  for (const char* s : {"", " a", "a ", "a: b", "a #b", "#a", "- a", "-", "---", "...", "? a", ":a", "a:", "&a", "*a",
                        "!a", "|", ">", "'a", "\"a", "%a", "@a", "`a", "[a", "]", "{a", "}", ",a", "<<", "=",
                        "yes", "No", "ON", "off", "y", "N", "true", "FALSE", "null", "Null", "~", "1", "1.5",
                        "0x1f", "0o17", "1_000", "1e3", ".5", "+1", "-1", ".inf", "-.Inf", ".NaN", "1:20",
                        "2001-12-14", "a\tb", "a\nb", "a\x01", "a\x7f", "a\xc2\x85", "a\xe2\x80\xa8", "a\xe2\x80\xa9",
                        "a\xef\xbb\xbf", "a\xef\xb7\x90", "a\xef\xbf\xbe", "a\xff"}) {
    EXPECT_FALSE(IsUnambiguousString(s)) << absl::CHexEscape(s);
  }
  // A plain input scalar stays plain (an int stays an int); a quoted one
  // stays quoted.
  absl::StatusOr<YamlSubsetNode> tree = ParseYaml("a: 100\nb: \"100\"\nc: yes\nd: 'x'\ne: 5m\n");
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(Emit(*tree), "a: 100\nb: \"100\"\nc: yes\nd: \"x\"\ne: 5m\n");
}

TEST(YamlEmitTest, QuotedEscapesEveryUnsafeCodePoint) {
  std::string out;
  static constexpr char kIn[] =
      "a\0b\x01\t\n\r\"\\\x7f\xc2\x85\xc2\x9f\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf"
      "\xef\xbf\xbe\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xff";
  AppendQuoted(absl::string_view(kIn, sizeof(kIn) - 1), &out);
  EXPECT_EQ(out,
            "\"a\\u0000b\\u0001\\t\\n\\r\\\"\\\\\\u007F\\u0085\\u009F\\u2028\\u2029\\uFEFF\\uFFFE"
            "\xf0\x9f\x98\x80\\U0010FFFF\xef\xbf\xbd\"");
}

TEST(YamlEmitTest, MultiLineStringsBecomeLiteralBlocksOnlyWhenExact) {
  absl::StatusOr<YamlSubsetNode> tree = ParseYaml(
      "r:\n- expr: |\n    sum(x)\n      / sum(y)\n\n    > 1\n"
      "  a: \"one\\ntwo\"\n"
      "  b: \" lead\\nx\"\n"
      "  c: \"x\\n\\n\"\n"
      "  d: \"x \\ny\"\n"
      "  e: \"x\\u2028\\ny\"\n");
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_EQ(Emit(*tree),
            "r:\n- expr: |\n    sum(x)\n      / sum(y)\n\n    > 1\n"
            "  a: |-\n    one\n    two\n"
            "  b: \" lead\\nx\"\n"
            "  c: \"x\\n\\n\"\n"
            "  d: \"x \\ny\"\n"
            "  e: \"x\\u2028\\ny\"\n");
  // And reads back as it was.
  absl::StatusOr<YamlSubsetNode> back = ParseYaml(Emit(*tree));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(Emit(*back), Emit(*tree));
  EXPECT_EQ(back->Find("r")->seq[0].Find("expr")->scalar, "sum(x)\n  / sum(y)\n\n> 1\n");
}

TEST(YamlEmitTest, KeysThatLookLikeOtherTypesAreQuoted) {
  absl::StatusOr<YamlSubsetNode> tree = ParseYaml("\"true\": 1\n\"1\": 2\n\"<<\": 3\n\"a: b\": 4\nok: 5\n");
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(Emit(*tree), "\"true\": 1\n\"1\": 2\n\"<<\": 3\n\"a: b\": 4\nok: 5\n");
}

}  // namespace
}  // namespace promconf
