// Renders real outputs (examples/fragments with examples/base.yml, and the
// golden inputs of tests/unit/testdata) through the OutputReconciler into a
// temp dir and asks the installed promtool whether Prometheus would load
// them: `promtool check config` also checks every rule file and file_sd file.

#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/fakes/child_process.h"  // ReadWholeFile
#include "tests/fakes/temp_dir.h"
#include "informers/document_store.h"
#include "reconcile/output_reconciler.h"
#include "reconcile/promtool.h"
#include "gmock/gmock.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& p) { return ReadWholeFile(p.string()); }

bool HavePromtool() { return system("command -v promtool >/dev/null 2>&1") == 0; }

// Runs promtool; returns its exit code and output.
int RunPromtool(const std::string& config, std::string* output) {
  std::string cmd = absl::StrCat("promtool check config '", config, "' 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Every file below `dir` becomes a document of `source`, named by its path
// relative to `dir`; with `as_jobs` a file <job>.json is job targets.
void LoadDir(DocumentStore* store, const std::string& source, const fs::path& dir, bool as_jobs) {
  std::vector<Document> docs;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    Document d;
    d.name = fs::relative(e.path(), dir).string();
    d.data = ReadAll(e.path());
    if (as_jobs) d.job = e.path().stem().string();
    docs.push_back(std::move(d));
  }
  store->ReplacePrefix(source, "", std::move(docs));
}

void RenderAndCheck(DocumentStore* store, const std::string& base_path, int expect_accepted_min) {
  TempDir dir;
  OutputOptions o;
  o.dir = dir.path() + "/generated";
  o.base_config_path = base_path;
  OutputReconciler r(store, o);
  runtime::ReconcileResult res = r.Reconcile("render");
  ASSERT_TRUE(res.status.ok()) << res.status;
  ReconcileReport rep = r.LastReport();
  int accepted = 0;
  for (const auto& [k, v] : rep.accepted) accepted += v;
  EXPECT_GE(accepted, expect_accepted_min);
  std::string output;
  int rc = RunPromtool(o.dir + "/prometheus.yml", &output);
  EXPECT_EQ(rc, 0) << output << "\n--- prometheus.yml:\n" << ReadAll(o.dir + "/prometheus.yml");
  EXPECT_EQ(output.find("WARNING"), std::string::npos) << output;
}

TEST(PromtoolCheckTest, ExampleFragmentsWithBase) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed";
  DocumentStore store({"local"});
  LoadDir(&store, "local", fs::path(PROMCONF_SOURCE_DIR) / "examples/fragments", false);
  RenderAndCheck(&store, std::string(PROMCONF_SOURCE_DIR) + "/examples/base.yml", 5);
}

TEST(PromtoolCheckTest, GoldenInputsWithAndWithoutBase) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed";
  const fs::path golden = fs::path(PROMCONF_SOURCE_DIR) / "tests/unit/testdata/golden";
  DocumentStore store({"kv", "local", "zk"});
  LoadDir(&store, "kv", golden / "sources/kv", false);
  LoadDir(&store, "local", golden / "sources/local", false);
  LoadDir(&store, "zk", golden / "sources/zk", true);
  RenderAndCheck(&store, "", 6);
  RenderAndCheck(&store, (golden / "base.yml").string(), 6);
}

TEST(PromtoolCheckTest, NamespaceEnforcedOutputsLoad) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed";
  DocumentStore store({"cluster"});
  Document rules;
  rules.name = "team-a/cm/alerts.rules.yml";
  rules.data = ReadAll(fs::path(PROMCONF_SOURCE_DIR) / "examples/fragments/team-a/api.rules.yml");
  Document scrape;
  scrape.name = "team-a/cm/node.scrape.yml";
  scrape.data = ReadAll(fs::path(PROMCONF_SOURCE_DIR) / "examples/fragments/team-b/node.scrape.yml");
  store.Upsert("cluster", rules);
  store.Upsert("cluster", scrape);
  TempDir dir;
  OutputOptions o;
  o.dir = dir.path();
  o.validation.enforce_namespace_label = "namespace";
  o.validation.job_name_prefix = JobNamePrefix::kNamespace;
  o.validation.namespaced_sources = {"cluster"};
  OutputReconciler r(&store, o);
  ASSERT_TRUE(r.Reconcile("render").status.ok());
  EXPECT_EQ(r.LastReport().accepted["rules"], 1);
  EXPECT_EQ(r.LastReport().accepted["scrape"], 1);
  std::string output;
  EXPECT_EQ(RunPromtool(o.dir + "/prometheus.yml", &output), 0) << output;
}

// validation.promtool: promtool as a second opinion on rule fragments.

const char kGoodRule[] = "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up\n";
const char kBadPromQL[] = "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: sum(up\n";
const char kBadTemplate[] =
    "groups:\n- name: g\n  rules:\n  - alert: X\n    expr: up == 0\n"
    "    labels: {severity: \"{{ $x }\"}\n";

TEST(PromtoolRulesTest, OneProcessGivesEachFileItsVerdict) {
  const std::string promtool = FindPromtool();
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed";
  auto verdicts = PromtoolCheckRules(promtool, {kBadPromQL, kGoodRule, kBadTemplate});
  ASSERT_TRUE(verdicts.ok()) << verdicts.status();
  ASSERT_EQ(verdicts->size(), 3u);
  EXPECT_THAT((*verdicts)[0], ::testing::HasSubstr("5:11: group \"g\", rule 1, \"a:b\": could not parse expression"));
  EXPECT_EQ((*verdicts)[1], "");
  EXPECT_THAT((*verdicts)[2], ::testing::HasSubstr("undefined variable \"$x\""));
  // The temp file's name is not part of the message.
  EXPECT_THAT((*verdicts)[0], ::testing::Not(::testing::HasSubstr("promconf-promtool")));
}

TEST(PromtoolRulesTest, APromtoolThatCannotRunIsAnError) {
  auto verdicts = PromtoolCheckRules("/nonexistent/promtool", {kGoodRule});
  EXPECT_FALSE(verdicts.ok());
  auto none = PromtoolCheckRules("/nonexistent/promtool", {});
  ASSERT_TRUE(none.ok());  // nothing to check: nothing run
  EXPECT_TRUE(none->empty());
}

// validation.promtool is a second opinion that never delays a file: the
// in-process validator decides every change (sum(up is rejected without
// promtool), then SecondOpinion() asks promtool about what was accepted since
// its last run. A fake promtool (a script) stands in where the real one would
// never disagree: it rejects every file holding "promtool_says_no".
class SecondOpinionTest : public testing::Test {
 protected:
  SecondOpinionTest() : store_({"local"}) {
    promtool_ = dir_.path() + "/promtool";
    std::ofstream(promtool_) << "#!/bin/sh\n"
                                "if [ \"$1\" = --version ]; then echo 'promtool, version 2.42.0+ds'; exit 0; fi\n"
                                "shift 3\nrc=0\n"
                                "for f in \"$@\"; do echo \"Checking $f\";\n"
                                "  if grep -q promtool_says_no \"$f\"; then echo \"$f: 1:1: fake rejection\" >&2; rc=1;\n"
                                "  else echo '  SUCCESS: 1 rules found'; fi\n"
                                "done\nexit $rc\n";
    fs::permissions(promtool_, fs::perms::owner_all);
  }
  void Put(const std::string& name, const std::string& data) {
    Document d;
    d.name = name;
    d.data = data;
    store_.Upsert("local", d);
  }
  std::unique_ptr<OutputReconciler> Make(const std::string& promtool) {
    OutputOptions o;
    o.dir = dir_.path() + "/out";
    o.promtool = promtool;
    o.promtool_version = promtool.empty() ? "" : PromtoolVersion(promtool);
    return std::make_unique<OutputReconciler>(&store_, o);
  }
  std::string StatusOf(OutputReconciler& r, const std::string& doc) {
    for (const FragmentStatus& st : r.FragmentStatuses()) {
      if (st.document == doc) return st.status + ": " + st.error;
    }
    return "";
  }
  static std::string Rule(const std::string& record) {
    return absl::StrCat("groups:\n- name: g\n  rules:\n  - record: ", record, "\n    expr: up\n");
  }
  TempDir dir_;
  std::string promtool_;
  DocumentStore store_;
};

TEST_F(SecondOpinionTest, InProcessValidationDecidesWithoutPromtool) {
  Put("good.rules.yml", kGoodRule);
  Put("bad.rules.yml", kBadPromQL);
  Put("template.rules.yml", kBadTemplate);
  auto r = Make("");
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_EQ(r->LastReport().accepted["rules"], 1);
  EXPECT_EQ(r->LastReport().rejected["rules"], 2);
  EXPECT_THAT(StatusOf(*r, "bad.rules.yml"), ::testing::HasSubstr("could not parse expression"));
  EXPECT_THAT(StatusOf(*r, "template.rules.yml"), ::testing::HasSubstr("template"));
  EXPECT_FALSE(r->SecondOpinionPending());
}

TEST_F(SecondOpinionTest, FilesFirstThenPromtoolRevertsWhatItRejects) {
  Put("good.rules.yml", Rule("good"));
  Put("x.rules.yml", Rule("promtool_says_no"));
  auto r = Make(promtool_);
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  // The file is written before promtool is asked: it never delays a file.
  EXPECT_TRUE(fs::exists(dir_.path() + "/out/rules/local_x.yml"));
  ASSERT_TRUE(r->SecondOpinionPending());
  absl::StatusOr<SecondOpinionReport> so = r->SecondOpinion();
  ASSERT_TRUE(so.ok()) << so.status();
  EXPECT_EQ(so->checked, 2);
  EXPECT_EQ(so->disagreements, 1);
  EXPECT_EQ(so->skipped, 0);
  EXPECT_TRUE(so->rerender_needed);
  EXPECT_FALSE(r->SecondOpinionPending());
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  // No version promtool agreed with: left out, rejected with promtool's word.
  EXPECT_FALSE(fs::exists(dir_.path() + "/out/rules/local_x.yml"));
  EXPECT_TRUE(fs::exists(dir_.path() + "/out/rules/local_good.yml"));
  EXPECT_THAT(StatusOf(*r, "x.rules.yml"), ::testing::HasSubstr("rejected: local: x.rules.yml: promtool: 1:1: fake rejection"));

  // A version promtool agrees with, then a bad one: reverted to the good.
  Put("x.rules.yml", Rule("x_good"));
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  so = r->SecondOpinion();
  ASSERT_TRUE(so.ok());
  EXPECT_EQ(so->checked, 1);  // only what changed since the last run
  EXPECT_EQ(so->disagreements, 0);
  const std::string good = ReadAll(dir_.path() + "/out/rules/local_x.yml");
  EXPECT_THAT(good, ::testing::HasSubstr("x_good"));
  Put("x.rules.yml", Rule("promtool_says_no"));
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  so = r->SecondOpinion();
  ASSERT_TRUE(so.ok());
  EXPECT_EQ(so->disagreements, 1);
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_EQ(ReadAll(dir_.path() + "/out/rules/local_x.yml"), good);
  EXPECT_THAT(StatusOf(*r, "x.rules.yml"), ::testing::HasSubstr("rejected"));
}

// promtool 2.42 cannot know a group's query_offset (2.53): promconf,
// validating for the newest release, accepted it; that is promtool's age,
// not a disagreement, and the fragment stays.
TEST_F(SecondOpinionTest, WhatPromtoolsReleaseCannotKnowIsSkipped) {
  Put("new.rules.yml",
      "groups:\n- name: g\n  query_offset: 1m\n  rules:\n  - record: promtool_says_no\n    expr: up\n");
  auto r = Make(promtool_);
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  absl::StatusOr<SecondOpinionReport> so = r->SecondOpinion();
  ASSERT_TRUE(so.ok()) << so.status();
  EXPECT_EQ(so->disagreements, 0);
  EXPECT_EQ(so->skipped, 1);
  EXPECT_FALSE(so->rerender_needed);
  EXPECT_TRUE(fs::exists(dir_.path() + "/out/rules/local_new.yml"));
}

TEST_F(SecondOpinionTest, APromtoolThatCannotRunRetriesLater) {
  Put("a.rules.yml", Rule("a"));
  auto r = Make(dir_.path() + "/no-such-promtool");
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  absl::StatusOr<SecondOpinionReport> so = r->SecondOpinion();
  EXPECT_TRUE(absl::IsUnavailable(so.status())) << so.status();
  EXPECT_TRUE(r->SecondOpinionPending());  // kept for the retry
  EXPECT_TRUE(fs::exists(dir_.path() + "/out/rules/local_a.yml"));
}

// The second opinion should never disagree: every expression of the PromQL
// corpus that promconf accepts for 2.42, as recording rules through the
// OutputReconciler, and the real promtool 2.42 over them: 0 disagreements.
TEST(SecondOpinionCorpusTest, TheRealPromtoolAgreesWithEveryAcceptedExpression) {
  const std::string promtool = FindPromtool();
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed";
  if (PromtoolVersion(promtool) != "2.42") GTEST_SKIP() << "the corpus' verdicts are promtool 2.42's";
  std::ifstream in(std::string(PROMCONF_SOURCE_DIR) + "/tests/data/promql_corpus.tsv");
  std::vector<std::string> exprs;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits('\t', 2));
    if (f.size() == 3 && f[0] == "ok") exprs.push_back(f[2]);
  }
  ASSERT_GT(exprs.size(), 500u);
  DocumentStore store({"local"});
  // 50 rules a file, each expression a double-quoted YAML string.
  for (size_t start = 0, file = 0; start < exprs.size(); start += 50, ++file) {
    std::string text = "groups:\n";
    for (size_t i = start; i < std::min(exprs.size(), start + 50); ++i) {
      std::string quoted;
      for (char c : exprs[i]) {
        if (c == '"' || c == '\\') quoted.push_back('\\');
        if (c == '\n') {
          quoted += "\\n";
          continue;
        }
        quoted.push_back(c);
      }
      absl::StrAppend(&text, "- name: g", i, "\n  rules:\n  - record: r", i, "\n    expr: \"", quoted, "\"\n");
    }
    Document d;
    d.name = absl::StrCat("corpus-", file, ".rules.yml");
    d.data = text;
    store.Upsert("local", d);
  }
  TempDir dir;
  OutputOptions o;
  o.dir = dir.path();
  o.validation.prometheus_version = "2.42";
  o.promtool = promtool;
  o.promtool_version = PromtoolVersion(promtool);
  OutputReconciler r(&store, o);
  ASSERT_TRUE(r.Reconcile("render").status.ok());
  EXPECT_EQ(r.LastReport().rejected["rules"], 0);
  absl::StatusOr<SecondOpinionReport> so = r.SecondOpinion();
  ASSERT_TRUE(so.ok()) << so.status();
  EXPECT_GT(so->checked, 10);
  EXPECT_EQ(so->disagreements, 0);
  EXPECT_EQ(so->skipped, 0);
  for (const FragmentStatus& st : r.FragmentStatuses()) EXPECT_EQ(st.status, "accepted") << st.error;
}

TEST(PromtoolVersionTest, TheInstalledPromtoolsRelease) {
  const std::string promtool = FindPromtool();
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed";
  EXPECT_THAT(PromtoolVersion(promtool), ::testing::MatchesRegex("[0-9]+\\.[0-9]+"));
  EXPECT_EQ(PromtoolVersion("/nonexistent/promtool"), "");
}

}  // namespace
}  // namespace promconf
