#pragma once

// Exponential backoff with jitter in [d/2, d]: `initial` doubling up to
// `max`, back to `initial` after Reset() (a success). The caller supplies
// the randomness, so tests can pin it.

#include "absl/time/time.h"

namespace promconf {

class JitteredBackoff {
 public:
  JitteredBackoff(absl::Duration initial, absl::Duration max) : initial_(initial), max_(max) {}
  // The next delay; `unit` in [0,1) supplies the jitter.
  absl::Duration Next(double unit);
  void Reset() { current_ = absl::ZeroDuration(); }

 private:
  absl::Duration initial_, max_;
  absl::Duration current_ = absl::ZeroDuration();
};

}  // namespace promconf
