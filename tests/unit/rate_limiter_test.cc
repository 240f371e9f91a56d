// Ports of client-go's util/workqueue default_rate_limiters_test.go, plus the
// token bucket on a FakeClock.

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/workqueue.h"
#include "tests/fakes/fake_clock.h"

namespace promconf::runtime {
namespace {

using absl::Milliseconds;
using absl::Seconds;

TEST(RateLimiterTest, ItemExponentialFailure) {
  auto limiter = NewItemExponentialFailureRateLimiter(Milliseconds(1), Seconds(1));
  EXPECT_EQ(limiter->When("one"), Milliseconds(1));
  EXPECT_EQ(limiter->When("one"), Milliseconds(2));
  EXPECT_EQ(limiter->When("one"), Milliseconds(4));
  EXPECT_EQ(limiter->When("one"), Milliseconds(8));
  EXPECT_EQ(limiter->When("one"), Milliseconds(16));
  EXPECT_EQ(limiter->NumRequeues("one"), 5);

  EXPECT_EQ(limiter->When("two"), Milliseconds(1));
  EXPECT_EQ(limiter->When("two"), Milliseconds(2));
  EXPECT_EQ(limiter->NumRequeues("two"), 2);

  limiter->Forget("one");
  EXPECT_EQ(limiter->NumRequeues("one"), 0);
  EXPECT_EQ(limiter->When("one"), Milliseconds(1));
}

TEST(RateLimiterTest, ItemExponentialFailureCapsAtMax) {
  auto limiter = NewItemExponentialFailureRateLimiter(Milliseconds(1), Seconds(1));
  for (int i = 0; i < 10; ++i) limiter->When("one");  // up to 512 ms
  EXPECT_EQ(limiter->When("one"), Seconds(1));  // 1024 ms capped
  EXPECT_EQ(limiter->When("one"), Seconds(1));
}

TEST(RateLimiterTest, ItemExponentialFailureOverflow) {
  auto limiter = NewItemExponentialFailureRateLimiter(Milliseconds(1), Seconds(1000));
  for (int i = 0; i < 5; ++i) limiter->When("one");
  EXPECT_EQ(limiter->When("one"), Milliseconds(32));
  for (int i = 0; i < 1000; ++i) limiter->When("overflow1");
  EXPECT_EQ(limiter->When("overflow1"), Seconds(1000));

  limiter = NewItemExponentialFailureRateLimiter(absl::Minutes(1), absl::Hours(1000));
  for (int i = 0; i < 2; ++i) limiter->When("two");
  EXPECT_EQ(limiter->When("two"), absl::Minutes(4));
  for (int i = 0; i < 1000; ++i) limiter->When("overflow2");
  EXPECT_EQ(limiter->When("overflow2"), absl::Hours(1000));

  // Past 2^62 the shift itself would overflow; the cap must still hold, also
  // when the cap is effectively unbounded.
  limiter = NewItemExponentialFailureRateLimiter(absl::Nanoseconds(1), absl::InfiniteDuration());
  for (int i = 0; i < 62; ++i) limiter->When("big");
  EXPECT_EQ(limiter->When("big"), absl::Nanoseconds(int64_t{1} << 62));
  EXPECT_EQ(limiter->When("big"), absl::InfiniteDuration());
  EXPECT_EQ(limiter->When("big"), absl::InfiniteDuration());
}

TEST(RateLimiterTest, ItemFastSlow) {
  auto limiter = NewItemFastSlowRateLimiter(Milliseconds(5), Seconds(10), 3);
  EXPECT_EQ(limiter->When("one"), Milliseconds(5));
  EXPECT_EQ(limiter->When("one"), Milliseconds(5));
  EXPECT_EQ(limiter->When("one"), Milliseconds(5));
  EXPECT_EQ(limiter->When("one"), Seconds(10));
  EXPECT_EQ(limiter->When("one"), Seconds(10));
  EXPECT_EQ(limiter->NumRequeues("one"), 5);

  EXPECT_EQ(limiter->When("two"), Milliseconds(5));
  EXPECT_EQ(limiter->When("two"), Milliseconds(5));
  EXPECT_EQ(limiter->NumRequeues("two"), 2);

  limiter->Forget("one");
  EXPECT_EQ(limiter->NumRequeues("one"), 0);
  EXPECT_EQ(limiter->When("one"), Milliseconds(5));
}

TEST(RateLimiterTest, MaxOf) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(NewItemFastSlowRateLimiter(Milliseconds(5), Seconds(3), 3));
  limiters.push_back(NewItemExponentialFailureRateLimiter(Milliseconds(1), Seconds(1)));
  auto limiter = NewMaxOfRateLimiter(std::move(limiters));

  EXPECT_EQ(limiter->When("one"), Milliseconds(5));
  EXPECT_EQ(limiter->When("one"), Milliseconds(5));
  EXPECT_EQ(limiter->When("one"), Milliseconds(5));
  EXPECT_EQ(limiter->When("one"), Seconds(3));
  EXPECT_EQ(limiter->When("one"), Seconds(3));
  EXPECT_EQ(limiter->NumRequeues("one"), 5);

  EXPECT_EQ(limiter->When("two"), Milliseconds(5));
  EXPECT_EQ(limiter->When("two"), Milliseconds(5));
  EXPECT_EQ(limiter->NumRequeues("two"), 2);

  limiter->Forget("one");
  EXPECT_EQ(limiter->NumRequeues("one"), 0);
  EXPECT_EQ(limiter->When("one"), Milliseconds(5));
}

TEST(RateLimiterTest, BucketBurstThenSpacing) {
  FakeClock clock;
  auto limiter = NewBucketRateLimiter(10, 3, &clock);
  // The bucket starts full: the burst goes through at once, for any items.
  EXPECT_EQ(limiter->When("a"), absl::ZeroDuration());
  EXPECT_EQ(limiter->When("b"), absl::ZeroDuration());
  EXPECT_EQ(limiter->When("c"), absl::ZeroDuration());
  // Then one token per 100 ms, each reservation queued behind the last.
  EXPECT_EQ(limiter->When("d"), Milliseconds(100));
  EXPECT_EQ(limiter->When("e"), Milliseconds(200));
  // 250 ms later the debt of two tokens is paid and half a token is back.
  clock.Advance(Milliseconds(250));
  EXPECT_EQ(limiter->When("f"), Milliseconds(50));
  // A long idle period refills to the burst, no further.
  clock.Advance(Seconds(60));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter->When("g"), absl::ZeroDuration()) << i;
  EXPECT_EQ(limiter->When("g"), Milliseconds(100));
  // The bucket tracks no items.
  EXPECT_EQ(limiter->NumRequeues("g"), 0);
  limiter->Forget("g");
}

TEST(RateLimiterTest, BucketWithoutRefillIsInfiniteOnceSpent) {
  FakeClock clock;
  auto limiter = NewBucketRateLimiter(0, 1, &clock);
  EXPECT_EQ(limiter->When("a"), absl::ZeroDuration());
  clock.Advance(absl::Hours(1));
  EXPECT_EQ(limiter->When("a"), absl::InfiniteDuration());
}

TEST(RateLimiterTest, DefaultControllerRateLimiter) {
  FakeClock clock;
  auto limiter = NewDefaultControllerRateLimiter(&clock);
  // Per item: 5 ms doubling; the shared bucket (burst 100) does not bite yet.
  EXPECT_EQ(limiter->When("one"), Milliseconds(5));
  EXPECT_EQ(limiter->When("one"), Milliseconds(10));
  EXPECT_EQ(limiter->When("one"), Milliseconds(20));
  EXPECT_EQ(limiter->NumRequeues("one"), 3);
  limiter->Forget("one");
  EXPECT_EQ(limiter->NumRequeues("one"), 0);
  // Spend the rest of the burst on distinct items (97 left after 3 above).
  for (int i = 0; i < 97; ++i) limiter->When(std::to_string(i));
  // The bucket now dominates a fresh item's 5 ms: 10 qps means 100 ms.
  EXPECT_EQ(limiter->When("fresh"), Milliseconds(100));
  // And the per-item backoff dominates once it passes the bucket's wait.
  for (int i = 0; i < 20; ++i) limiter->When("hot");
  EXPECT_EQ(limiter->When("hot"), Seconds(1000));
}

}  // namespace
}  // namespace promconf::runtime
