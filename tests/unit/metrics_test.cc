#include "metrics/metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/controller.h"
#include "runtime/workqueue.h"
#include "runtime/workqueue_metrics.h"
#include "tests/fakes/fake_clock.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;

// The sample lines of `text` whose metric name is exactly `name`.
std::vector<std::string> Samples(const std::string& text, absl::string_view name) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    absl::string_view n = line.substr(0, line.find_first_of("{ "));
    if (n == name) out.emplace_back(line);
  }
  return out;
}

bool HasType(const std::string& text, absl::string_view name, absl::string_view type) {
  return absl::StrContains(text, absl::StrCat("# TYPE ", name, " ", type, "\n"));
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_.SetSourceUp("kv", "etcd", true);
    m_.SourceEvent("kv", SourceEventType::kAdded);
    m_.SourceEvent("kv", SourceEventType::kAdded);
    m_.SetSourceLastEventTimestamp("kv", absl::FromUnixSeconds(1700000000));
    m_.SetSourceDocuments("kv", 7);
    m_.SetFragments("rules", "accepted", 3);
    m_.SetFragments("rules", "rejected", 1);
    m_.ReconcileDone(ReconcileOutcome::kSuccess, absl::Milliseconds(12));
    m_.IncOutputWrites();
    m_.ReloadSucceeded(absl::FromUnixSeconds(1700000100));
    m_.SetLeader(true);
    m_.workqueue().ForQueue("promconf");
    m_.workqueue().ObserveWorkDuration("promconf", absl::Milliseconds(3));
    text_ = m_.ExpositionText();
  }
  Metrics m_;
  std::string text_;
};

TEST_F(MetricsTest, EverySpecMetricIsExposedWithItsTypeAndLabels) {
  struct Want {
    const char* name;
    const char* type;
    std::vector<const char*> labels;
  };
  const std::vector<Want> wants = {
      {"promconf_build_info", "gauge", {"version", "revision"}},
      {"promconf_source_up", "gauge", {"source", "type"}},
      {"promconf_source_events_total", "counter", {"source", "event"}},
      {"promconf_source_last_event_timestamp_seconds", "gauge", {"source"}},
      {"promconf_source_documents", "gauge", {"source"}},
      {"promconf_fragments", "gauge", {"kind", "status"}},
      {"promconf_reconcile_total", "counter", {"result"}},
      {"promconf_reconcile_duration_seconds", "histogram", {}},
      {"promconf_output_writes_total", "counter", {}},
      {"promconf_reloads_total", "counter", {}},
      {"promconf_reloads_failed_total", "counter", {}},
      {"promconf_last_reload_successful", "gauge", {}},
      {"promconf_last_reload_success_timestamp_seconds", "gauge", {}},
      {"promconf_leader", "gauge", {}},
      {"workqueue_depth", "gauge", {"name"}},
      {"workqueue_adds_total", "counter", {"name"}},
      {"workqueue_queue_duration_seconds", "histogram", {"name"}},
      {"workqueue_work_duration_seconds", "histogram", {"name"}},
      {"workqueue_retries_total", "counter", {"name"}},
      {"workqueue_unfinished_work_seconds", "gauge", {"name"}},
      {"workqueue_longest_running_processor_seconds", "gauge", {"name"}},
      {"process_cpu_seconds_total", "counter", {}},
      {"process_resident_memory_bytes", "gauge", {}},
      {"process_virtual_memory_bytes", "gauge", {}},
      {"process_open_fds", "gauge", {}},
      {"process_max_fds", "gauge", {}},
      {"process_start_time_seconds", "gauge", {}},
  };
  for (const Want& w : wants) {
    SCOPED_TRACE(w.name);
    EXPECT_TRUE(HasType(text_, w.name, w.type)) << text_;
    const std::string sample_name =
        std::string(w.type) == "histogram" ? absl::StrCat(w.name, "_count") : w.name;
    std::vector<std::string> samples = Samples(text_, sample_name);
    ASSERT_FALSE(samples.empty()) << text_;
    for (const std::string& s : samples) {
      for (const char* label : w.labels) EXPECT_THAT(s, HasSubstr(absl::StrCat(label, "=\"")));
      if (w.labels.empty()) {
        EXPECT_EQ(s.find('{'), std::string::npos) << s;
      }
    }
  }
}

TEST_F(MetricsTest, CounterFamiliesEndInTotalAndNoSampleDoublesIt) {
  EXPECT_THAT(text_, Not(HasSubstr("_total_total")));
  for (absl::string_view line : absl::StrSplit(text_, '\n')) {
    if (!absl::StartsWith(line, "# TYPE ") || !absl::EndsWith(line, " counter")) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    ASSERT_EQ(parts.size(), 4u) << line;
    EXPECT_TRUE(absl::EndsWith(parts[2], "_total")) << line;
  }
}

TEST_F(MetricsTest, BuildInfoIsOneWithVersionAndRevision) {
  std::vector<std::string> s = Samples(text_, "promconf_build_info");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_THAT(s[0], HasSubstr(absl::StrCat("version=\"", PROMCONF_VERSION, "\"")));
  EXPECT_THAT(s[0], HasSubstr(absl::StrCat("revision=\"", PROMCONF_REVISION, "\"")));
  EXPECT_TRUE(absl::EndsWith(s[0], " 1")) << s[0];
}

TEST_F(MetricsTest, HelpersMoveTheirSeries) {
  EXPECT_THAT(text_, HasSubstr("promconf_source_up{source=\"kv\",type=\"etcd\"} 1"));
  EXPECT_THAT(text_, HasSubstr("promconf_source_events_total{event=\"added\",source=\"kv\"} 2"));
  // Every event type of a registered source exists from the start.
  for (const char* e : {"modified", "deleted", "bookmark", "relist", "error"}) {
    EXPECT_THAT(text_,
                HasSubstr(absl::StrCat("promconf_source_events_total{event=\"", e,
                                       "\",source=\"kv\"} 0")));
  }
  EXPECT_THAT(text_, HasSubstr("promconf_source_last_event_timestamp_seconds{source=\"kv\"} 1700000000"));
  EXPECT_THAT(text_, HasSubstr("promconf_source_documents{source=\"kv\"} 7"));
  EXPECT_THAT(text_, HasSubstr("promconf_fragments{kind=\"rules\",status=\"rejected\"} 1"));
  EXPECT_THAT(text_, HasSubstr("promconf_reconcile_total{result=\"success\"} 1"));
  EXPECT_THAT(text_, HasSubstr("promconf_reconcile_total{result=\"requeue\"} 0"));
  EXPECT_THAT(text_, HasSubstr("promconf_reconcile_duration_seconds_count 1"));
  EXPECT_THAT(text_, HasSubstr("promconf_output_writes_total 1"));
  EXPECT_THAT(text_, HasSubstr("promconf_reloads_total 1"));
  EXPECT_THAT(text_, HasSubstr("promconf_last_reload_successful 1"));
  EXPECT_THAT(text_, HasSubstr("promconf_last_reload_success_timestamp_seconds 1700000100"));
  EXPECT_THAT(text_, HasSubstr("promconf_leader 1"));

  m_.ReloadFailed();
  m_.SetSourceUp("kv", "etcd", false);
  const std::string after = m_.ExpositionText();
  EXPECT_THAT(after, HasSubstr("promconf_reloads_failed_total 1"));
  EXPECT_THAT(after, HasSubstr("promconf_last_reload_successful 0"));
  EXPECT_THAT(after, HasSubstr("promconf_source_up{source=\"kv\",type=\"etcd\"} 0"));
}

TEST_F(MetricsTest, SourceChangingTypeLeavesNoStaleUpSeries) {
  m_.SetSourceUp("kv", "consul", true);
  const std::string after = m_.ExpositionText();
  EXPECT_THAT(after, HasSubstr("promconf_source_up{source=\"kv\",type=\"consul\"} 1"));
  EXPECT_THAT(after, Not(HasSubstr("type=\"etcd\"")));
}

TEST_F(MetricsTest, WorkQueueHistogramsUseClientGoBuckets) {
  const std::vector<std::string> buckets = {"1e-08", "1e-07", "1e-06", "1e-05", "0.0001",
                                            "0.001", "0.01",  "0.1",   "1",     "10",   "+Inf"};
  for (const std::string& le : buckets) {
    EXPECT_TRUE(absl::StrContains(
        text_,
        absl::StrCat("workqueue_work_duration_seconds_bucket{name=\"promconf\",le=\"", le, "\"}")))
        << le;
  }
  // 3 ms falls in the 0.01 bucket, not the 0.001 one.
  EXPECT_THAT(text_, HasSubstr("workqueue_work_duration_seconds_bucket{name=\"promconf\",le=\"0.001\"} 0"));
  EXPECT_THAT(text_, HasSubstr("workqueue_work_duration_seconds_bucket{name=\"promconf\",le=\"0.01\"} 1"));
}

TEST_F(MetricsTest, PreCollectHooksRunOnEveryCollectUntilRemoved) {
  int calls = 0;
  const int id = m_.AddPreCollectHook([&] {
    ++calls;
    m_.workqueue().SetUnfinishedWork("promconf", absl::Seconds(calls));
  });
  EXPECT_THAT(m_.ExpositionText(),
              HasSubstr("workqueue_unfinished_work_seconds{name=\"promconf\"} 1"));
  m_.ExpositionText();
  EXPECT_EQ(calls, 2);
  m_.RemovePreCollectHook(id);
  m_.ExpositionText();
  EXPECT_EQ(calls, 2);
}

TEST(MetricsEventNames, EveryTypeHasItsLabel) {
  EXPECT_EQ(SourceEventTypeName(SourceEventType::kAdded), "added");
  EXPECT_EQ(SourceEventTypeName(SourceEventType::kModified), "modified");
  EXPECT_EQ(SourceEventTypeName(SourceEventType::kDeleted), "deleted");
  EXPECT_EQ(SourceEventTypeName(SourceEventType::kBookmark), "bookmark");
  EXPECT_EQ(SourceEventTypeName(SourceEventType::kRelist), "relist");
  EXPECT_EQ(SourceEventTypeName(SourceEventType::kError), "error");
}

TEST(MetricsConcurrency, HelpersAndCollectRace) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&m, i] {
      const std::string source = absl::StrCat("s", i % 2);
      for (int j = 0; j < 200; ++j) {
        m.SetSourceUp(source, "file", j % 2 == 0);
        m.SourceEvent(source, SourceEventType::kModified);
        m.workqueue().IncAdds("q");
        if (j % 50 == 0) m.ExpositionText();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_THAT(m.ExpositionText(), HasSubstr("workqueue_adds_total{name=\"q\"} 800"));
}

// The reconcile-side adapters feed the same families.
TEST(WorkQueueMetricsAdapterTest, QueueReportsIntoItsNamedSeries) {
  Metrics m;
  FakeClock clock;
  runtime::QueueMetrics queue_metrics(&m, "promconf");
  runtime::WorkQueue queue("promconf", &clock, nullptr, &queue_metrics);
  queue_metrics.RefreshOnScrape(&queue);

  queue.Add("render");
  queue.Add("reload");
  queue.Add("render");  // deduplicated by the queue, still an add
  std::string item;
  ASSERT_TRUE(queue.Get(&item));
  clock.Advance(absl::Seconds(3));

  // The scrape refreshes the unfinished-work gauges of the item in flight.
  const std::string during = m.ExpositionText();
  EXPECT_THAT(during, HasSubstr("workqueue_depth{name=\"promconf\"} 1"));
  EXPECT_THAT(during, HasSubstr("workqueue_unfinished_work_seconds{name=\"promconf\"} 3"));
  EXPECT_THAT(during, HasSubstr("workqueue_longest_running_processor_seconds{name=\"promconf\"} 3"));
  queue.Done(item);
  const std::string after = m.ExpositionText();
  EXPECT_THAT(after, HasSubstr("workqueue_work_duration_seconds_count{name=\"promconf\"} 1"));
  EXPECT_THAT(after, HasSubstr("workqueue_queue_duration_seconds_count{name=\"promconf\"} 1"));
  EXPECT_THAT(after, HasSubstr("workqueue_unfinished_work_seconds{name=\"promconf\"} 0"));

  queue_metrics.StopRefreshing();
  queue.ShutDown();
}

TEST(WorkQueueMetricsAdapterTest, ObserverCountsReconcileResults) {
  Metrics m;
  runtime::ReconcileMetricsObserver observer(&m);
  observer.OnReconciled(runtime::Outcome::kSuccess, absl::Milliseconds(5));
  observer.OnReconciled(runtime::Outcome::kRequeue, absl::Milliseconds(5));
  observer.OnReconciled(runtime::Outcome::kRequeue, absl::Milliseconds(5));
  observer.OnReconciled(runtime::Outcome::kError, absl::Milliseconds(5));
  const std::string text = m.ExpositionText();
  EXPECT_THAT(text, HasSubstr("promconf_reconcile_total{result=\"success\"} 1"));
  EXPECT_THAT(text, HasSubstr("promconf_reconcile_total{result=\"requeue\"} 2"));
  EXPECT_THAT(text, HasSubstr("promconf_reconcile_total{result=\"error\"} 1"));
  EXPECT_THAT(text, HasSubstr("promconf_reconcile_duration_seconds_count 4"));
}

}  // namespace
}  // namespace promconf
