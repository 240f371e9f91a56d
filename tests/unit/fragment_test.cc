#include "reconcile/fragment.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reconcile/atomic_writer.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;

Document Doc(std::string name, std::string data) {
  Document d;
  d.name = std::move(name);
  d.data = std::move(data);
  return d;
}

TEST(ClassifyDocumentTest, BySuffixAndJob) {
  EXPECT_EQ(ClassifyDocument(Doc("a/x.rules.yml", "")), FragmentKind::kRules);
  EXPECT_EQ(ClassifyDocument(Doc("x.rules.yaml", "")), FragmentKind::kRules);
  EXPECT_EQ(ClassifyDocument(Doc("x.scrape.yml", "")), FragmentKind::kScrape);
  EXPECT_EQ(ClassifyDocument(Doc("x.scrape.yaml", "")), FragmentKind::kScrape);
  EXPECT_EQ(ClassifyDocument(Doc("x.targets.json", "")), FragmentKind::kTargets);
  EXPECT_EQ(ClassifyDocument(Doc("x.targets.yml", "")), FragmentKind::kTargets);
  EXPECT_EQ(ClassifyDocument(Doc("x.targets.yaml", "")), FragmentKind::kTargets);
  EXPECT_EQ(ClassifyDocument(Doc("x.yml", "")), FragmentKind::kIgnored);
  EXPECT_EQ(ClassifyDocument(Doc("README.md", "")), FragmentKind::kIgnored);
  Document job = Doc("/aurora/prod/api", "[]");
  job.job = "api";
  EXPECT_EQ(ClassifyDocument(job), FragmentKind::kJobTargets);
}

// Rule files are re-emitted from the validated tree (what promconf checked
// is what Prometheus reads): comments and flow style go, content stays.
TEST(ParseFragmentTest, AcceptsFullRuleFileReEmitted) {
  const std::string data =
      "# team rules\n"
      "groups:\n"
      "- name: g\n"
      "  interval: 30s\n"
      "  limit: 10\n"
      "  rules:\n"
      "  - record: job:up:sum\n"
      "    expr: sum by (job) (up)\n"
      "    labels: {team: a}\n"
      "  - alert: Down\n"
      "    expr: up == 0\n"
      "    for: 5m\n"
      "    keep_firing_for: 1m\n"
      "    labels: {severity: page}\n"
      "    annotations: {summary: \"{{ $labels.instance }} down\"}\n";
  absl::StatusOr<Fragment> f = ParseFragment("kv", Doc("team-a/alerts.rules.yml", data), {});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->kind, FragmentKind::kRules);
  EXPECT_EQ(f->output_bytes(),
            "groups:\n- name: g\n  interval: 30s\n  limit: 10\n  rules:\n"
            "  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels:\n      team: a\n"
            "  - alert: Down\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 1m\n"
            "    labels:\n      severity: page\n"
            "    annotations:\n      summary: \"{{ $labels.instance }} down\"\n");
  EXPECT_TRUE(absl::StartsWith(f->output_path, "rules/kv_team-a_alerts-")) << f->output_path;
  EXPECT_TRUE(IsSafeRelativePath(f->output_path));
}

TEST(ParseFragmentTest, RuleFileEmittedAsWrittenSharesTheStoredBytes) {
  const std::string canonical = "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up\n";
  auto stored = std::make_shared<const std::string>(canonical);
  absl::StatusOr<Fragment> f = ParseFragment("kv", Doc("a.rules.yml", canonical), {}, nullptr, stored);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->output.get(), stored.get());
  const std::string flow = "groups: [{name: g, rules: [{record: a:b, expr: up}]}]\n";
  stored = std::make_shared<const std::string>(flow);
  f = ParseFragment("kv", Doc("a.rules.yml", flow), {}, nullptr, stored);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_NE(f->output.get(), stored.get());
  EXPECT_EQ(f->output_bytes(), canonical);
}

TEST(ParseFragmentTest, ScrapeListAndSingle) {
  absl::StatusOr<Fragment> single = ParseFragment(
      "local", Doc("node.scrape.yml", "job_name: node\nstatic_configs:\n- targets: ['a:9100']\n"), {});
  ASSERT_TRUE(single.ok()) << single.status();
  ASSERT_EQ(single->scrape_configs.size(), 1u);
  EXPECT_EQ(single->scrape_configs[0].job_name, "node");
  EXPECT_EQ(single->scrape_configs[0].yaml,
            "- job_name: node\n  static_configs:\n  - targets:\n    - \"a:9100\"\n");
  absl::StatusOr<Fragment> list = ParseFragment(
      "local", Doc("two.scrape.yml", "- job_name: a\n- job_name: b\n  honor_labels: true\n"), {});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->scrape_configs.size(), 2u);
  EXPECT_EQ(list->scrape_configs[1].yaml, "- job_name: b\n  honor_labels: true\n");
}

TEST(ParseFragmentTest, QuotedStringsStayStrings) {
  absl::StatusOr<Fragment> f = ParseFragment(
      "local",
      Doc("q.scrape.yml",
          "job_name: \"true\"\nparams:\n  x: ['1', \"a: b\"]\nmetrics_path: /m\n"),
      {});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->scrape_configs[0].yaml,
            "- job_name: \"true\"\n  params:\n    x:\n    - \"1\"\n    - \"a: b\"\n  metrics_path: /m\n");
}

TEST(ParseFragmentTest, TargetsNormalizedJson) {
  absl::StatusOr<Fragment> f = ParseFragment(
      "local",
      Doc("web.targets.yml", "- targets: [a:80, b:80]\n  labels: {zone: b, env: prod}\n- targets: []\n"),
      {});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->output_bytes(),
            "[\n  {\n    \"targets\": [\"a:80\", \"b:80\"],\n    \"labels\": {\n"
            "      \"env\": \"prod\",\n      \"zone\": \"b\"\n    }\n  },\n"
            "  {\n    \"targets\": [],\n    \"labels\": {}\n  }\n]\n");
  EXPECT_EQ(f->output_path, "targets/local_web.json");
  Document job = Doc("/aurora/prod/api", R"([{"targets":["10.0.0.1:80"],"labels":{"__meta_serverset_shard":"0"}}])");
  job.job = "api";
  absl::StatusOr<Fragment> j = ParseFragment("zk", job, {});
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(j->job, "api");
  EXPECT_EQ(j->output_path, "targets/zk-api.json");
}

TEST(ParseFragmentTest, NamespaceEnforcementAndJobPrefix) {
  ValidationOptions o;
  o.enforce_namespace_label = "namespace";
  o.job_name_prefix = JobNamePrefix::kNamespace;
  o.namespaced_sources = {"cluster"};
  absl::StatusOr<Fragment> s =
      ParseFragment("cluster", Doc("team-a/cm/app.scrape.yml", "job_name: app\n"), o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->scrape_configs[0].job_name, "team-a/app");
  EXPECT_THAT(s->scrape_configs[0].yaml, HasSubstr("replacement: team-a"));
  absl::StatusOr<Fragment> r = ParseFragment(
      "cluster", Doc("team-a/cm/x.rules.yml", "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n"), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->output_bytes(), HasSubstr("namespace: team-a"));
  // Other sources are untouched.
  absl::StatusOr<Fragment> other = ParseFragment("kv", Doc("team-a/app.scrape.yml", "job_name: app\n"), o);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->scrape_configs[0].job_name, "app");
}

struct BadCase {
  std::string label;
  std::string name;
  std::string data;
  int line;               // expected line; 0: none
  std::string key;        // expected key substring; "" : none
  std::string reason;     // expected reason substring
};

std::string AliasBombScrape() {
  // 10 levels of 10x expansion: 10^10 nodes when walked naively.
  std::string s = "job_name: bomb\nparams:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 10; ++i) {
    absl::StrAppendFormat(&s, "  l%d: &l%d [", i, i);
    for (int k = 0; k < 10; ++k) absl::StrAppendFormat(&s, "%s*l%d", k ? ", " : "", i - 1);
    s.append("]\n");
  }
  return s;
}

std::vector<BadCase> BadCases() {
  const std::string kGroup = "groups:\n- name: g\n  rules:\n";
  return {
      {"invalid_yaml", "a.rules.yml", "groups: [\n  - name: g\n  bad: : :\n", 0, "", "invalid YAML"},
      {"alias_bomb", "bomb.scrape.yml", AliasBombScrape(), 0, "", "alias"},
      {"root_not_map", "a.rules.yml", "- 1\n- 2\n", 1, "", "expected a mapping"},
      {"groups_not_list", "a.rules.yml", "groups: {name: g}\n", 1, "groups", "expected a list"},
      {"unknown_top_key", "a.rules.yml", "groups: []\nextra: 1\n", 2, "extra", "unknown key"},
      {"unknown_group_key", "a.rules.yml", "groups:\n- name: g\n  lables: {a: b}\n", 3,
       "groups[0].lables", "unknown key"},
      {"query_offset", "a.rules.yml", "groups:\n- name: g\n  query_offset: soon\n", 3,
       "groups[0].query_offset", "duration"},
      {"unknown_rule_key", "a.rules.yml", kGroup + "  - record: a\n    expr: up\n    bogus: 1\n", 6,
       "groups[0].rules[0].bogus", "unknown key"},
      {"missing_group_name", "a.rules.yml", "groups:\n- rules: []\n", 2, "groups[0].name", "required"},
      {"duplicate_group", "a.rules.yml", "groups:\n- name: g\n- name: g\n", 3, "groups[1].name",
       "repeated"},
      {"bad_interval", "a.rules.yml", "groups:\n- name: g\n  interval: 1.5s\n", 3,
       "groups[0].interval", "invalid duration"},
      {"bad_for", "a.rules.yml", kGroup + "  - alert: A\n    expr: up\n    for: 5x\n", 6,
       "groups[0].rules[0].for", "invalid duration"},
      {"record_and_alert", "a.rules.yml", kGroup + "  - record: a\n    alert: b\n    expr: up\n", 4,
       "groups[0].rules[0]", "exactly one"},
      {"missing_expr", "a.rules.yml", kGroup + "  - record: a\n", 4, "groups[0].rules[0].expr",
       "required"},
      {"empty_expr", "a.rules.yml", kGroup + "  - record: a\n    expr: \"\"\n", 5,
       "groups[0].rules[0].expr", "empty"},
      {"expr_wrong_type", "a.rules.yml", kGroup + "  - record: a\n    expr: [up]\n", 5,
       "groups[0].rules[0].expr", "expected a string"},
      {"bad_record_name", "a.rules.yml", kGroup + "  - record: 1abc\n    expr: up\n", 4,
       "groups[0].rules[0].record", "invalid recording rule name"},
      {"record_with_for", "a.rules.yml", kGroup + "  - record: a\n    expr: up\n    for: 1m\n", 6,
       "groups[0].rules[0].for", "only valid for alerting"},
      {"bad_label_name", "a.rules.yml", kGroup + "  - alert: a\n    expr: up\n    labels: {9x: y}\n", 6,
       "groups[0].rules[0].labels.9x", "invalid label name"},
      {"label_value_map", "a.rules.yml", kGroup + "  - alert: a\n    expr: up\n    labels:\n      x: {y: z}\n",
       7, "groups[0].rules[0].labels.x", "expected a string"},
      {"duplicate_key", "a.rules.yml", "groups: []\ngroups: []\n", 2, "groups", "duplicate key"},
      {"missing_job_name", "a.scrape.yml", "scrape_interval: 1m\n", 1, "job_name", "job_name is empty"},
      {"scrape_unknown_key", "a.scrape.yml", "job_name: a\nscrape_intervall: 1m\n", 2,
       "scrape_intervall", "unknown key"},
      {"scrape_unknown_sd_key", "a.scrape.yml", "job_name: a\nkubernetes_sd_configs:\n- role: pod\n  bogus: 1\n", 4,
       "kubernetes_sd_configs[0].bogus", "unknown"},
      {"scrape_bad_duration", "a.scrape.yml", "job_name: a\nscrape_interval: soon\n", 2,
       "scrape_interval", "not a valid duration"},
      {"scrape_timeout_gt_interval", "a.scrape.yml",
       "job_name: a\nscrape_interval: 10s\nscrape_timeout: 20s\n", 3, "scrape_timeout",
       "scrape timeout greater than scrape interval"},
      {"scrape_bool_type", "a.scrape.yml", "job_name: a\nhonor_labels: yes please\n", 2,
       "honor_labels", "true or false"},
      {"scrape_list_item_unknown", "a.scrape.yml", "- job_name: a\n- job_name: b\n  foo: 1\n", 3,
       "[1].foo", "unknown key"},
      {"static_configs_unknown", "a.scrape.yml",
       "job_name: a\nstatic_configs:\n- targets: [x]\n  lables: {}\n", 4, "static_configs[0].lables",
       "unknown key"},
      {"static_targets_type", "a.scrape.yml", "job_name: a\nstatic_configs:\n- targets: x\n", 3,
       "static_configs[0].targets", "expected a list"},
      {"relabel_action", "a.scrape.yml", "job_name: a\nrelabel_configs:\n- action: explode\n", 3,
       "relabel_configs[0].action", "unknown action"},
      {"same_job_twice", "a.scrape.yml", "- job_name: a\n- job_name: a\n", 2, "job_name",
       "defined twice"},
      {"targets_not_list", "a.targets.json", "{\"targets\": []}", 1, "", "expected a list"},
      {"targets_unknown_key", "a.targets.json", "[{\"targets\": [], \"label\": {}}]", 1, "[0].label",
       "unknown key"},
      {"targets_bad_label", "a.targets.yml", "- targets: [a]\n  labels: {\"a-b\": c}\n", 2,
       "[0].labels.a-b", "invalid label name"},
      // The second document starts at its "---".
      {"multi_document", "a.rules.yml", "groups: []\n---\ngroups: []\n", 2, "", "more than one"},
      // yaml-cpp 0.7's LoadAll never returns on these (upstream issue 1040):
      // a stray ',' where a document may start.
      {"stray_comma_rules", "a.rules.yml", "---\n,\n", 0, "", "more than one"},
      {"stray_comma_scrape", "a.scrape.yml", ",", 0, "", "more than one"},
      {"stray_comma_targets", "a.targets.yml", "- targets: [a]\n,\n", 0, "", "more than one"},
      {"deep_nesting", "a.scrape.yml", std::string(200, '[') + std::string(200, ']'), 0, "", "nest"},
      {"oversized", "big.rules.yml", std::string(2000, '#'), 0, "", "over max_fragment_bytes"},
      {"nul_in_name", std::string("a\0b.rules.yml", 13), "groups: []\n", 0, "", "NUL"},
  };
}

class BadInputTest : public ::testing::TestWithParam<BadCase> {};

// validation.prometheus_version: what is newer than the target release is
// rejected naming the release; upstream's service discoveries (which
// Debian's 2.42 build drops) are valid.
TEST(VersionGatingTest, NewerThanTheTargetIsRejectedNamingTheRelease) {
  ValidationOptions o;
  const Document offset = Doc("a.rules.yml", "groups:\n- name: g\n  query_offset: 1m\n  rules: []\n");
  EXPECT_TRUE(ParseFragment("kv", offset, o).ok());
  o.prometheus_version = "2.42";
  absl::StatusOr<Fragment> f = ParseFragment("kv", offset, o);
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(std::string(f.status().message()), HasSubstr("needs Prometheus 2.53 or newer (validating for 2.42)"));
  const Document labels = Doc("a.rules.yml", "groups:\n- name: g\n  labels: {team: a}\n  rules: []\n");
  EXPECT_FALSE(ParseFragment("kv", labels, o).ok());
  o.prometheus_version = "3.0";
  EXPECT_TRUE(ParseFragment("kv", labels, o).ok());
  // A function newer than the target.
  o.prometheus_version = "2.42";
  absl::StatusOr<Fragment> fn = ParseFragment(
      "kv", Doc("b.rules.yml", "groups:\n- name: g\n  rules:\n  - record: a\n    expr: sort_by_label(up, \"job\")\n"), o);
  EXPECT_FALSE(fn.ok());
  o.prometheus_version = "";
  EXPECT_TRUE(ParseFragment("kv", Doc("c.scrape.yml", "job_name: k\nkubernetes_sd_configs:\n- role: pod\n"), o).ok());
}

// The in-process validator parses PromQL and alert templates: what only
// promtool caught before is rejected here, with the line of the key.
TEST(RuleValidationTest, PromQLAndTemplatesAreParsed) {
  ValidationOptions o;
  const std::string head = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: ";
  for (const char* bad : {"rate(up)", "sum(up", "frobnicate(up)", "'up{job=~\"(\"}'", "sum by (a) without (b) (up)",
                          "1 > 2"}) {
    absl::StatusOr<Fragment> f = ParseFragment("kv", Doc("a.rules.yml", head + bad + "\n"), o);
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_THAT(std::string(f.status().message()), HasSubstr("line 5")) << f.status();
  }
  absl::StatusOr<Fragment> t =
      ParseFragment("kv", Doc("a.rules.yml", head + "up == 0\n    annotations:\n      s: \"{{ $value\"\n"), o);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("template"));
  EXPECT_TRUE(ParseFragment("kv", Doc("a.rules.yml", head + "rate(up[5m]) > 0\n    annotations:\n"
                                                          "      s: \"{{ $labels.job }} {{ $value | humanize }}\"\n"), o)
                  .ok());
}

// enforce_namespace_label: every selector of a namespaced fragment's
// expressions is pinned to its namespace (prom-label-proxy's rule), so a
// team's rules see only its own series, whatever matchers it wrote.
TEST(NamespaceEnforcementTest, SelectorsArePinnedToTheNamespace) {
  ValidationOptions o;
  o.enforce_namespace_label = "namespace";
  o.namespaced_sources.insert("cluster");
  absl::StatusOr<Fragment> f = ParseFragment(
      "cluster",
      Doc("team-a/cm/x.rules.yml",
          "groups:\n- name: g\n  rules:\n  - record: r\n    expr: sum(rate(up{namespace=~\".+\"}[5m])) or on() other\n"),
      o);
  ASSERT_TRUE(f.ok()) << f.status();
  const std::string out = f->output_bytes();
  EXPECT_THAT(out, HasSubstr("rate(up{namespace=\"team-a\"}[5m])"));
  EXPECT_THAT(out, HasSubstr("other{namespace=\"team-a\"}"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr(".+")));
}

TEST_P(BadInputTest, RejectedNamingDocumentLineAndKey) {
  const BadCase& c = GetParam();
  ValidationOptions o;
  o.max_fragment_bytes = 1000;
  FragmentError err;
  absl::StatusOr<Fragment> f = ParseFragment("kv", Doc(c.name, c.data), o, &err);
  ASSERT_FALSE(f.ok()) << c.label;
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  std::string msg(f.status().message());
  EXPECT_THAT(msg, HasSubstr("kv: ")) << msg;
  if (c.name.find('\0') == std::string::npos) {
    EXPECT_THAT(msg, HasSubstr(c.name.substr(0, 20))) << msg;
  }
  EXPECT_THAT(msg, HasSubstr(c.reason)) << msg;
  EXPECT_THAT(err.reason, HasSubstr(c.reason));
  if (c.line > 0) {
    EXPECT_EQ(err.line, c.line) << msg;
    EXPECT_THAT(msg, HasSubstr(absl::StrCat("line ", c.line))) << msg;
  } else if (c.label == "invalid_yaml") {
    EXPECT_GT(err.line, 0) << msg;
  }
  if (!c.key.empty()) {
    EXPECT_THAT(err.key, HasSubstr(c.key)) << msg;
    EXPECT_THAT(msg, HasSubstr("key \"")) << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, BadInputTest, ::testing::ValuesIn(BadCases()),
                         [](const auto& info) { return info.param.label; });

TEST(ParseFragmentTest, OversizedBySource) {
  Document d = Doc("a.rules.yml", "");
  d.oversized_bytes = 5 << 20;
  absl::StatusOr<Fragment> f = ParseFragment("local", d, {});
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("5242880 bytes"));
}

TEST(ParseFragmentTest, SmallAliasesAreFine) {
  absl::StatusOr<Fragment> f = ParseFragment(
      "kv", Doc("a.scrape.yml", "- job_name: a\n  params: &p {x: [y]}\n- job_name: b\n  params: *p\n"), {});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->scrape_configs[1].yaml, "- job_name: b\n  params:\n    x:\n    - y\n");
}

TEST(SanitizeTest, HostileNamesStayInsideAndDistinct) {
  const std::vector<std::string> names = {
      "../../etc/passwd.rules.yml", "/abs/path.rules.yml", "a/b.rules.yml", "a_b.rules.yml",
      std::string("nul\0x.rules.yml", 15), std::string(4096, 'a') + ".rules.yml",
      std::string(4096, 'a') + "b.rules.yml", "..rules.yml", ".rules.yml", "ünï.rules.yml"};
  std::set<std::string> paths;
  for (const std::string& n : names) {
    std::string p = RulesOutputPath("kv", n);
    EXPECT_TRUE(IsSafeRelativePath(p)) << p;
    EXPECT_TRUE(absl::StartsWith(p, "rules/kv_")) << p;
    EXPECT_LT(p.size(), 260u);
    EXPECT_TRUE(IsOwnedOutputName("rules", p.substr(6), {"kv"})) << p;
    paths.insert(p);
  }
  EXPECT_EQ(paths.size(), names.size());
  EXPECT_EQ(SanitizeFileComponent("team-a.alerts_1"), "team-a.alerts_1");
  EXPECT_EQ(TargetsOutputPath("local", "web.targets.json"), "targets/local_web.json");
  EXPECT_TRUE(IsSafeRelativePath(JobTargetsOutputPath("zk", "../x")));
  EXPECT_FALSE(IsOwnedOutputName("rules", "user.yml", {"kv"}));
  EXPECT_FALSE(IsOwnedOutputName("rules", ".promconf-tmp-kv_a.yml-1-abc", {"kv"}));
}

}  // namespace
}  // namespace promconf

namespace promconf {
namespace {

// Found by fragment_fuzz: a plain multi-line scalar was emitted double-quoted,
// and that output, parsed again, became a literal block: emitting what was
// emitted must give the same bytes.
TEST(EmitterIdempotenceTest, PlainMultiLineStringsTakeTheQuotedStringsForm) {
  const std::string input = std::string(
      "- job_name: t 0@]\n    .rules.yamllabels '10.0.#.2:9100@]\n \n    .rules.yamllabels '10.0.#.2:9100@]\n"
      "   envbelsBat  envbels");
  ValidationOptions o;
  Document doc;
  doc.name = "dir/frag.scrape.yml";
  doc.data = input;
  absl::StatusOr<Fragment> first = ParseFragment("file", doc, o);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->scrape_configs.size(), 1u);
  doc.data = first->scrape_configs[0].yaml;
  absl::StatusOr<Fragment> second = ParseFragment("file", doc, o);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->scrape_configs[0].yaml, first->scrape_configs[0].yaml);
  EXPECT_EQ(second->scrape_configs[0].job_name, first->scrape_configs[0].job_name);
}

}  // namespace
}  // namespace promconf
