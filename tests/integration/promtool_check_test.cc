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
  ReconcileResult res = r.Reconcile("render");
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

// The PromQL promconf's own validation cannot judge: promtool rejects it,
// the other fragments still land, and a fragment that turns bad keeps its
// last accepted version in the output (full render, then the incremental
// path for a changed document).
TEST(PromtoolRulesTest, ReconcilerRejectsWhatPromtoolRejects) {
  const std::string promtool = FindPromtool();
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed";
  DocumentStore store({"local"});
  auto put = [&](const std::string& name, const std::string& data) {
    Document d;
    d.name = name;
    d.data = data;
    store.Upsert("local", d);
  };
  put("good.rules.yml", kGoodRule);
  put("bad.rules.yml", kBadPromQL);
  put("later.rules.yml", kGoodRule);
  TempDir dir;
  OutputOptions o;
  o.dir = dir.path();
  o.promtool = promtool;
  OutputReconciler r(&store, o);
  ASSERT_TRUE(r.Reconcile("render").status.ok());
  EXPECT_EQ(r.LastReport().accepted["rules"], 2);
  EXPECT_EQ(r.LastReport().rejected["rules"], 1);
  EXPECT_TRUE(fs::exists(dir.path() + "/rules/local_good.yml"));
  EXPECT_FALSE(fs::exists(dir.path() + "/rules/local_bad.yml"));
  std::string bad_error;
  for (const FragmentStatus& st : r.FragmentStatuses()) {
    if (st.document == "bad.rules.yml") bad_error = st.error;
  }
  EXPECT_THAT(bad_error, ::testing::HasSubstr("local: bad.rules.yml: promtool: 5:11:"));

  // An accepted fragment turns bad: its last accepted version stays.
  put("later.rules.yml", kBadTemplate);
  ASSERT_TRUE(r.Reconcile("render").status.ok());
  EXPECT_EQ(ReadAll(dir.path() + "/rules/local_later.yml"), kGoodRule);
  EXPECT_EQ(r.LastReport().rejected["rules"], 2);
  // And is fixed.
  put("bad.rules.yml", kGoodRule);
  ASSERT_TRUE(r.Reconcile("render").status.ok());
  EXPECT_TRUE(fs::exists(dir.path() + "/rules/local_bad.yml"));
}

}  // namespace
}  // namespace promconf
