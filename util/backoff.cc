#include "util/backoff.h"

#include <algorithm>

namespace promconf {

absl::Duration JitteredBackoff::Next(double unit) {
  current_ = current_ == absl::ZeroDuration() ? initial_ : std::min(current_ * 2, max_);
  unit = std::clamp(unit, 0.0, 1.0);
  return current_ / 2 + (current_ / 2) * unit;
}

}  // namespace promconf
