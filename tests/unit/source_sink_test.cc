#include "controller/source_sink.h"

#include <map>

#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace promconf {
namespace {

class CountingMetrics : public SourceMetricsSink {
 public:
  void SourceEvent(absl::string_view source, SourceEventType event, int count) override {
    events[std::string(source) + "/" + std::string(SourceEventTypeName(event))] += count;
  }
  void SourceUp(absl::string_view, bool is_up) override { up = is_up; }
  void SourceDocuments(absl::string_view, size_t count) override { documents = count; }
  std::map<std::string, int> events;
  bool up = false;
  size_t documents = 0;
};

Document Doc(std::string name, std::string data) {
  Document d;
  d.name = std::move(name);
  d.data = std::move(data);
  return d;
}

TEST(SourceSinkTest, ChangesLandInTheStoreAndQueueOneRenderKey) {
  FakeClock clock;
  DocumentStore store({"kv"});
  runtime::WorkQueue queue("test", &clock, nullptr);
  HealthTracker health(&clock);
  health.AddSource("kv", absl::Minutes(1), {""});
  CountingMetrics metrics;
  SourceSink sink("kv", &store, &queue, &health, &metrics);

  std::vector<Document> docs;
  docs.push_back(Doc("a.rules.yml", "groups: []"));
  docs.push_back(Doc("b.rules.yml", "groups: []"));
  sink.OnSnapshot("", std::move(docs));
  sink.OnUpsert(Doc("c.rules.yml", "groups: []"));
  sink.OnUpsert(Doc("a.rules.yml", "groups: [] # changed"));
  sink.OnDelete("b.rules.yml");
  // Every change lands in the store; the queue holds one coalesced key.
  EXPECT_EQ(store.DocumentCount("kv"), 2u);
  EXPECT_EQ(queue.Len(), 1);
  std::string key;
  ASSERT_TRUE(queue.Get(&key));
  EXPECT_EQ(key, kRenderKey);
  queue.Done(key);
  EXPECT_EQ(metrics.events["kv/added"], 3);
  EXPECT_EQ(metrics.events["kv/modified"], 1);
  EXPECT_EQ(metrics.events["kv/deleted"], 1);
  EXPECT_EQ(metrics.events["kv/relist"], 1);
  EXPECT_EQ(metrics.documents, 2u);
  EXPECT_TRUE(health.AllSynced());

  // An unchanged upsert is not a change: nothing queued.
  sink.OnUpsert(Doc("c.rules.yml", "groups: []"));
  EXPECT_EQ(queue.Len(), 0);

  sink.OnError(absl::UnavailableError("down"));
  EXPECT_FALSE(metrics.up);
  EXPECT_EQ(metrics.events["kv/error"], 1);
  EXPECT_EQ(store.DocumentCount("kv"), 2u) << "a down source keeps its documents";
  sink.OnProgress();
  EXPECT_TRUE(metrics.up);
  EXPECT_EQ(metrics.events["kv/bookmark"], 1);
}

TEST(SourceSinkTest, EmptyFirstSnapshotStillAsksForTheFirstRender) {
  FakeClock clock;
  DocumentStore store({"kv"});
  runtime::WorkQueue queue("test", &clock, nullptr);
  HealthTracker health(&clock);
  health.AddSource("kv", absl::Minutes(1), {""});
  SourceSink sink("kv", &store, &queue, &health, nullptr);
  sink.OnSnapshot("", {});
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_TRUE(health.AllSynced());
}

}  // namespace
}  // namespace promconf
