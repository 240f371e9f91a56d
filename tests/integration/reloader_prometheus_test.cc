// The reloader and the metrics listener against a real Prometheus 2.42:
// rule changes land through POST /-/reload, a broken rule file is a counted,
// retryable failure that leaves the old rules in place, and Prometheus
// scrapes promconf's /metrics.

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/http_server.h"
#include "metrics/metrics.h"
#include "reconcile/reloader.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/prometheus_server.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;

constexpr char kConfig[] =
    "global:\n"
    "  scrape_interval: 1s\n"
    "  evaluation_interval: 1s\n"
    "rule_files:\n"
    "  - rules/*.yml\n";

std::string RecordingRule(const std::string& group, const std::string& record) {
  return absl::StrCat("groups:\n",
                      "  - name: ", group, "\n",
                      "    rules:\n",
                      "      - record: ", record, "\n",
                      "        expr: vector(1)\n");
}

PrometheusServer::Options Opts(const std::string& config,
                              std::vector<std::pair<std::string, std::string>> files = {},
                              bool enable_lifecycle = true) {
  PrometheusServer::Options o;
  o.config_yaml = config;
  o.files = std::move(files);
  o.enable_lifecycle = enable_lifecycle;
  return o;
}

class ReloaderPrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PrometheusServer::Available()) GTEST_SKIP() << "no prometheus binary on PATH";
  }

  bool HasRule(const std::string& name) {
    auto names = prom_->RuleNames();
    return names.ok() && std::find(names->begin(), names->end(), name) != names->end();
  }

  std::string Exposition() { return metrics_.ExpositionText(); }

  Metrics metrics_;
  std::unique_ptr<PrometheusServer> prom_;
};

TEST_F(ReloaderPrometheusTest, RuleChangesLandThroughTheReloadEndpoint) {
  PrometheusServer::Options options;
  options.config_yaml = kConfig;
  options.files = {{"rules/team-a.yml", RecordingRule("team_a", "promconf:first")}};
  auto prom = PrometheusServer::Start(options);
  ASSERT_TRUE(prom.ok()) << prom.status();
  prom_ = std::move(*prom);
  ASSERT_TRUE(HasRule("promconf:first"));

  FakeClock clock;
  ReloaderOptions ro;
  ro.url = prom_->reload_url();
  ro.min_interval = absl::Seconds(2);
  ro.timeout = absl::Seconds(30);
  auto reloader = Reloader::Create(ro, &clock, &metrics_);
  ASSERT_TRUE(reloader.ok()) << reloader.status();

  // A changed rule file is picked up only after the reload.
  ASSERT_TRUE(prom_->WriteFile("rules/team-a.yml", RecordingRule("team_a", "promconf:second")).ok());
  runtime::ReconcileResult first = (*reloader)->Reconcile(Reloader::kKey);
  ASSERT_TRUE(first.status.ok()) << first.status << "\n" << prom_->Log();
  // Prometheus' /-/reload returns once the reload is done: no waiting needed.
  EXPECT_TRUE(HasRule("promconf:second"));
  EXPECT_FALSE(HasRule("promconf:first"));
  EXPECT_THAT(Exposition(), HasSubstr("promconf_reloads_total 1\n"));
  EXPECT_THAT(Exposition(), HasSubstr("promconf_last_reload_successful 1\n"));
  auto ok = prom_->LastReloadSuccessful();
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(*ok);

  // A broken rule file: Prometheus answers 500, keeps the old rule set; the
  // reload is counted as failed and is retryable.
  ASSERT_TRUE(prom_->WriteFile("rules/team-b.yml",
                               "groups:\n  - name: team_b\n    rules:\n"
                               "      - record: promconf:broken\n        expr: sum(\n")
                  .ok());
  clock.Advance(absl::Seconds(2));
  runtime::ReconcileResult failed = (*reloader)->Reconcile(Reloader::kKey);
  EXPECT_EQ(failed.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(failed.status.message()), HasSubstr("HTTP 500"));
  EXPECT_THAT(std::string(failed.status.message()), HasSubstr("failed to reload config"));
  EXPECT_THAT(Exposition(), HasSubstr("promconf_reloads_failed_total 1\n"));
  EXPECT_THAT(Exposition(), HasSubstr("promconf_last_reload_successful 0\n"));
  EXPECT_TRUE(HasRule("promconf:second"));
  EXPECT_FALSE(HasRule("promconf:broken"));
  ok = prom_->LastReloadSuccessful();
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_FALSE(*ok);

  // Fixing the file and retrying recovers.
  ASSERT_TRUE(prom_->WriteFile("rules/team-b.yml", RecordingRule("team_b", "promconf:fixed")).ok());
  clock.Advance(absl::Seconds(2));
  runtime::ReconcileResult fixed = (*reloader)->Reconcile(Reloader::kKey);
  ASSERT_TRUE(fixed.status.ok()) << fixed.status;
  EXPECT_TRUE(HasRule("promconf:fixed"));
  EXPECT_TRUE(HasRule("promconf:second"));
  EXPECT_THAT(Exposition(), HasSubstr("promconf_reloads_total 2\n"));
  EXPECT_THAT(Exposition(), HasSubstr("promconf_last_reload_successful 1\n"));
}

TEST_F(ReloaderPrometheusTest, WithinMinIntervalTheReloadIsDeferredNotSent) {
  auto prom = PrometheusServer::Start(
      Opts(kConfig, {{"rules/a.yml", RecordingRule("a", "promconf:v1")}}));
  ASSERT_TRUE(prom.ok()) << prom.status();
  prom_ = std::move(*prom);
  FakeClock clock;
  ReloaderOptions ro;
  ro.url = prom_->reload_url();
  ro.min_interval = absl::Seconds(5);
  auto reloader = Reloader::Create(ro, &clock, &metrics_);
  ASSERT_TRUE(reloader.ok());
  ASSERT_TRUE((*reloader)->Reconcile(Reloader::kKey).status.ok());

  ASSERT_TRUE(prom_->WriteFile("rules/a.yml", RecordingRule("a", "promconf:v2")).ok());
  clock.Advance(absl::Seconds(1));
  runtime::ReconcileResult deferred = (*reloader)->Reconcile(Reloader::kKey);
  ASSERT_TRUE(deferred.status.ok());
  ASSERT_TRUE(deferred.requeue_after.has_value());
  EXPECT_EQ(*deferred.requeue_after, absl::Seconds(4));
  EXPECT_TRUE(HasRule("promconf:v1"));  // not reloaded yet

  clock.Advance(absl::Seconds(4));
  ASSERT_TRUE((*reloader)->Reconcile(Reloader::kKey).status.ok());
  EXPECT_TRUE(HasRule("promconf:v2"));
}

TEST_F(ReloaderPrometheusTest, WithoutLifecycleTheFailureSaysWhy) {
  auto prom = PrometheusServer::Start(Opts(kConfig, {}, /*enable_lifecycle=*/false));
  ASSERT_TRUE(prom.ok()) << prom.status();
  prom_ = std::move(*prom);
  FakeClock clock;
  ReloaderOptions ro;
  ro.url = prom_->reload_url();
  auto reloader = Reloader::Create(ro, &clock, &metrics_);
  ASSERT_TRUE(reloader.ok());
  absl::Status s = (*reloader)->ReloadOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("--web.enable-lifecycle"));
}

TEST_F(ReloaderPrometheusTest, PrometheusScrapesTheMetricsListener) {
  metrics_.SetSourceUp("kv", "etcd", true);
  HttpServer::Options http_options;
  http_options.listen_address = "127.0.0.1:0";
  auto server = HttpServer::Start(http_options, &metrics_);
  ASSERT_TRUE(server.ok()) << server.status();

  const std::string config = absl::StrCat(kConfig,
                                          "scrape_configs:\n"
                                          "  - job_name: promconf\n"
                                          "    static_configs:\n"
                                          "      - targets: ['127.0.0.1:",
                                          (*server)->port(), "']\n");
  auto prom = PrometheusServer::Start(Opts(config));
  ASSERT_TRUE(prom.ok()) << prom.status();
  prom_ = std::move(*prom);

  absl::Status up = prom_->WaitFor("up{job=\"promconf\"} == 1", [&] {
    auto v = prom_->QueryValue("up{job=\"promconf\"}");
    return v.ok() && v->has_value() && **v == 1;
  });
  ASSERT_TRUE(up.ok()) << up;

  // The exposition parsed: our own series are queryable, labels intact.
  absl::Status series = prom_->WaitFor("promconf_build_info", [&] {
    auto v = prom_->QueryValue(
        "promconf_build_info{job=\"promconf\",version!=\"\",revision!=\"\"}");
    return v.ok() && v->has_value() && **v == 1;
  });
  EXPECT_TRUE(series.ok()) << series;
  auto source_up = prom_->QueryValue("promconf_source_up{source=\"kv\",type=\"etcd\"}");
  ASSERT_TRUE(source_up.ok()) << source_up.status();
  ASSERT_TRUE(source_up->has_value());
  EXPECT_EQ(**source_up, 1);
  auto fds = prom_->QueryValue("process_open_fds{job=\"promconf\"}");
  ASSERT_TRUE(fds.ok()) << fds.status();
  ASSERT_TRUE(fds->has_value());
  EXPECT_GT(**fds, 0);

  auto health = prom_->TargetHealth();
  ASSERT_TRUE(health.ok()) << health.status();
  ASSERT_EQ(health->size(), 1u);
  EXPECT_EQ((*health)[0].second, "up");
  EXPECT_THAT((*health)[0].first, HasSubstr("/metrics"));
}

}  // namespace
}  // namespace promconf
