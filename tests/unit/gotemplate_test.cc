#include "reconcile/gotemplate/template.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/gotemplate_corpus.h"

namespace promconf::gotemplate {
namespace {

ParseOptions V(int major, int minor) {
  ParseOptions o;
  o.version = {major, minor};
  return o;
}

// Debian's promtool and Go 1.19: the version the corpus' verdicts are for.
const ParseOptions kDebian = V(2, 42);

TEST(GoTemplateCorpus, VerdictsMatchPrometheus242) {
  ParseOptions options = kDebian;
  options.name = std::string(testing::kCorpusTemplateName);
  int n = 0;
  for (const testing::TemplateCase& c : testing::kTemplateCorpus) {
    TemplateError err;
    absl::Status s = CheckAlertTemplate(c.text, options, &err);
    EXPECT_EQ(s.ok(), c.valid) << "template: " << c.text << "\nstatus: " << s;
    if (!s.ok()) {
      EXPECT_GE(err.line, 1) << c.text;
      EXPECT_GE(err.column, 1) << c.text;
      EXPECT_FALSE(err.message.empty()) << c.text;
    }
    ++n;
  }
  EXPECT_GE(n, 100);
}

TEST(GoTemplate, GoMessages) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"{{ frob 1 }}", "function \"frob\" not defined"},
      {"{{ $nope }}", "undefined variable \"$nope\""},
      {"{{ if true }}", "unexpected EOF"},
      {"{{ end }}", "unexpected {{end}}"},
      {"{{ .x", "unclosed action"},
      {"{{ break }}", "{{break}} outside {{range}}"},
      {"{{ 1 | 2 }}", "non executable command in pipeline stage 2"},
      {"{{ 99999999999999999999 }}", "integer overflow: \"99999999999999999999\""},
      {"{{ 0x }}", "illegal number syntax: \"0x\""},
      {"{{ 3k }}", "bad number syntax: \"3k\""},
      {"{{ if }}{{ end }}", "missing value for if"},
      {"{{ .a-b }}", "bad character U+002D '-'"},
      {"{{ define \"__alert_\" }}x{{ end }}",
       "template: multiple definition of template \"__alert_\""},
      {"{{ ( }}", "unclosed left paren"},
      {"{{ \"a\".x }}", "unexpected . after term \"\\\"a\\\"\""},
  };
  for (const Case& c : cases) {
    TemplateError err;
    EXPECT_FALSE(CheckAlertTemplate(c.text, kDebian, &err).ok()) << c.text;
    EXPECT_EQ(err.message, c.message) << c.text;
  }
}

TEST(GoTemplate, ErrorPositionIsInTheTextNotThePreamble) {
  TemplateError err;
  absl::Status s = CheckAlertTemplate("ok {{ $labels.x }}\n  and {{ frob }}", kDebian, &err);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(err.line, 2);
  EXPECT_EQ(err.column, 10);  // the 'f' of frob
  EXPECT_EQ(s.message(), "2:10: function \"frob\" not defined");
  ASSERT_FALSE(CheckAlertTemplate("{{ $x }}", kDebian, &err).ok());
  EXPECT_EQ(err.line, 1);
  EXPECT_EQ(err.column, 4);
}

TEST(GoTemplate, PreambleOnlyForAlertTemplates) {
  EXPECT_TRUE(CheckAlertTemplate("{{ $labels }}{{ $value }}", kDebian).ok());
  EXPECT_FALSE(ParseTemplate("{{ $labels }}", kDebian).ok());
  // Without the preamble the template's own body may be empty, so a
  // definition of its name is no conflict.
  EXPECT_TRUE(ParseTemplate("{{ define \"__alert_\" }}x{{ end }}", kDebian).ok());
  ParseOptions named = kDebian;
  named.name = "__alert_HostDown";
  EXPECT_FALSE(CheckAlertTemplate("{{ define \"__alert_HostDown\" }}x{{ end }}", named).ok());
  EXPECT_TRUE(CheckAlertTemplate("{{ define \"__alert_HostDown\" }} {{ end }}", named).ok());
  EXPECT_FALSE(
      CheckAlertTemplate("{{ define \"__alert_Host\\x44own\" }}x{{ end }}", named).ok());
}

TEST(GoTemplate, FunctionsAreVersionGated) {
  TemplateError err;
  EXPECT_FALSE(CheckAlertTemplate("{{ 1 | toDuration }}", V(3, 5), &err).ok());
  EXPECT_EQ(err.message,
            "function \"toDuration\" not defined (added in Prometheus 3.6; validating for 3.5)");
  EXPECT_TRUE(CheckAlertTemplate("{{ 1 | toDuration }}", V(3, 6)).ok());
  EXPECT_TRUE(CheckAlertTemplate("{{ now }}", V(3, 6)).ok());
  EXPECT_FALSE(CheckAlertTemplate("{{ urlQueryEscape \"x\" }}", V(3, 7)).ok());
  EXPECT_TRUE(CheckAlertTemplate("{{ urlQueryEscape \"x\" }}", V(3, 8)).ok());
  EXPECT_FALSE(CheckAlertTemplate("{{ toTime 1 }}", V(2, 37)).ok());
  EXPECT_TRUE(CheckAlertTemplate("{{ toTime 1 }}", V(2, 38)).ok());
  EXPECT_FALSE(CheckAlertTemplate("{{ stripDomain \"a\" }}", V(2, 35)).ok());
  EXPECT_FALSE(CheckAlertTemplate("{{ 1 | humanizePercentage }}", V(2, 10)).ok());
  EXPECT_FALSE(CheckAlertTemplate("{{ parseDuration \"1m\" }}", V(2, 31)).ok());
  EXPECT_FALSE(CheckAlertTemplate("{{ stripPort \"a\" }}", V(2, 32)).ok());
  EXPECT_FALSE(CheckAlertTemplate("{{ frob }}", V(3, 9), &err).ok());
  EXPECT_EQ(err.message, "function \"frob\" not defined");
}

TEST(GoTemplate, SyntaxFollowsTheGoReleaseThatBuiltPrometheus) {
  const char* else_with = "{{ with $labels.a }}a{{ else with $labels.b }}b{{ end }}";
  EXPECT_FALSE(CheckAlertTemplate(else_with, V(2, 54)).ok());  // Go 1.22
  EXPECT_TRUE(CheckAlertTemplate(else_with, V(2, 55)).ok());   // Go 1.23
  EXPECT_FALSE(
      CheckAlertTemplate("{{ if true }}{{ else with 1 }}{{ end }}{{ end }}", V(3, 0)).ok());
  const char* brk = "{{ range $labels }}{{ break }}{{ end }}";
  EXPECT_TRUE(CheckAlertTemplate(brk, V(2, 35)).ok());   // Go 1.18
  EXPECT_FALSE(CheckAlertTemplate(brk, V(2, 34)).ok());  // Go 1.17: "break" is no keyword
  EXPECT_EQ(GoMinorForPrometheus({2, 42}), 19);
  EXPECT_EQ(GoMinorForPrometheus({3, 0}), 23);
}

TEST(GoTemplate, ParsePrometheusVersion) {
  PrometheusVersion v;
  ASSERT_TRUE(ParsePrometheusVersion("2.42.0+ds", &v));
  EXPECT_EQ(v.major, 2);
  EXPECT_EQ(v.minor, 42);
  ASSERT_TRUE(ParsePrometheusVersion("v3.1.0-rc.0", &v));
  EXPECT_EQ(v.minor, 1);
  EXPECT_FALSE(ParsePrometheusVersion("three", &v));
  EXPECT_FALSE(ParsePrometheusVersion("", &v));
}

// Hostile nesting is a clean error, not a stack overflow.
TEST(GoTemplate, DeepNestingIsRefused) {
  for (int n : {1000000}) {
    std::string parens = "{{ " + std::string(n, '(') + "1" + std::string(n, ')') + " }}";
    TemplateError err;
    EXPECT_FALSE(CheckAlertTemplate(parens, kDebian, &err).ok());
    EXPECT_EQ(err.message, "template nesting deeper than 200 levels");
    std::string ifs;
    for (int i = 0; i < n; ++i) ifs += "{{if 1}}";
    EXPECT_FALSE(CheckAlertTemplate(ifs, kDebian, &err).ok());
    EXPECT_EQ(err.message, "template nesting deeper than 200 levels");
    std::string chain = "{{ if 1 }}";
    for (int i = 0; i < n / 10; ++i) chain += "{{ else if 1 }}";
    chain += "{{ end }}";
    EXPECT_FALSE(CheckAlertTemplate(chain, kDebian, &err).ok());
  }
  std::string fine = "{{ " + std::string(200, '(') + "1" + std::string(200, ')') + " }}";
  EXPECT_TRUE(CheckAlertTemplate(fine, kDebian).ok());
  std::string too_deep = "{{ " + std::string(201, '(') + "1" + std::string(201, ')') + " }}";
  EXPECT_FALSE(CheckAlertTemplate(too_deep, kDebian).ok());
  std::string ifs;
  for (int i = 0; i < 200; ++i) ifs += "{{ if 1 }}";
  for (int i = 0; i < 200; ++i) ifs += "{{ end }}";
  EXPECT_TRUE(CheckAlertTemplate(ifs, kDebian).ok());
}

// Many variables and many uses: lookups must not be linear in the number in
// scope (the test would take minutes if they were).
TEST(GoTemplate, ManyVariablesStayLinear) {
  std::string t;
  for (int i = 0; i < 50000; ++i) absl::StrAppend(&t, "{{$v", i, " := 1}}");
  for (int i = 0; i < 50000; ++i) absl::StrAppend(&t, "{{$v0}}");
  for (int i = 0; i < 20000; ++i) absl::StrAppend(&t, "{{define \"d", i, "\"}}{{$}}{{end}}");
  EXPECT_TRUE(CheckAlertTemplate(t, kDebian).ok());
}

TEST(GoTemplate, OddBytes) {
  EXPECT_TRUE(CheckAlertTemplate(std::string("text \0 with nul", 15), kDebian).ok());
  EXPECT_TRUE(CheckAlertTemplate("\xff\xfe {{ \"\xff\" }}", kDebian).ok());
  EXPECT_FALSE(CheckAlertTemplate("{{ \xff }}", kDebian).ok());
  EXPECT_TRUE(CheckAlertTemplate("{{ 'é' }}{{ `\xff` }}", kDebian).ok());
}

}  // namespace
}  // namespace promconf::gotemplate
