#include "tests/fakes/fake_clock.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace promconf {
namespace {

template <typename F>
bool Eventually(F cond) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return cond();
}

TEST(FakeClockTest, OnlyMovesWhenTold) {
  const absl::Time start = absl::FromUnixSeconds(1'700'000'000);
  FakeClock clock(start);
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(clock.Now(), start + absl::Seconds(5));
  clock.SetTime(start);
  EXPECT_EQ(clock.Now(), start);
}

TEST(FakeClockTest, AwaitWithDeadlineWakesOnAdvance) {
  FakeClock clock;
  absl::Mutex mu;
  bool flag = false;
  std::atomic<int> result{-1};
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    const bool got =
        clock.AwaitWithDeadline(&mu, absl::Condition(&flag), clock.Now() + absl::Seconds(10));
    result = got ? 1 : 0;
  });
  ASSERT_TRUE(Eventually([&] { return clock.Waiters() == 1; }));
  clock.Advance(absl::Seconds(9));
  absl::SleepFor(absl::Milliseconds(20));  // bounded: must still be waiting
  EXPECT_EQ(result.load(), -1);
  clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return result.load() != -1; }));
  waiter.join();
  EXPECT_EQ(result.load(), 0);  // the deadline passed, the condition is false
  EXPECT_EQ(clock.Waiters(), 0);
}

TEST(FakeClockTest, AwaitWithDeadlineWakesOnCondition) {
  FakeClock clock;
  absl::Mutex mu;
  bool flag = false;
  std::atomic<int> result{-1};
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(&mu, absl::Condition(&flag), absl::InfiniteFuture()) ? 1 : 0;
  });
  ASSERT_TRUE(Eventually([&] { return clock.Waiters() == 1; }));
  {
    absl::MutexLock lock(&mu);
    flag = true;
  }
  ASSERT_TRUE(Eventually([&] { return result.load() != -1; }));
  waiter.join();
  EXPECT_EQ(result.load(), 1);
}

TEST(FakeClockTest, AwaitWithPastDeadlineReturnsAtOnce) {
  FakeClock clock;
  absl::Mutex mu;
  bool flag = false;
  absl::MutexLock lock(&mu);
  EXPECT_FALSE(clock.AwaitWithDeadline(&mu, absl::Condition(&flag), clock.Now()));
  flag = true;
  EXPECT_TRUE(clock.AwaitWithDeadline(&mu, absl::Condition(&flag), clock.Now()));
}

TEST(FakeClockTest, WaitForNotificationWakesOnAdvanceOrNotify) {
  FakeClock clock;
  absl::Notification never;
  std::atomic<int> timed_out{-1};
  std::thread sleeper([&] {
    timed_out = clock.WaitForNotification(&never, absl::Minutes(1)) ? 0 : 1;
  });
  ASSERT_TRUE(Eventually([&] { return clock.Waiters() == 1; }));
  clock.Advance(absl::Minutes(1));
  ASSERT_TRUE(Eventually([&] { return timed_out.load() != -1; }));
  sleeper.join();
  EXPECT_EQ(timed_out.load(), 1);

  absl::Notification stop;
  std::atomic<int> notified{-1};
  std::thread stopper([&] { notified = clock.WaitForNotification(&stop, absl::Hours(1)) ? 1 : 0; });
  ASSERT_TRUE(Eventually([&] { return clock.Waiters() == 1; }));
  stop.Notify();
  ASSERT_TRUE(Eventually([&] { return notified.load() != -1; }));
  stopper.join();
  EXPECT_EQ(notified.load(), 1);
}

}  // namespace
}  // namespace promconf
