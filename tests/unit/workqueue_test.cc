// Ports of client-go's util/workqueue queue_test.go, delaying_queue_test.go and
// rate_limiting_queue_test.go, plus the metrics hooks. Time is a FakeClock;
// the only real waiting is bounded hand-off between threads.

#include "runtime/workqueue.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace promconf::runtime {
namespace {

// Polls `cond` for up to 10 s of real time: thread hand-offs only.
template <typename F>
bool Eventually(F cond) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return cond();
}

class WorkQueueTest : public ::testing::Test {
 protected:
  FakeClock clock_;
};

// --- queue_test.go ---------------------------------------------------------

TEST_F(WorkQueueTest, BasicConcurrentProducersAndConsumers) {
  WorkQueue q("basic", &clock_, nullptr);
  constexpr int kProducers = 50;
  constexpr int kItems = 50;
  constexpr int kConsumers = 10;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&q] {
      for (int i = 0; i < kItems; ++i) q.Add(absl::StrCat(i));
    });
  }
  std::atomic<int> processed{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&q, &processed] {
      std::string item;
      while (q.Get(&item)) {
        ++processed;
        q.Done(item);
      }
    });
  }
  for (auto& t : producers) t.join();
  q.ShutDown();
  q.Add("added after shutdown!");
  for (auto& t : consumers) t.join();
  EXPECT_EQ(q.Len(), 0);
  // Duplicates collapse, so each item is processed at least once and at most
  // once per producer.
  EXPECT_GE(processed.load(), kItems);
  EXPECT_LE(processed.load(), kItems * kProducers);
}

TEST_F(WorkQueueTest, AddWhileProcessing) {
  WorkQueue q("add-while-processing", &clock_, nullptr);
  constexpr int kProducers = 50;
  constexpr int kItems = 50;
  constexpr int kConsumers = 10;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&q] {
      for (int i = 0; i < kItems; ++i) q.Add(absl::StrCat(i));
    });
  }
  absl::Mutex mu;
  std::set<std::string> seen;
  std::set<std::string> in_flight;
  bool overlap = false;
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      std::string item;
      while (q.Get(&item)) {
        bool first = false;
        {
          absl::MutexLock lock(&mu);
          if (!in_flight.insert(item).second) overlap = true;
          first = seen.insert(item).second;
        }
        // Re-add each item once while it is being processed.
        if (first) q.Add(item);
        {
          absl::MutexLock lock(&mu);
          in_flight.erase(item);
        }
        q.Done(item);
      }
    });
  }
  for (auto& t : producers) t.join();
  // Every re-added item must come back before we shut down.
  ASSERT_TRUE(Eventually([&] {
    absl::MutexLock lock(&mu);
    return seen.size() == static_cast<size_t>(kItems) && in_flight.empty();
  }));
  ASSERT_TRUE(Eventually([&] { return q.Len() == 0; }));
  q.ShutDown();
  for (auto& t : consumers) t.join();
  EXPECT_FALSE(overlap);
  EXPECT_EQ(q.Len(), 0);
}

TEST_F(WorkQueueTest, Len) {
  WorkQueue q("len", &clock_, nullptr);
  q.Add("foo");
  EXPECT_EQ(q.Len(), 1);
  q.Add("bar");
  EXPECT_EQ(q.Len(), 2);
  q.Add("foo");  // already queued
  EXPECT_EQ(q.Len(), 2);
}

TEST_F(WorkQueueTest, Reinsert) {
  WorkQueue q("reinsert", &clock_, nullptr);
  q.Add("foo");
  std::string item;
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "foo");
  // Added again while processing: not handed out until Done().
  q.Add(item);
  EXPECT_EQ(q.Len(), 0);
  q.Done(item);
  EXPECT_EQ(q.Len(), 1);
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "foo");
  q.Done(item);
  EXPECT_EQ(q.Len(), 0);
}

TEST_F(WorkQueueTest, FifoOrder) {
  WorkQueue q("fifo", &clock_, nullptr);
  for (const char* s : {"c", "a", "b"}) q.Add(s);
  std::string item;
  for (const char* want : {"c", "a", "b"}) {
    ASSERT_TRUE(q.Get(&item));
    EXPECT_EQ(item, want);
    q.Done(item);
  }
}

TEST_F(WorkQueueTest, ShutDownHandsOutRemainingItemsThenFalse) {
  WorkQueue q("shutdown", &clock_, nullptr);
  q.Add("a");
  q.Add("b");
  q.ShutDown();
  EXPECT_TRUE(q.ShuttingDown());
  q.Add("c");
  std::string item;
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "a");
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "b");
  EXPECT_FALSE(q.Get(&item));
}

TEST_F(WorkQueueTest, ShutDownWakesBlockedGet) {
  WorkQueue q("wake", &clock_, nullptr);
  std::atomic<bool> returned{false};
  bool got = true;
  std::thread consumer([&] {
    std::string item;
    got = q.Get(&item);
    returned = true;
  });
  ASSERT_TRUE(Eventually([&] { return clock_.Waiters() > 0; }));
  EXPECT_FALSE(returned.load());
  q.ShutDown();
  consumer.join();
  EXPECT_FALSE(got);
}

TEST_F(WorkQueueTest, AddWakesBlockedGet) {
  WorkQueue q("wake-add", &clock_, nullptr);
  std::string got;
  std::thread consumer([&] {
    std::string item;
    if (q.Get(&item)) {
      got = item;
      q.Done(item);
    }
  });
  ASSERT_TRUE(Eventually([&] { return clock_.Waiters() > 0; }));
  q.Add("foo");
  consumer.join();
  EXPECT_EQ(got, "foo");
}

TEST_F(WorkQueueTest, ShutDownWithDrainWaitsForDone) {
  WorkQueue q("drain", &clock_, nullptr);
  q.Add("foo");
  q.Add("bar");
  std::string first, second;
  ASSERT_TRUE(q.Get(&first));
  ASSERT_TRUE(q.Get(&second));
  absl::Notification drained;
  std::thread shutter([&] {
    q.ShutDownWithDrain();
    drained.Notify();
  });
  ASSERT_TRUE(Eventually([&] { return q.ShuttingDown(); }));
  q.Done(first);
  // Still one item being processed: a bounded real wait that must time out.
  EXPECT_FALSE(drained.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  q.Done(second);
  EXPECT_TRUE(drained.WaitForNotificationWithTimeout(absl::Seconds(10)));
  shutter.join();
  std::string item;
  EXPECT_FALSE(q.Get(&item));
}

TEST_F(WorkQueueTest, ShutDownWithDrainDoesNotBlockWhenNothingIsProcessing) {
  WorkQueue q("drain-empty", &clock_, nullptr);
  q.ShutDownWithDrain();  // returns at once
  EXPECT_TRUE(q.ShuttingDown());

  // Queued but never handed out: nothing to wait for either.
  WorkQueue q2("drain-queued", &clock_, nullptr);
  q2.Add("foo");
  q2.ShutDownWithDrain();
  std::string item;
  ASSERT_TRUE(q2.Get(&item));
  q2.Done(item);
  EXPECT_FALSE(q2.Get(&item));
}

TEST_F(WorkQueueTest, ShutDownDoesNotWaitForProcessing) {
  WorkQueue q("force", &clock_, nullptr);
  q.Add("foo");
  q.Add("bar");
  std::string a, b;
  ASSERT_TRUE(q.Get(&a));
  ASSERT_TRUE(q.Get(&b));
  q.ShutDown();  // returns although both are being processed
  EXPECT_TRUE(q.ShuttingDown());
  q.Done(a);
  q.Done(b);
}

TEST_F(WorkQueueTest, ShutDownReleasesDrain) {
  WorkQueue q("release", &clock_, nullptr);
  q.Add("foo");
  std::string item;
  ASSERT_TRUE(q.Get(&item));
  absl::Notification drained;
  std::thread shutter([&] {
    q.ShutDownWithDrain();
    drained.Notify();
  });
  ASSERT_TRUE(Eventually([&] { return q.ShuttingDown(); }));
  q.ShutDown();
  EXPECT_TRUE(drained.WaitForNotificationWithTimeout(absl::Seconds(10)));
  shutter.join();
  q.Done(item);
}

TEST_F(WorkQueueTest, ShutDownWithDrainWithDirtyItem) {
  WorkQueue q("drain-dirty", &clock_, nullptr);
  q.Add("foo");
  std::string gotten;
  ASSERT_TRUE(q.Get(&gotten));
  q.Add("foo");
  absl::Notification drained;
  std::thread shutter([&] {
    q.ShutDownWithDrain();
    drained.Notify();
  });
  ASSERT_TRUE(Eventually([&] { return q.ShuttingDown(); }));
  std::string item;
  EXPECT_FALSE(q.Get(&item));  // "foo" is dirty but still being processed
  q.Done(gotten);
  // Done() put the dirty item back: it is handed out although shutting down.
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "foo");
  q.Done(item);
  EXPECT_FALSE(q.Get(&item));
  EXPECT_TRUE(drained.WaitForNotificationWithTimeout(absl::Seconds(10)));
  shutter.join();
}

// --- delaying_queue_test.go ------------------------------------------------

TEST_F(WorkQueueTest, DelayingSimpleQueue) {
  WorkQueue q("delay-simple", &clock_, nullptr);
  q.AddAfter("foo", absl::Milliseconds(50));
  EXPECT_EQ(q.Len(), 0);
  clock_.Advance(absl::Milliseconds(49));
  EXPECT_EQ(q.Len(), 0);
  clock_.Advance(absl::Milliseconds(11));
  EXPECT_EQ(q.Len(), 1);
  std::string item;
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "foo");
  q.Done(item);
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(q.Len(), 0);
}

TEST_F(WorkQueueTest, DelayingDeduplicatingAdds) {
  WorkQueue q("delay-dedup", &clock_, nullptr);
  q.AddAfter("foo", absl::Milliseconds(50));
  q.AddAfter("foo", absl::Milliseconds(70));  // later: ignored
  EXPECT_EQ(q.Len(), 0);
  clock_.Advance(absl::Milliseconds(60));
  EXPECT_EQ(q.Len(), 1);
  std::string item;
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "foo");
  q.Done(item);
  // The 70 ms add collapsed into the 50 ms one.
  clock_.Advance(absl::Milliseconds(20));
  EXPECT_EQ(q.Len(), 0);

  // An earlier add moves the item forward.
  q.AddAfter("foo", absl::Milliseconds(50));
  q.AddAfter("foo", absl::Milliseconds(30));
  clock_.Advance(absl::Milliseconds(40));
  EXPECT_EQ(q.Len(), 1);
  ASSERT_TRUE(q.Get(&item));
  q.Done(item);
  clock_.Advance(absl::Milliseconds(20));
  EXPECT_EQ(q.Len(), 0);
}

TEST_F(WorkQueueTest, DelayingAddTwoFireEarly) {
  WorkQueue q("delay-two", &clock_, nullptr);
  q.AddAfter("foo", absl::Seconds(1));
  q.AddAfter("bar", absl::Milliseconds(50));
  EXPECT_EQ(q.Len(), 0);
  clock_.Advance(absl::Milliseconds(60));
  EXPECT_EQ(q.Len(), 1);
  std::string item;
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "bar");
  q.Done(item);
  q.AddAfter("foo", absl::Seconds(2));  // keeps its 1 s ready time
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(q.Len(), 1);
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "foo");
  q.Done(item);
}

TEST_F(WorkQueueTest, DelayingCopyShifting) {
  WorkQueue q("delay-shift", &clock_, nullptr);
  q.AddAfter("foo", absl::Seconds(1));
  q.AddAfter("bar", absl::Milliseconds(500));
  q.AddAfter("baz", absl::Milliseconds(250));
  EXPECT_EQ(q.Len(), 0);
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(q.Len(), 3);
  std::string item;
  for (const char* want : {"baz", "bar", "foo"}) {
    ASSERT_TRUE(q.Get(&item));
    EXPECT_EQ(item, want);
    q.Done(item);
  }
}

TEST_F(WorkQueueTest, DelayedItemAlreadyQueuedIsNotDuplicated) {
  WorkQueue q("delay-queued", &clock_, nullptr);
  q.Add("foo");
  q.AddAfter("foo", absl::Milliseconds(10));
  clock_.Advance(absl::Milliseconds(10));
  EXPECT_EQ(q.Len(), 1);
}

TEST_F(WorkQueueTest, NonPositiveDelayAddsAtOnce) {
  WorkQueue q("delay-zero", &clock_, nullptr);
  q.AddAfter("foo", absl::ZeroDuration());
  q.AddAfter("bar", -absl::Seconds(1));
  EXPECT_EQ(q.Len(), 2);
}

TEST_F(WorkQueueTest, GetWaitsForDelayedItemOnTheClock) {
  WorkQueue q("delay-get", &clock_, nullptr);
  q.AddAfter("foo", absl::Seconds(30));
  std::atomic<bool> got{false};
  std::thread consumer([&] {
    std::string item;
    if (q.Get(&item)) {
      got = true;
      q.Done(item);
    }
  });
  ASSERT_TRUE(Eventually([&] { return clock_.Waiters() > 0; }));
  clock_.Advance(absl::Seconds(29));
  // Bounded real wait: the consumer must not wake before the fake deadline.
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(got.load());
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return got.load(); }));
  consumer.join();
}

TEST_F(WorkQueueTest, EarlierAddAfterReplansBlockedGet) {
  WorkQueue q("delay-replan", &clock_, nullptr);
  q.AddAfter("late", absl::Hours(1));
  std::string got;
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    std::string item;
    if (q.Get(&item)) {
      got = item;
      q.Done(item);
    }
    done = true;
  });
  ASSERT_TRUE(Eventually([&] { return clock_.Waiters() > 0; }));
  q.AddAfter("soon", absl::Seconds(1));
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return done.load(); }));
  consumer.join();
  EXPECT_EQ(got, "soon");
}

TEST_F(WorkQueueTest, ShutDownDropsWaitingItems) {
  WorkQueue q("delay-shutdown", &clock_, nullptr);
  q.AddAfter("foo", absl::Seconds(1));
  q.ShutDown();
  q.AddAfter("bar", absl::Seconds(1));
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(q.Len(), 0);
  std::string item;
  EXPECT_FALSE(q.Get(&item));
}

// --- rate_limiting_queue_test.go -------------------------------------------

TEST_F(WorkQueueTest, RateLimitingQueue) {
  WorkQueue q("rate", &clock_,
              NewItemExponentialFailureRateLimiter(absl::Milliseconds(1), absl::Seconds(1)));
  q.AddRateLimited("one");
  clock_.Advance(absl::Microseconds(999));
  EXPECT_EQ(q.Len(), 0);
  clock_.Advance(absl::Microseconds(1));
  EXPECT_EQ(q.Len(), 1);
  q.AddRateLimited("one");  // 2 ms; "one" is already queued
  EXPECT_EQ(q.NumRequeues("one"), 2);

  q.AddRateLimited("two");
  q.AddRateLimited("two");
  EXPECT_EQ(q.NumRequeues("two"), 2);
  clock_.Advance(absl::Microseconds(999));
  EXPECT_EQ(q.Len(), 1);
  clock_.Advance(absl::Microseconds(1));  // "two" was first due after 1 ms
  EXPECT_EQ(q.Len(), 2);

  q.Forget("one");
  EXPECT_EQ(q.NumRequeues("one"), 0);
  EXPECT_EQ(q.NumRequeues("two"), 2);
}

TEST_F(WorkQueueTest, RateLimitingBacksOffAcrossRetries) {
  WorkQueue q("rate-backoff", &clock_,
              NewItemExponentialFailureRateLimiter(absl::Milliseconds(1), absl::Seconds(1)));
  std::string item;
  for (absl::Duration want : {absl::Milliseconds(1), absl::Milliseconds(2),
                              absl::Milliseconds(4), absl::Milliseconds(8)}) {
    q.AddRateLimited("one");
    clock_.Advance(want - absl::Nanoseconds(1));
    EXPECT_EQ(q.Len(), 0) << want;
    clock_.Advance(absl::Nanoseconds(1));
    EXPECT_EQ(q.Len(), 1) << want;
    ASSERT_TRUE(q.Get(&item));
    q.Done(item);
  }
  q.Forget("one");
  q.AddRateLimited("one");
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(q.Len(), 1);
}

TEST_F(WorkQueueTest, AddRateLimitedWithoutLimiterAddsAtOnce) {
  WorkQueue q("no-limiter", &clock_, nullptr);
  q.AddRateLimited("foo");
  EXPECT_EQ(q.Len(), 1);
  EXPECT_EQ(q.NumRequeues("foo"), 0);
  q.Forget("foo");
}

// --- metrics ----------------------------------------------------------------

class RecordingMetrics final : public WorkQueueMetrics {
 public:
  void SetDepth(int64_t depth) override { depth_ = depth; }
  void IncAdds() override { ++adds_; }
  void ObserveQueueDuration(absl::Duration d) override { queue_durations_.push_back(d); }
  void ObserveWorkDuration(absl::Duration d) override { work_durations_.push_back(d); }
  void IncRetries() override { ++retries_; }
  void SetUnfinishedWork(absl::Duration total) override { unfinished_ = total; }
  void SetLongestRunningProcessor(absl::Duration longest) override { longest_ = longest; }

  int64_t depth_ = -1;
  int adds_ = 0;
  int retries_ = 0;
  std::vector<absl::Duration> queue_durations_;
  std::vector<absl::Duration> work_durations_;
  absl::Duration unfinished_ = absl::InfiniteDuration();
  absl::Duration longest_ = absl::InfiniteDuration();
};

TEST_F(WorkQueueTest, MetricsHooks) {
  RecordingMetrics m;
  WorkQueue q("metrics", &clock_,
              NewItemExponentialFailureRateLimiter(absl::Milliseconds(1), absl::Seconds(1)), &m);
  q.Add("a");
  q.Add("a");  // collapsed: not an add
  q.Add("b");
  EXPECT_EQ(m.adds_, 2);
  EXPECT_EQ(m.depth_, 2);

  clock_.Advance(absl::Seconds(3));
  std::string a, b;
  ASSERT_TRUE(q.Get(&a));
  EXPECT_EQ(m.depth_, 1);
  ASSERT_EQ(m.queue_durations_.size(), 1u);
  EXPECT_EQ(m.queue_durations_[0], absl::Seconds(3));

  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(q.Get(&b));
  EXPECT_EQ(m.depth_, 0);
  clock_.Advance(absl::Seconds(5));
  q.UpdateUnfinishedWorkMetrics();
  EXPECT_EQ(m.unfinished_, absl::Seconds(7 + 5));
  EXPECT_EQ(m.longest_, absl::Seconds(7));

  q.Done(a);
  ASSERT_EQ(m.work_durations_.size(), 1u);
  EXPECT_EQ(m.work_durations_[0], absl::Seconds(7));
  q.UpdateUnfinishedWorkMetrics();
  EXPECT_EQ(m.unfinished_, absl::Seconds(5));
  EXPECT_EQ(m.longest_, absl::Seconds(5));
  q.Done(b);
  q.UpdateUnfinishedWorkMetrics();
  EXPECT_EQ(m.unfinished_, absl::ZeroDuration());
  EXPECT_EQ(m.longest_, absl::ZeroDuration());

  q.AddRateLimited("c");
  EXPECT_EQ(m.retries_, 1);
  EXPECT_EQ(m.adds_, 2);  // still waiting
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(q.Len(), 1);
  EXPECT_EQ(m.adds_, 3);
  EXPECT_EQ(m.depth_, 1);

  q.ShutDown();
  q.AddRateLimited("d");
  EXPECT_EQ(m.retries_, 1);  // ignored after shutdown
}

TEST_F(WorkQueueTest, NullMetricsAreAllowed) {
  WorkQueue q("no-metrics", &clock_, nullptr, nullptr);
  q.Add("a");
  std::string item;
  ASSERT_TRUE(q.Get(&item));
  q.UpdateUnfinishedWorkMetrics();
  q.Done(item);
}

}  // namespace
}  // namespace promconf::runtime
