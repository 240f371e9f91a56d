#include "informers/informer_thread.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "util/backoff.h"

namespace promconf {
namespace {

// Counts callbacks and fails on two that overlap.
class OverlapCallbacks : public SourceCallbacks {
 public:
  void OnSnapshot(absl::string_view, std::vector<Document>) override { Enter(); }
  void OnUpsert(Document) override { Enter(); }
  void OnDelete(absl::string_view) override { Enter(); }
  void OnProgress() override { Enter(); }
  void OnError(const absl::Status&) override { Enter(); }

  int calls() const { return calls_.load(); }
  int overlaps() const { return overlaps_.load(); }

 private:
  void Enter() {
    if (in_flight_.fetch_add(1) != 0) overlaps_.fetch_add(1);
    // Long enough for another thread to run into it if nothing serialises.
    absl::SleepFor(absl::Microseconds(50));
    calls_.fetch_add(1);
    in_flight_.fetch_sub(1);
  }
  std::atomic<int> in_flight_{0}, calls_{0}, overlaps_{0};
};

TEST(InformerThread, StartTwiceIsAnError) {
  FakeClock clock;
  OverlapCallbacks cb;
  InformerThread runtime("t", &clock);
  ASSERT_TRUE(runtime.Start(&cb, {[](InformerContext&) {}}).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(runtime.Start(&cb, {})));
  runtime.StopAndJoin();
  runtime.StopAndJoin();  // idempotent
}

TEST(InformerThread, StartAfterStopIsAnError) {
  OverlapCallbacks cb;
  InformerThread runtime("t", Clock::Real());
  runtime.Stop();
  EXPECT_TRUE(absl::IsFailedPrecondition(runtime.Start(&cb, {})));
}

TEST(InformerThread, StopWakesSleepsAndBackoffsAtOnce) {
  FakeClock clock;  // never advanced: only Stop can end the waits
  OverlapCallbacks cb;
  std::atomic<int> returned{0};
  InformerThread runtime("t", &clock, {absl::Hours(1), absl::Hours(2)});
  ASSERT_TRUE(runtime
                  .Start(&cb, {[&](InformerContext& ctx) {
                                 EXPECT_FALSE(ctx.Sleep(absl::Hours(10)));
                                 returned.fetch_add(1);
                               },
                               [&](InformerContext& ctx) {
                                 EXPECT_FALSE(ctx.BackOff());
                                 EXPECT_TRUE(ctx.stopping());
                                 returned.fetch_add(1);
                               }})
                  .ok());
  while (clock.Waiters() < 2) absl::SleepFor(absl::Milliseconds(1));
  const absl::Time start = absl::Now();
  runtime.StopAndJoin();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(returned.load(), 2);
}

TEST(InformerThread, BackoffWaitsByTheInjectedClock) {
  FakeClock clock;
  OverlapCallbacks cb;
  std::atomic<bool> done{false};
  InformerThread runtime("t", &clock, {absl::Seconds(10), absl::Seconds(10), absl::InfiniteDuration(), 0});
  ASSERT_TRUE(runtime
                  .Start(&cb, {[&](InformerContext& ctx) {
                           EXPECT_TRUE(ctx.BackOff());
                           done = true;
                         }})
                  .ok());
  while (clock.Waiters() < 1) absl::SleepFor(absl::Milliseconds(1));
  clock.Advance(absl::Seconds(9));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(done.load()) << "returned before the fake clock passed the backoff";
  clock.Advance(absl::Seconds(2));
  for (int i = 0; i < 2000 && !done.load(); ++i) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_TRUE(done.load());
  runtime.StopAndJoin();
}

TEST(InformerThread, AwaitOnTheWakeMutexEndsAtStop) {
  FakeClock clock;
  OverlapCallbacks cb;
  absl::Mutex mu;
  bool never = false;
  InformerThread runtime("t", Clock::Real(), {}, &mu);
  std::atomic<bool> woke{false};
  ASSERT_TRUE(runtime
                  .Start(&cb, {[&](InformerContext& ctx) {
                           absl::MutexLock lock(&mu);
                           EXPECT_FALSE(ctx.Await(&mu, absl::Condition(&never), absl::Hours(1)));
                           woke = true;
                         }})
                  .ok());
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Time start = absl::Now();
  runtime.StopAndJoin();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(woke.load());
}

TEST(InformerThread, CallbacksOfAllLoopsNeverOverlap) {
  OverlapCallbacks cb;
  InformerThread runtime("t", Clock::Real());
  std::vector<InformerThread::Loop> loops;
  for (int l = 0; l < 4; ++l) {
    loops.push_back([](InformerContext& ctx) {
      for (int i = 0; i < 200; ++i) {
        if (i % 2 == 0) {
          ctx.callbacks().OnProgress();
        } else {
          ctx.Deliver([](SourceCallbacks& c) {
            c.OnUpsert(Document{});
            c.OnDelete("x");
          });
        }
      }
    });
  }
  ASSERT_TRUE(runtime.Start(&cb, std::move(loops)).ok());
  runtime.Join();
  EXPECT_EQ(cb.overlaps(), 0);
  EXPECT_EQ(cb.calls(), 4 * (100 + 200));
  runtime.Stop();
}

TEST(InformerThread, NoCallbackOnceStopReturnedAndCancelHookRunsOnce) {
  OverlapCallbacks cb;
  std::atomic<int> cancels{0};
  std::atomic<bool> stopped{false};
  std::atomic<int> late{0};
  InformerThread runtime("t", Clock::Real(), {}, nullptr, [&] { cancels.fetch_add(1); });
  ASSERT_TRUE(runtime
                  .Start(&cb, {[&](InformerContext& ctx) {
                           // Keeps calling after Stop() began, as a slow loop would.
                           for (int i = 0; i < 100000; ++i) {
                             const bool after = stopped.load();
                             const int before = cb.calls();
                             ctx.callbacks().OnProgress();
                             if (after && cb.calls() != before) late.fetch_add(1);
                             if (after && !ctx.RunUnlessStopping([] {})) break;
                           }
                         }})
                  .ok());
  absl::SleepFor(absl::Milliseconds(20));
  runtime.Stop();
  stopped = true;
  runtime.Join();
  runtime.Stop();
  EXPECT_EQ(late.load(), 0) << "a callback ran after Stop() returned";
  EXPECT_EQ(cancels.load(), 1);
}

// The delays stay within [base, base x (1 + jitter)] while base doubles to
// the cap; a success or a long healthy spell starts over.
TEST(Backoff, JitterStaysWithinItsBandAndResetsStartOver) {
  const BackoffPolicy policy{.initial = absl::Milliseconds(500),
                             .max = absl::Seconds(4),
                             .reset_after = absl::Minutes(2),
                             .jitter = 0.5};
  Backoff b(policy, 7);
  absl::Time t = absl::FromUnixSeconds(1000);
  const int64_t bases_ms[] = {500, 1000, 2000, 4000, 4000};
  for (int64_t ms : bases_ms) {
    const absl::Duration d = b.Next(t);
    EXPECT_GE(d, absl::Milliseconds(ms));
    EXPECT_LE(d, absl::Milliseconds(ms * 3 / 2));
  }
  b.Reset();
  EXPECT_LE(b.Next(t), absl::Milliseconds(750)) << "Reset() after a success";
  EXPECT_GE(b.Next(t), absl::Seconds(1));
  EXPECT_LE(b.Next(t + absl::Minutes(3)), absl::Milliseconds(750)) << "healthy past reset_after";
}

TEST(Backoff, WithoutResetAfterOnlyResetRestarts) {
  Backoff b(absl::Seconds(1), absl::Seconds(8), absl::InfiniteDuration(), 0, 1);
  absl::Time t = absl::FromUnixSeconds(1);
  EXPECT_EQ(b.Next(t), absl::Seconds(1));
  t += absl::Hours(100);
  EXPECT_EQ(b.Next(t), absl::Seconds(2));
  EXPECT_EQ(b.Next(t), absl::Seconds(4));
  EXPECT_EQ(b.Next(t), absl::Seconds(8));
  EXPECT_EQ(b.Next(t), absl::Seconds(8));
}

}  // namespace
}  // namespace promconf
