#include "reconcile/output_reconciler.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/child_process.h"  // ReadWholeFile
#include "tests/fakes/temp_dir.h"
#include "informers/document_store.h"
#include "util/log.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& p) { return ReadWholeFile(p); }

Document Doc(std::string name, std::string data) {
  Document d;
  d.name = std::move(name);
  d.data = std::move(data);
  return d;
}

const char kGoodRules[] = "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up\n";
// kGoodRules with another expression (a comment alone changes no output:
// rule files are emitted from their tree).
const char kGoodRulesV2[] = "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up > 0\n";
const char kBadRules[] = "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up\n    for: soon\n";

class OutputReconcilerTest : public ::testing::Test {
 protected:
  OutputReconcilerTest() : store_({"kv", "local"}) {}

  std::unique_ptr<OutputReconciler> Make(bool dry_run = false, std::string base = "",
                                         Metrics* metrics = nullptr) {
    OutputOptions o;
    o.metrics = metrics;
    o.dir = dir_.path() + "/out";
    o.dry_run = dry_run;
    if (!base.empty()) {
      o.base_config_path = dir_.path() + "/base.yml";
      std::ofstream(o.base_config_path) << base;
    }
    return std::make_unique<OutputReconciler>(&store_, o);
  }
  std::string Out(const std::string& rel) { return ReadAll(dir_.path() + "/out/" + rel); }
  bool Exists(const std::string& rel) { return fs::exists(dir_.path() + "/out/" + rel); }
  // The result points into `v`: a temporary would leave it dangling.
  static const FragmentStatus* Find(std::vector<FragmentStatus>&& v, const std::string& doc) = delete;
  static const FragmentStatus* Find(const std::vector<FragmentStatus>& v, const std::string& doc) {
    for (const auto& s : v) {
      if (s.document == doc) return &s;
    }
    return nullptr;
  }

  TempDir dir_;
  DocumentStore store_;
};

// file_sd re-reads targets/ by itself; a reload racing that update keeps
// removed targets in Prometheus before 2.51 (prometheus#12436). So a change
// confined to targets/ writes, but asks for no reload.
TEST_F(OutputReconcilerTest, TargetsOnlyChangesNeedNoReload) {
  store_.Upsert("kv", Doc("a.rules.yml", kGoodRules));
  store_.Upsert("local", Doc("web.targets.json", "[{\"targets\": [\"w:80\"]}]"));
  Document job = Doc("/services/api", "[{\"targets\": [\"a:80\"]}]");
  job.job = "api";
  store_.Upsert("kv", job);
  auto r = Make();
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_TRUE(r->LastReport().reload_needed);  // the first render writes everything

  store_.Upsert("local", Doc("web.targets.json", "[{\"targets\": [\"w:81\"]}]"));
  job.data = "[]";
  store_.Upsert("kv", job);
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_TRUE(r->LastReport().outputs_changed);
  EXPECT_FALSE(r->LastReport().reload_needed);
  EXPECT_EQ(Out("targets/kv-api.json"), "[]\n");

  store_.Delete("local", "web.targets.json");
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_TRUE(r->LastReport().outputs_changed);
  EXPECT_FALSE(r->LastReport().reload_needed);
  EXPECT_FALSE(Exists("targets/local_web.json"));

  store_.Upsert("kv", Doc("a.rules.yml", std::string(kGoodRules) + "# changed\n"));
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_FALSE(r->LastReport().outputs_changed);  // only a comment changed
  EXPECT_FALSE(r->LastReport().reload_needed);

  store_.Upsert("kv", Doc("a.rules.yml", kGoodRulesV2));
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_TRUE(r->LastReport().reload_needed);
}

// promconf_fragments_rejected_total{kind, reason} counts each refused
// document version once, under a reason from the bounded set, and every
// series exists at zero from the start.
TEST_F(OutputReconcilerTest, RejectionsCountedPerReasonOncePerVersion) {
  Metrics metrics;
  auto value = [&](const std::string& kind, const std::string& reason) {
    const std::string text = metrics.ExpositionText();
    const std::string series =
        absl::StrCat("promconf_fragments_rejected_total{kind=\"", kind, "\",reason=\"", reason, "\"} ");
    const size_t at = text.find(series);
    if (at == std::string::npos) return std::string("absent");
    return text.substr(at + series.size(), text.find('\n', at) - at - series.size());
  };
  auto r = Make(false, "", &metrics);
  EXPECT_EQ(value("targets", "promtool"), "0");
  EXPECT_EQ(value("scrape", "duplicate_job"), "0");

  store_.Upsert("kv", Doc("schema.rules.yml", kBadRules));
  store_.Upsert("kv", Doc("expr.rules.yml", "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up +\n"));
  store_.Upsert("kv", Doc("tmpl.rules.yml",
                          "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n"
                          "    annotations: {summary: '{{ .Nope'}\n"));
  store_.Upsert("kv", Doc("yaml.rules.yml", "groups: [\n"));
  store_.Upsert("kv", Doc("twice.scrape.yml", "- job_name: a\n- job_name: a\n"));
  store_.Upsert("kv", Doc("one.scrape.yml", "job_name: shared\n"));
  store_.Upsert("local", Doc("other.scrape.yml", "job_name: shared\n"));
  store_.Upsert("local", Doc("big.targets.json", std::string(2 << 20, ' ')));
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_EQ(value("rules", "schema"), "1");
  EXPECT_EQ(value("rules", "expr"), "1");
  EXPECT_EQ(value("rules", "template"), "1");
  EXPECT_EQ(value("rules", "yaml"), "1");
  EXPECT_EQ(value("scrape", "duplicate_job"), "1");
  EXPECT_EQ(value("scrape", "render"), "1");  // the second "shared" job
  EXPECT_EQ(value("targets", "too_large"), "1");
  EXPECT_EQ(value("rules", "promtool"), "0");

  // The same versions again: not counted again. A new bad version is.
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_EQ(value("rules", "schema"), "1");
  store_.Upsert("kv", Doc("schema.rules.yml", std::string(kBadRules) + "# v2\n"));
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_EQ(value("rules", "schema"), "2");
  EXPECT_EQ(value("scrape", "render"), "1");
}

TEST_F(OutputReconcilerTest, WritesTreeAndDoesNotRewriteWhenUnchanged) {
  store_.Upsert("kv", Doc("a.rules.yml", kGoodRules));
  store_.Upsert("local", Doc("web.scrape.yml", "job_name: web\nstatic_configs: [{targets: ['w:80']}]\n"));
  store_.Upsert("local", Doc("web.targets.json", "[{\"targets\": [\"w:80\"]}]"));
  store_.Upsert("local", Doc("README.md", "hello"));
  auto r = Make();
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  ReconcileReport rep = r->LastReport();
  EXPECT_TRUE(rep.outputs_changed);
  EXPECT_EQ(rep.files_written, 3);
  EXPECT_EQ(rep.ignored, 1);
  EXPECT_EQ(rep.accepted["rules"], 1);
  EXPECT_EQ(rep.accepted["scrape"], 1);
  EXPECT_EQ(rep.accepted["targets"], 1);
  EXPECT_EQ(Out("rules/kv_a.yml"), kGoodRules);
  EXPECT_THAT(Out("prometheus.yml"), HasSubstr("- job_name: web\n"));
  EXPECT_TRUE(Exists("targets/local_web.json"));
  uint64_t writes = r->writes();
  EXPECT_EQ(writes, 3u);

  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_FALSE(r->LastReport().outputs_changed);
  // A store change that renders the same bytes writes nothing either.
  store_.Upsert("local", Doc("other.txt", "x"));
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_FALSE(r->LastReport().outputs_changed);
  EXPECT_EQ(r->writes(), writes);
  // A restarted promconf reads what is there and rewrites nothing.
  auto restarted = Make();
  ASSERT_TRUE(restarted->Reconcile("render").status.ok());
  EXPECT_FALSE(restarted->LastReport().outputs_changed);
  EXPECT_EQ(restarted->writes(), 0u);
}

TEST_F(OutputReconcilerTest, OneBadFragmentNeverTakesOthersDown) {
  store_.Upsert("kv", Doc("bad.rules.yml", kBadRules));
  store_.Upsert("kv", Doc("broken.scrape.yml", "job_name: [oops\n"));
  store_.Upsert("kv", Doc("good.rules.yml", kGoodRules));
  store_.Upsert("local", Doc("ok.scrape.yml", "job_name: ok\n"));
  auto r = Make();
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_EQ(Out("rules/kv_good.yml"), kGoodRules);
  EXPECT_FALSE(Exists("rules/kv_bad.yml"));
  EXPECT_THAT(Out("prometheus.yml"), HasSubstr("- job_name: ok\n"));
  std::vector<FragmentStatus> st = r->FragmentStatuses();
  ASSERT_EQ(st.size(), 4u);
  const FragmentStatus* bad = Find(st, "bad.rules.yml");
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->status, "rejected");
  EXPECT_EQ(bad->kind, "rules");
  EXPECT_THAT(bad->error, HasSubstr("kv: bad.rules.yml: line 6: key \"groups[0].rules[0].for\""));
  EXPECT_EQ(bad->bytes, sizeof(kBadRules) - 1);
  EXPECT_EQ(Find(st, "good.rules.yml")->status, "accepted");
  EXPECT_EQ(Find(st, "broken.scrape.yml")->status, "rejected");
  EXPECT_EQ(r->LastReport().rejected["rules"], 1);
  EXPECT_EQ(r->LastReport().rejected["scrape"], 1);
}

TEST_F(OutputReconcilerTest, LastAcceptedVersionStaysUntilDeleted) {
  store_.Upsert("kv", Doc("a.rules.yml", kGoodRules));
  auto r = Make();
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  LogCapture logs;
  store_.Upsert("kv", Doc("a.rules.yml", kBadRules));
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_EQ(Out("rules/kv_a.yml"), kGoodRules);
  EXPECT_FALSE(r->LastReport().outputs_changed);
  const std::vector<FragmentStatus> statuses = r->FragmentStatuses();
  const FragmentStatus* s = Find(statuses, "a.rules.yml");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->status, "rejected");
  // Logged once, not on every reconcile.
  store_.Upsert("kv", Doc("b.rules.yml", kGoodRules));
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  std::string text = logs.Contents();
  size_t n = 0;
  for (size_t pos = 0; (pos = text.find("fragment rejected", pos)) != std::string::npos; ++pos) ++n;
  EXPECT_EQ(n, 1u) << text;
  EXPECT_THAT(text, HasSubstr("a.rules.yml"));
  EXPECT_THAT(text, HasSubstr("line=6"));
  // Deleted: the file goes.
  store_.Delete("kv", "a.rules.yml");
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_FALSE(Exists("rules/kv_a.yml"));
  EXPECT_TRUE(Exists("rules/kv_b.yml"));
  EXPECT_TRUE(r->LastReport().outputs_changed);
  EXPECT_EQ(r->LastReport().files_removed, 1);
}

TEST_F(OutputReconcilerTest, DuplicateJobRejectedNamingWinner) {
  store_.Upsert("local", Doc("a.scrape.yml", "job_name: dup\n"));
  store_.Upsert("kv", Doc("z.scrape.yml", "job_name: dup\nscrape_interval: 1m\n"));
  auto r = Make();
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  std::vector<FragmentStatus> st = r->FragmentStatuses();
  EXPECT_EQ(Find(st, "z.scrape.yml")->status, "accepted");  // kv comes first in source order
  EXPECT_EQ(Find(st, "a.scrape.yml")->status, "rejected");
  EXPECT_THAT(Find(st, "a.scrape.yml")->error, HasSubstr("already defined by kv: z.scrape.yml"));
  EXPECT_THAT(Out("prometheus.yml"), HasSubstr("scrape_interval: 1m"));
}

TEST_F(OutputReconcilerTest, ReparsesOnlyChangedDocuments) {
  for (int i = 0; i < 500; ++i) {
    store_.Upsert("kv", Doc(absl::StrCat("t", i, ".targets.json"), absl::StrCat("[{\"targets\": [\"h", i, ":80\"]}]")));
  }
  auto r = Make();
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_EQ(r->LastReport().parsed, 500);
  EXPECT_EQ(r->LastReport().files_written, 501);
  store_.Upsert("kv", Doc("t7.targets.json", "[{\"targets\": [\"changed:80\"]}]"));
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_EQ(r->LastReport().parsed, 1);
  EXPECT_EQ(r->LastReport().files_written, 1);
  ASSERT_TRUE(r->Reconcile("render").status.ok());
  EXPECT_EQ(r->LastReport().parsed, 0);
}

// Every file under `root`, relative path -> bytes.
std::map<std::string, std::string> Tree(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out[fs::relative(e.path(), root).string()] = ReadAll(e.path().string());
  }
  return out;
}

// The incremental path (modified documents only) must leave exactly the tree
// and statuses a fresh full render gives, whatever the change: rules and
// targets bytes, scrape configs (prometheus.yml), a now-bad version (last
// accepted stays), a job rename or a clash (claims change: full render), a
// delete, a duplicate job that stays rejected.
TEST_F(OutputReconcilerTest, IncrementalChangesMatchAFullRender) {
  store_.Upsert("kv", Doc("a.rules.yml", kGoodRules));
  store_.Upsert("kv", Doc("b.rules.yml", kGoodRules));
  store_.Upsert("kv", Doc("web.scrape.yml", "job_name: web\nstatic_configs: [{targets: ['w:80']}]\n"));
  store_.Upsert("local", Doc("web.scrape.yml", "job_name: web\nstatic_configs: [{targets: ['dup:80']}]\n"));
  store_.Upsert("local", Doc("db.scrape.yml", "job_name: db\nstatic_configs: [{targets: ['d:80']}]\n"));
  store_.Upsert("local", Doc("t.targets.json", "[{\"targets\": [\"t:80\"]}]"));
  Document jt = Doc("svc", "[{\"targets\": [\"j:80\"]}]");
  jt.job = "svc";
  store_.Upsert("local", jt);
  auto r = Make(false, "global:\n  scrape_interval: 30s\nscrape_configs:\n- job_name: base\n");
  ASSERT_TRUE(r->Reconcile("render").status.ok());

  struct Step {
    const char* what;
    std::function<void()> change;
  };
  std::vector<Step> steps = {
      {"rules bytes", [&] { store_.Upsert("kv", Doc("a.rules.yml", kGoodRulesV2)); }},
      {"scrape bytes", [&] { store_.Upsert("local", Doc("db.scrape.yml", "job_name: db\nscrape_interval: 5s\n")); }},
      {"duplicate stays rejected",
       [&] { store_.Upsert("local", Doc("web.scrape.yml", "job_name: web\nscrape_interval: 9s\n")); }},
      {"targets bytes", [&] { store_.Upsert("local", Doc("t.targets.json", "[{\"targets\": [\"t2:80\"]}]")); }},
      {"job targets bytes",
       [&] {
         Document d = Doc("svc", "[{\"targets\": [\"j2:80\"]}]");
         d.job = "svc";
         store_.Upsert("local", d);
       }},
      {"bad version", [&] { store_.Upsert("kv", Doc("b.rules.yml", kBadRules)); }},
      {"good again", [&] { store_.Upsert("kv", Doc("b.rules.yml", kGoodRulesV2)); }},
      {"job rename", [&] { store_.Upsert("kv", Doc("web.scrape.yml", "job_name: web2\n")); }},
      {"rename frees the duplicate",
       [&] { store_.Upsert("local", Doc("web.scrape.yml", "job_name: web\nscrape_interval: 7s\n")); }},
      {"two at once",
       [&] {
         store_.Upsert("kv", Doc("a.rules.yml", kGoodRules));
         store_.Upsert("local", Doc("db.scrape.yml", "job_name: db\n"));
       }},
      {"delete", [&] { store_.Delete("kv", "a.rules.yml"); }},
      {"add", [&] { store_.Upsert("kv", Doc("c.rules.yml", kGoodRules)); }},
  };
  int k = 0;
  for (const Step& step : steps) {
    SCOPED_TRACE(step.what);
    step.change();
    ASSERT_TRUE(r->Reconcile("render").status.ok());
    ReconcileReport inc = r->LastReport();
    TempDir fresh_dir;
    OutputOptions o;
    o.dir = fresh_dir.path() + "/out";
    o.base_config_path = dir_.path() + "/base.yml";
    OutputReconciler fresh(&store_, o);
    ASSERT_TRUE(fresh.Reconcile("render").status.ok());
    std::map<std::string, std::string> tree = Tree(dir_.path() + "/out");
    if (std::string(step.what) == "bad version") {
      // A fresh promconf never saw the accepted version that stays here.
      EXPECT_EQ(tree["rules/kv_b.yml"], kGoodRules);
      tree.erase("rules/kv_b.yml");
    }
    EXPECT_EQ(tree, Tree(o.dir));
    ReconcileReport full = fresh.LastReport();
    EXPECT_EQ(inc.accepted, full.accepted);
    EXPECT_EQ(inc.rejected, full.rejected);
    EXPECT_EQ(inc.ignored, full.ignored);
    std::vector<FragmentStatus> a = r->FragmentStatuses(), b = fresh.FragmentStatuses();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].document, b[i].document);
      EXPECT_EQ(a[i].status, b[i].status) << a[i].document;
      EXPECT_EQ(a[i].error, b[i].error) << a[i].document;
      EXPECT_EQ(a[i].bytes, b[i].bytes) << a[i].document;
    }
    ++k;
  }
  EXPECT_EQ(k, static_cast<int>(steps.size()));
  EXPECT_FALSE(Exists("rules/kv_a.yml"));
  EXPECT_TRUE(Exists("rules/kv_c.yml"));
}

TEST_F(OutputReconcilerTest, DryRunPrintsDiffAndWritesNothing) {
  store_.Upsert("kv", Doc("a.rules.yml", kGoodRules));
  auto writer = Make();
  ASSERT_TRUE(writer->Reconcile("render").status.ok());
  store_.Upsert("kv", Doc("a.rules.yml", "groups: []\n"));
  store_.Upsert("kv", Doc("n.scrape.yml", "job_name: new\n"));
  auto dry = Make(/*dry_run=*/true);
  ASSERT_TRUE(dry->Reconcile("render").status.ok());
  std::string diff = dry->LastReport().diff;
  EXPECT_THAT(diff, HasSubstr("--- a/rules/kv_a.yml\n+++ b/rules/kv_a.yml\n"));
  EXPECT_THAT(diff, HasSubstr("-groups:\n"));
  EXPECT_THAT(diff, HasSubstr("+groups: []\n"));
  EXPECT_THAT(diff, HasSubstr("+++ b/prometheus.yml\n"));
  EXPECT_THAT(diff, HasSubstr("+- job_name: new\n"));
  EXPECT_EQ(Out("rules/kv_a.yml"), kGoodRules);
  EXPECT_EQ(dry->writes(), 0u);
  store_.Delete("kv", "a.rules.yml");
  ASSERT_TRUE(dry->Reconcile("render").status.ok());
  EXPECT_THAT(dry->LastReport().diff, HasSubstr("--- a/rules/kv_a.yml\n+++ /dev/null\n"));
}

TEST_F(OutputReconcilerTest, IoErrorIsUnavailableBadBaseIsTerminal) {
  std::ofstream(dir_.path() + "/out") << "a file where the dir should be";
  auto r = Make();
  runtime::ReconcileResult res = r->Reconcile("render");
  EXPECT_EQ(res.status.code(), absl::StatusCode::kUnavailable) << res.status;
  fs::remove(dir_.path() + "/out");
  auto bad = Make(false, "scrape_configs: 7\n");
  res = bad->Reconcile("render");
  EXPECT_EQ(res.status.code(), absl::StatusCode::kInvalidArgument) << res.status;
  EXPECT_THAT(res.status.message(), HasSubstr("line 1"));
  auto good = Make(false, "global: {scrape_interval: 15s}\n");
  ASSERT_TRUE(good->Reconcile("render").status.ok());
  EXPECT_THAT(Out("prometheus.yml"), HasSubstr("global:\n  scrape_interval: 15s\n"));
}

}  // namespace
}  // namespace promconf
