#include "controller/health.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;

TEST(HealthTest, StalledSourceIsNamedAndRecovers) {
  FakeClock clock;
  HealthTracker health(&clock);
  health.AddSource("kv", absl::Seconds(30), {""});
  health.AddSource("files", absl::InfiniteDuration(), {""});
  EXPECT_TRUE(health.Healthz().ok);
  clock.Advance(absl::Seconds(20));
  health.Progress("kv");
  clock.Advance(absl::Seconds(20));
  EXPECT_TRUE(health.Healthz().ok) << "progress 20 s ago is within 30 s";
  health.Error("kv", absl::UnavailableError("connection refused"));
  clock.Advance(absl::Seconds(11));
  HealthReport r = health.Healthz();
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.body, HasSubstr("source kv stalled"));
  EXPECT_THAT(r.body, HasSubstr("connection refused"));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("files")));
  health.Progress("kv");
  EXPECT_TRUE(health.Healthz().ok);
}

TEST(HealthTest, ReadyOnlyAfterEverySyncAndTheFirstRender) {
  FakeClock clock;
  HealthTracker health(&clock);
  health.AddSource("cluster", absl::Minutes(1), {"a/", "b/"});
  health.AddSource("kv", absl::Minutes(1), {""});
  EXPECT_FALSE(health.Readyz().ok);
  health.Synced("cluster", "a/");
  health.Synced("kv", "");
  EXPECT_FALSE(health.AllSynced());
  EXPECT_THAT(health.Readyz().body, HasSubstr("source cluster not synced"));
  health.Synced("cluster", "b/");
  EXPECT_TRUE(health.AllSynced());
  EXPECT_TRUE(health.WaitAllSynced(absl::ZeroDuration()));
  HealthReport r = health.Readyz();
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.body, HasSubstr("first render"));
  health.MarkRendered();
  EXPECT_TRUE(health.Readyz().ok);
}

TEST(HealthTest, NotSyncedReportCarriesTheLastError) {
  FakeClock clock;
  HealthTracker health(&clock);
  health.AddSource("kv", absl::Minutes(1), {""});
  health.Error("kv", absl::UnavailableError("POST http://127.0.0.1:1/v3/kv/range: refused"));
  EXPECT_FALSE(health.WaitAllSynced(absl::Milliseconds(1)));
  EXPECT_THAT(health.NotSyncedReport(), HasSubstr("source kv not synced (POST http"));
}

}  // namespace
}  // namespace promconf
