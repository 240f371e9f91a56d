#pragma once

// The one retry backoff of every source (client-go's
// ExponentialBackoffManager): `initial` doubling up to `max`, each delay
// stretched by up to `jitter` x itself so that clients do not retry in
// lockstep; back to `initial` after Reset() (a success) or when the previous
// delay was asked for more than `reset_after` ago (healthy that long).
// Thread-compatible.

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace promconf {

// Every source's retry knobs, one struct for all of them (each source's
// tuning holds one).
struct BackoffPolicy {
  absl::Duration initial = absl::Milliseconds(500);
  absl::Duration max = absl::Seconds(30);
  // Healthy this long (no delay asked for): back to `initial`.
  absl::Duration reset_after = absl::InfiniteDuration();
  double jitter = 0.2;  // each delay plus up to jitter x itself
};

class Backoff {
 public:
  Backoff(absl::Duration initial, absl::Duration max,
          absl::Duration reset_after = absl::InfiniteDuration(), double jitter = 0.2,
          uint64_t seed = 0);
  explicit Backoff(const BackoffPolicy& policy, uint64_t seed = 0)
      : Backoff(policy.initial, policy.max, policy.reset_after, policy.jitter, seed) {}
  // The delay before the next attempt; `now` by the caller's clock.
  absl::Duration Next(absl::Time now);
  void Reset() { current_ = initial_; }

 private:
  const absl::Duration initial_, max_, reset_after_;
  const double jitter_;
  absl::Duration current_;
  absl::Time last_ = absl::InfinitePast();
  std::mt19937_64 rng_;
};

}  // namespace promconf
