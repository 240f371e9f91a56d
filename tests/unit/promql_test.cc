#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reconcile/promql/promql.h"

namespace promconf::promql {
namespace {

using ::testing::HasSubstr;

constexpr Version k242{2, 42};

struct CorpusRecord {
  int line;
  std::string verdict_242;  // "ok" or promtool 2.42's "L:C: parse error: ..."
  bool ok_newest;
  std::string expr;
};

std::vector<CorpusRecord> LoadCorpus() {
  std::ifstream in(std::string(PROMCONF_SOURCE_DIR) + "/tests/data/promql_corpus.tsv");
  std::vector<CorpusRecord> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits('\t', 2));
    if (f.size() != 3) {
      ADD_FAILURE() << "corpus line " << n << " malformed";
      continue;
    }
    out.push_back({n, f[0], f[1] == "ok", f[2]});
  }
  return out;
}

ParseOptions At(Version v) {
  ParseOptions o;
  o.version = v;
  return o;
}

// Print(Parse(x)) parses to an equal AST, and printing that again gives the
// same text.
void ExpectRoundTrip(const Expr& e, Version v, const std::string& where) {
  std::string printed = Print(e);
  absl::StatusOr<std::unique_ptr<Expr>> again = ParseExpr(printed, At(v));
  ASSERT_TRUE(again.ok()) << where << ": printed form \"" << printed
                          << "\" does not parse: " << again.status();
  EXPECT_TRUE(Equal(e, **again)) << where << ": printed form \"" << printed
                                 << "\" parses to a different AST";
  EXPECT_EQ(Print(**again), printed) << where << ": printing is not idempotent";
}

TEST(PromqlCorpusTest, EnoughRecords) {
  std::vector<CorpusRecord> corpus = LoadCorpus();
  size_t valid = 0, invalid = 0;
  for (const auto& r : corpus) (r.verdict_242 == "ok" ? valid : invalid)++;
  EXPECT_GE(corpus.size(), 500u);
  EXPECT_GE(valid, 200u);
  EXPECT_GE(invalid, 200u);
}

// Every verdict (and, in 2.42, the exact error promtool prints) and the AST
// round-trip of every valid expression.
TEST(PromqlCorpusTest, VerdictsAndRoundTrip) {
  for (const CorpusRecord& r : LoadCorpus()) {
    std::string where = absl::StrCat("corpus line ", r.line, " `", r.expr, "`");
    ParseError err;
    auto e242 = ParseExpr(r.expr, At(k242), &err);
    if (r.verdict_242 == "ok") {
      EXPECT_TRUE(e242.ok()) << where << " (2.42): " << e242.status();
      if (e242.ok()) ExpectRoundTrip(**e242, k242, where + " (2.42)");
    } else {
      EXPECT_FALSE(e242.ok()) << where << " (2.42) accepted";
      if (!e242.ok()) {
        EXPECT_EQ(err.ToString(), r.verdict_242) << where;
      }
    }
    auto en = ParseExpr(r.expr, At(kNewestVersion));
    EXPECT_EQ(en.ok(), r.ok_newest) << where << " (newest): " << en.status();
    if (en.ok()) ExpectRoundTrip(**en, kNewestVersion, where + " (newest)");
  }
}

ParseError ErrorOf(absl::string_view input, Version v = kNewestVersion) {
  ParseError err;
  auto e = ParseExpr(input, At(v), &err);
  EXPECT_FALSE(e.ok()) << input << " accepted";
  return err;
}

TEST(PromqlParseTest, ErrorPositionIsLineAndColumnOfTheText) {
  ParseError e = ErrorOf("sum(\n  rate(foo)\n)");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 8);
  EXPECT_THAT(e.message, HasSubstr("expected type range vector"));
  EXPECT_EQ(e.ToString().substr(0, 17), "2:8: parse error:");

  e = ErrorOf("up{job=~\"(\"}");
  EXPECT_EQ(e.line, 1);
  EXPECT_EQ(e.column, 4);
  EXPECT_THAT(e.message, HasSubstr("error parsing regexp: missing closing )"));
}

// Multi-line expressions (rule files write them with `expr: |`): positions
// are line:column of the expression text, as promtool 2.42 printed them.
TEST(PromqlParseTest, MultiLinePositionsMatchPromtool) {
  struct Case {
    const char* expr;
    const char* want;
  } cases[] = {
      {"sum(\n  rate(foo)\n)",
       "2:8: parse error: expected type range vector in call to function \"rate\", got instant "
       "vector"},
      {"up{\n  job=~\"(\"\n}", "2:3: parse error: error parsing regexp: missing closing ): `^(?:()$`"},
      {"sum by (job) (\n  rate(x[5m])\n) >\n1 <\n2", "ok"},
      {"foo\n  +\n  bar{", "3:7: parse error: unexpected end of input inside braces"},
      {"rate(\n\tfoo[5m]\n) offset\n", "4:1: parse error: unexpected end of input in offset, expected duration"},
      {"# comment\nup\n# trailing", "ok"},
      {"up\r\n+ down", "ok"},
      {"sum(\n  x\n) by (a) without (b)", "3:10: parse error: unexpected <without>"},
      {"a\n and on(x) group_left(y)\n b", "1:1: parse error: no grouping allowed for \"and\" operation"},
      {"  \n\n  frob(up)", "3:3: parse error: unknown function with name \"frob\""},
  };
  for (const Case& c : cases) {
    ParseError err;
    auto e = ParseExpr(c.expr, At(k242), &err);
    EXPECT_EQ(e.ok() ? "ok" : err.ToString(), c.want) << c.expr;
  }
}

TEST(PromqlParseTest, TheIssuesExamplesAreRejected) {
  for (const char* bad : {"rate(up)", "sum(up", "frobnicate(up)", "up{job=~\"(\"}",
                          "sum by (a) without (b) (up)", "1 < 2", "up + bool 1",
                          "up and on(a) group_left(b) up", "up + on(a) group_left(a) up",
                          "{}", "{job=~\".*\"}", "up{__name__=\"x\"}", "1 + on(a) up",
                          "-up[5m]", "up offset 5m offset 1m", "sum(up) offset 5m", "up[5m][5m]",
                          ""}) {
    for (Version v : {k242, kNewestVersion}) {
      EXPECT_FALSE(ParseExpr(bad, At(v)).ok()) << bad << " in " << VersionString(v);
    }
  }
}

TEST(PromqlParseTest, PrecedenceAndAssociativity) {
  auto e = ParseExpr("1 + 2 * 3 ^ 2 ^ 3");
  ASSERT_TRUE(e.ok());
  // 1 + (2 * (3 ^ (2 ^ 3))): ^ is right-associative.
  const Expr& top = **e;
  ASSERT_EQ(top.op, Op::kAdd);
  ASSERT_EQ(top.rhs->op, Op::kMul);
  ASSERT_EQ(top.rhs->rhs->op, Op::kPow);
  ASSERT_EQ(top.rhs->rhs->rhs->kind, ExprKind::kBinary);
  EXPECT_EQ(top.rhs->rhs->rhs->op, Op::kPow);

  // Unary minus binds looser than ^ and folds into number literals.
  e = ParseExpr("-2 ^ 2");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->kind, ExprKind::kUnary);
  e = ParseExpr("--1");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->kind, ExprKind::kNumber);
  EXPECT_EQ((*e)->number, 1);

  // a - b - c is (a - b) - c; and binds tighter than or.
  e = ParseExpr("a - b - c or d and e");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->op, Op::kOr);
  EXPECT_EQ((*e)->lhs->op, Op::kSub);
  EXPECT_EQ((*e)->lhs->lhs->op, Op::kSub);
  EXPECT_EQ((*e)->rhs->op, Op::kAnd);
}

TEST(PromqlParseTest, ModifiersAndDurations) {
  auto e = ParseExpr("rate(foo{a=\"b\"}[1h30m] offset -5m @ 1609746000)");
  ASSERT_TRUE(e.ok()) << e.status();
  const Expr& m = *(*e)->args[0];
  ASSERT_EQ(m.kind, ExprKind::kMatrixSelector);
  EXPECT_EQ(m.range_ns, int64_t{5400} * 1000000000);
  EXPECT_EQ(m.lhs->offset_ns, int64_t{-300} * 1000000000);
  EXPECT_EQ(m.lhs->at, AtKind::kTimestamp);
  EXPECT_EQ(m.lhs->at_ms, int64_t{1609746000000});
  EXPECT_EQ(Print(**e), "rate(foo{a=\"b\"}[1h30m] @ 1609746000.000 offset -5m)");

  e = ParseExpr("max_over_time(deriv(rate(x[1m])[5m:1m])[1h:] @ end())");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(FormatDuration(int64_t{90061001} * 1000000), "1d1h1m1s1ms");
  EXPECT_EQ(FormatDuration(int64_t{14} * 86400 * 1000000000), "2w");
}

// Found by differential runs against promtool 2.42.
TEST(PromqlParseTest, UpstreamQuirks) {
  // A peek and a backup in the lexer must leave ".0x1F" a bad number.
  EXPECT_EQ(ErrorOf(".0x1F", k242).ToString(),
            "1:1: parse error: bad number or duration syntax: \".0\"");
  EXPECT_TRUE(ParseExpr(".5", At(k242)).ok());
  // Released Prometheus checks only a numeric @ before a range.
  EXPECT_TRUE(ParseExpr("rate(foo @ start()[5m])", At(k242)).ok());
  EXPECT_TRUE(ParseExpr("rate(foo @ end()[5m])").ok());
  EXPECT_FALSE(ParseExpr("rate(foo @ 1[5m])").ok());
  // RE2 accepts \C; Go's regexp does not.
  EXPECT_EQ(ErrorOf("up{a=~\"\\\\C\"}", k242).ToString(),
            "1:4: parse error: error parsing regexp: invalid escape sequence: `\\C`");
  EXPECT_TRUE(ParseExpr("up{a=~\"\\\\Q\\\\C\\\\E\"}").ok());
  // Inside [] before 3.4 any letter lexes as the subquery colon.
  EXPECT_TRUE(ParseExpr("foo[5m x]", At(k242)).ok());
  EXPECT_FALSE(ParseExpr("foo[5m x]").ok());
  // Grouping labels: "without" is not a label name; keywords are.
  EXPECT_FALSE(ParseExpr("sum by (without) (up)").ok());
  EXPECT_TRUE(ParseExpr("sum by (on, bool, offset) (up)").ok());
}

TEST(PromqlParseTest, VersionGating) {
  // Quoted (UTF-8) names: 3.0.
  EXPECT_FALSE(ParseExpr("{\"foo.bar\"}", At(k242)).ok());
  EXPECT_TRUE(ParseExpr("{\"foo.bar\"}", At({3, 0})).ok());
  // Numbers as durations and durations as numbers: 2.54.
  EXPECT_FALSE(ParseExpr("foo[300]", At({2, 53})).ok());
  EXPECT_TRUE(ParseExpr("foo[300]", At({2, 54})).ok());
  EXPECT_TRUE(ParseExpr("time() - 5m", At({2, 54})).ok());
  // Duration arithmetic: default in 3.14.
  EXPECT_FALSE(ParseExpr("foo[5m+1m]", At({3, 13})).ok());
  EXPECT_TRUE(ParseExpr("foo[5m+1m]", At({3, 14})).ok());
  // holt_winters was renamed (and made experimental) in 3.0.
  EXPECT_TRUE(ParseExpr("holt_winters(x[5m], 0.1, 0.1)", At({2, 55})).ok());
  ParseError err = ErrorOf("holt_winters(x[5m], 0.1, 0.1)", {3, 0});
  EXPECT_THAT(err.message, HasSubstr("unknown function with name \"holt_winters\""));
  // Functions appear in their release.
  EXPECT_FALSE(ParseExpr("histogram_avg(x)", At({2, 50})).ok());
  EXPECT_TRUE(ParseExpr("histogram_avg(x)", At({2, 51})).ok());
  EXPECT_FALSE(ParseExpr("histogram_stddev(x)", At({2, 46})).ok());
  EXPECT_TRUE(ParseExpr("histogram_stddev(x)", At({2, 47})).ok());
}

TEST(PromqlParseTest, ExperimentalFunctionsNeedTheFeatureFlag) {
  ParseError err = ErrorOf("sort_by_label(up, \"job\")", {2, 49});
  EXPECT_THAT(err.message, HasSubstr("function \"sort_by_label\" is not enabled"));
  err = ErrorOf("limitk(1, up)", {3, 0});
  EXPECT_THAT(err.message, HasSubstr("--enable-feature=promql-experimental-functions"));
  ParseOptions o = At({3, 0});
  o.experimental_functions = true;
  EXPECT_TRUE(ParseExpr("sort_by_label(up, \"job\")", o).ok());
  EXPECT_TRUE(ParseExpr("limitk(1, up)", o).ok());
  EXPECT_TRUE(ParseExpr("info(up, {k8s_cluster_name=~\".+\"})", o).ok());
  // Before 2.49 the function does not exist at all.
  o.version = {2, 48};
  err = ParseError();
  EXPECT_FALSE(ParseExpr("sort_by_label(up, \"job\")", o, &err).ok());
  EXPECT_THAT(err.message, HasSubstr("unknown function"));
  // first_over_time became stable in 3.14.
  EXPECT_FALSE(ParseExpr("first_over_time(x[5m])", At({3, 13})).ok());
  EXPECT_TRUE(ParseExpr("first_over_time(x[5m])", At({3, 14})).ok());
}

TEST(PromqlParseTest, FunctionTableIsConsistent) {
  for (const Function& f : AllFunctions()) {
    Version last = f.removed_in ? Version{f.removed_in->major, f.removed_in->minor - 1}
                                : kNewestVersion;
    Version first = f.since < kOldestVersion ? kOldestVersion : f.since;
    EXPECT_EQ(FindFunction(f.name, first), &f) << f.name;
    EXPECT_EQ(FindFunction(f.name, last), &f) << f.name;
    if (f.variadic != 0) {
      EXPECT_FALSE(f.arg_types.empty()) << f.name;
    }
  }
  EXPECT_EQ(FindFunction("rate", k242)->return_type, ValueType::kVector);
  EXPECT_EQ(FindFunction("nope", kNewestVersion), nullptr);
}

TEST(PromqlParseTest, ParseVersion) {
  EXPECT_EQ(*ParseVersion("2.42"), (Version{2, 42}));
  EXPECT_EQ(*ParseVersion("v3.1.0"), (Version{3, 1}));
  EXPECT_EQ(*ParseVersion("2.42.0+ds"), (Version{2, 42}));
  EXPECT_EQ(*ParseVersion("3.14.0-rc.0"), (Version{3, 14}));
  EXPECT_FALSE(ParseVersion("latest").ok());
  EXPECT_FALSE(ParseVersion("3").ok());
}

// Hostile input: deep nesting is a clean error, not a stack overflow, and
// long flat input parses in linear time.
TEST(PromqlBoundsTest, DeepNestingIsAnError) {
  const size_t kDeep = 1000000;
  for (const std::string& input :
       {std::string(kDeep, '(') + "1" + std::string(kDeep, ')'), std::string(kDeep, '-') + "1",
        std::string(kDeep, '(') , "abs(" + std::string(kDeep, '(') + "up"}) {
    ParseError err = ErrorOf(input);
    EXPECT_THAT(err.message, HasSubstr("nests more than")) << err.ToString();
  }
  std::string pow = "1";
  for (int i = 0; i < 200000; ++i) pow += "^1";
  EXPECT_THAT(ErrorOf(pow).message, HasSubstr("nests more than"));
  std::string sum = "up";
  for (int i = 0; i < 200000; ++i) sum += " + up";
  EXPECT_THAT(ErrorOf(sum).message, HasSubstr("nests more than"));
  std::string sub = "foo[";
  for (int i = 0; i < 200000; ++i) sub += "(";
  EXPECT_FALSE(ParseExpr(sub).ok());
  std::string dur = "foo[1s";
  for (int i = 0; i < 200000; ++i) dur += "+1s";
  dur += "]";
  EXPECT_THAT(ErrorOf(dur).message, HasSubstr("nests more than"));
}

TEST(PromqlBoundsTest, WithinTheLimitIsFine) {
  std::string nested = std::string(450, '(') + "up" + std::string(450, ')');
  EXPECT_TRUE(ParseExpr(nested).ok());
  std::string sum = "up";
  for (int i = 0; i < 450; ++i) sum += " or up";
  auto e = ParseExpr(sum);
  ASSERT_TRUE(e.ok()) << e.status();
  ExpectRoundTrip(**e, kNewestVersion, "450 or");
  // A long flat selector list: linear, no limit.
  std::string big = "up{";
  for (int i = 0; i < 20000; ++i) absl::StrAppend(&big, "l", i, "=\"v\",");
  big += "}";
  EXPECT_TRUE(ParseExpr(big).ok());
}

TEST(PromqlPrintTest, PrometheusFormat) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"sum(rate(x[5m])) by (job)", "sum by (job) (rate(x[5m]))"},
      {"foo{b=\"2\",a=\"1\"}", "foo{a=\"1\",b=\"2\"}"},
      {"a + ignoring(x) group_right(y) b", "a + ignoring (x) group_right (y) b"},
      {"a==bool 1", "a == bool 1"},
      {"topk(3,x)", "topk(3, x)"},
      {"'a\"b'", "\"a\\\"b\""},
      {"x[90m:1m] offset 1d", "x[1h30m:1m] offset 1d"},
      {"{__name__=\"up\"}", "{__name__=\"up\"}"},
      {"0x10", "16"},
  };
  for (const Case& c : cases) {
    auto e = ParseExpr(c.in);
    ASSERT_TRUE(e.ok()) << c.in << ": " << e.status();
    EXPECT_EQ(Print(**e), c.out) << c.in;
  }
}

std::string Enforce(absl::string_view in, absl::string_view ns = "team-a") {
  auto e = ParseExpr(in);
  EXPECT_TRUE(e.ok()) << in << ": " << e.status();
  if (!e.ok()) return "";
  EnforceLabel(**e, "namespace", ns);
  std::string out = Print(**e);
  // The rendered expression is itself valid and stays enforced.
  auto again = ParseExpr(out);
  EXPECT_TRUE(again.ok()) << out;
  return out;
}

TEST(PromqlEnforceTest, EverySelectorGetsTheNamespace) {
  EXPECT_EQ(Enforce("up"), "up{namespace=\"team-a\"}");
  EXPECT_EQ(Enforce("up{namespace=~\".+\"}"), "up{namespace=\"team-a\"}");
  EXPECT_EQ(Enforce("{namespace=~\".+\"}"), "{namespace=\"team-a\"}");
  EXPECT_EQ(Enforce("up{namespace!=\"team-a\",namespace=\"other\"}"),
            "up{namespace=\"team-a\"}");
  EXPECT_EQ(Enforce("up or other_metric"),
            "up{namespace=\"team-a\"} or other_metric{namespace=\"team-a\"}");
  EXPECT_EQ(Enforce("rate(x[5m] offset 1h)"), "rate(x{namespace=\"team-a\"}[5m] offset 1h)");
  EXPECT_EQ(Enforce("max_over_time(sum(rate(x[1m]))[1h:5m])"),
            "max_over_time(sum(rate(x{namespace=\"team-a\"}[1m]))[1h:5m])");
  EXPECT_EQ(Enforce("label_replace(up, \"namespace\", \"other\", \"job\", \".*\")"),
            "label_replace(up{namespace=\"team-a\"}, \"namespace\", \"other\", \"job\", \".*\")");
  EXPECT_EQ(Enforce("topk(scalar(count(x)), y)"),
            "topk(scalar(count(x{namespace=\"team-a\"})), y{namespace=\"team-a\"})");
  EXPECT_EQ(Enforce("a * on(namespace) group_left b unless c"),
            "a{namespace=\"team-a\"} * on (namespace) group_left () b{namespace=\"team-a\"} "
            "unless c{namespace=\"team-a\"}");
  EXPECT_EQ(Enforce("1 + 2"), "1 + 2");
  // A hostile value is quoted, not injected.
  EXPECT_EQ(Enforce("up", "a\"} or {x=\"y"), "up{namespace=\"a\\\"} or {x=\\\"y\"}");
}

// Whatever a team writes, every selector of the rendered expression matches
// only its namespace: checked on every valid corpus expression.
TEST(PromqlEnforceTest, NoCorpusExpressionEscapes) {
  std::function<void(const Expr&, const std::string&)> check = [&](const Expr& e,
                                                                    const std::string& where) {
    if (e.kind == ExprKind::kVectorSelector) {
      int n = 0;
      for (const LabelMatcher& m : e.matchers) {
        if (m.name != "namespace") continue;
        ++n;
        EXPECT_EQ(m.type, MatchType::kEqual) << where;
        EXPECT_EQ(m.value, "team-a") << where;
      }
      EXPECT_EQ(n, 1) << where;
    }
    if (e.lhs) check(*e.lhs, where);
    if (e.rhs && e.kind != ExprKind::kDuration) check(*e.rhs, where);
    for (const auto& a : e.args) check(*a, where);
  };
  for (const CorpusRecord& r : LoadCorpus()) {
    if (!r.ok_newest) continue;
    auto e = ParseExpr(r.expr);
    ASSERT_TRUE(e.ok());
    EnforceLabel(**e, "namespace", "team-a");
    std::string out = Print(**e);
    auto again = ParseExpr(out);
    ASSERT_TRUE(again.ok()) << r.expr << " -> " << out << ": " << again.status();
    check(**again, r.expr + " -> " + out);
  }
}

}  // namespace
}  // namespace promconf::promql
