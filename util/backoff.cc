#include "util/backoff.h"

#include <algorithm>

namespace promconf {

Backoff::Backoff(absl::Duration initial, absl::Duration max, absl::Duration reset_after,
                 double jitter, uint64_t seed)
    : initial_(initial),
      max_(std::max(max, initial)),
      reset_after_(reset_after),
      jitter_(std::clamp(jitter, 0.0, 1.0)),
      current_(initial),
      rng_(seed != 0 ? seed : std::random_device{}()) {}

absl::Duration Backoff::Next(absl::Time now) {
  if (last_ != absl::InfinitePast() && now - last_ > reset_after_) current_ = initial_;
  last_ = now;
  const absl::Duration base = current_;
  current_ = std::min(current_ * 2, max_);
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  return base + base * (jitter_ * u);
}

}  // namespace promconf
