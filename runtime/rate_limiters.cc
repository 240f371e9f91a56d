// The rate limiters of client-go's util/workqueue/default_rate_limiters.go.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/workqueue.h"

namespace promconf::runtime {
namespace {

// Counts failures per item; the policy turns a count into a delay.
class PerItemFailureCounter {
 public:
  // Returns the number of failures before this one, and counts this one.
  int Record(const std::string& item) {
    absl::MutexLock lock(&mu_);
    return failures_[item]++;
  }
  void Forget(const std::string& item) {
    absl::MutexLock lock(&mu_);
    failures_.erase(item);
  }
  int Count(const std::string& item) {
    absl::MutexLock lock(&mu_);
    auto it = failures_.find(item);
    return it == failures_.end() ? 0 : it->second;
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> failures_ ABSL_GUARDED_BY(mu_);
};

class ItemExponentialFailureRateLimiter final : public RateLimiter {
 public:
  ItemExponentialFailureRateLimiter(absl::Duration base, absl::Duration max)
      : base_(base), max_(max) {}

  absl::Duration When(const std::string& item) override {
    const int exp = failures_.Record(item);
    // base * 2^exp: a shift past 62 overflows int64, and absl::Duration
    // multiplication saturates at infinity, so neither can wrap round.
    if (exp > 62) return max_;
    return std::min(base_ * (int64_t{1} << exp), max_);
  }
  void Forget(const std::string& item) override { failures_.Forget(item); }
  int NumRequeues(const std::string& item) override { return failures_.Count(item); }

 private:
  // Constant after construction.
  const absl::Duration base_;
  const absl::Duration max_;
  PerItemFailureCounter failures_;
};

class ItemFastSlowRateLimiter final : public RateLimiter {
 public:
  ItemFastSlowRateLimiter(absl::Duration fast, absl::Duration slow, int max_fast_attempts)
      : fast_(fast), slow_(slow), max_fast_attempts_(max_fast_attempts) {}

  absl::Duration When(const std::string& item) override {
    return failures_.Record(item) < max_fast_attempts_ ? fast_ : slow_;
  }
  void Forget(const std::string& item) override { failures_.Forget(item); }
  int NumRequeues(const std::string& item) override { return failures_.Count(item); }

 private:
  // Constant after construction.
  const absl::Duration fast_;
  const absl::Duration slow_;
  const int max_fast_attempts_;
  PerItemFailureCounter failures_;
};

class BucketRateLimiter final : public RateLimiter {
 public:
  BucketRateLimiter(double qps, int burst, Clock* clock)
      : qps_(qps), burst_(std::max(burst, 0)), clock_(clock), tokens_(burst_),
        last_(clock->Now()) {}

  absl::Duration When(const std::string&) override {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    if (now > last_) {
      if (qps_ > 0) {
        tokens_ = std::min<double>(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * qps_);
      }
      last_ = now;
    }
    tokens_ -= 1;
    if (tokens_ >= 0) return absl::ZeroDuration();
    if (qps_ <= 0) return absl::InfiniteDuration();
    return absl::Seconds(-tokens_ / qps_);
  }
  void Forget(const std::string&) override {}
  int NumRequeues(const std::string&) override { return 0; }

 private:
  // Constant after construction.
  const double qps_;
  const int burst_;
  Clock* const clock_;

  absl::Mutex mu_;
  // May go negative: tokens reserved by callers told to wait.
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
      : limiters_(std::move(limiters)) {}

  absl::Duration When(const std::string& item) override {
    absl::Duration longest = absl::ZeroDuration();
    // Every limiter must see the failure, so no short-circuit.
    for (const auto& limiter : limiters_) longest = std::max(longest, limiter->When(item));
    return longest;
  }
  void Forget(const std::string& item) override {
    for (const auto& limiter : limiters_) limiter->Forget(item);
  }
  int NumRequeues(const std::string& item) override {
    int most = 0;
    for (const auto& limiter : limiters_) most = std::max(most, limiter->NumRequeues(item));
    return most;
  }

 private:
  // Constant after construction; each limiter is thread-safe.
  const std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

}  // namespace

std::unique_ptr<RateLimiter> NewItemExponentialFailureRateLimiter(absl::Duration base,
                                                                  absl::Duration max) {
  return std::make_unique<ItemExponentialFailureRateLimiter>(base, max);
}

std::unique_ptr<RateLimiter> NewItemFastSlowRateLimiter(absl::Duration fast_delay,
                                                        absl::Duration slow_delay,
                                                        int max_fast_attempts) {
  return std::make_unique<ItemFastSlowRateLimiter>(fast_delay, slow_delay, max_fast_attempts);
}

std::unique_ptr<RateLimiter> NewBucketRateLimiter(double qps, int burst, Clock* clock) {
  return std::make_unique<BucketRateLimiter>(qps, burst, clock);
}

std::unique_ptr<RateLimiter> NewMaxOfRateLimiter(
    std::vector<std::unique_ptr<RateLimiter>> limiters) {
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

std::unique_ptr<RateLimiter> NewDefaultControllerRateLimiter(Clock* clock) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(
      NewItemExponentialFailureRateLimiter(absl::Milliseconds(5), absl::Seconds(1000)));
  limiters.push_back(NewBucketRateLimiter(10, 100, clock));
  return NewMaxOfRateLimiter(std::move(limiters));
}

}  // namespace promconf::runtime
