#pragma once

// A Clock that only moves when a test calls Advance(). Threads blocked in
// AwaitWithDeadline / WaitForNotification wake when the fake time passes their
// deadline, so queue and backoff tests never wait for real time to pass.
// Blocked threads re-check the fake time every millisecond of real time: a
// registry of waiting mutexes would need a lock order against the waiters'
// own mutexes and outlive them.

#include <atomic>

#include "util/clock.h"

namespace promconf {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000));

  absl::Time Now() const override;
  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         absl::Time deadline) override;
  bool WaitForNotification(absl::Notification* n, absl::Duration timeout) override;

  void Advance(absl::Duration d);
  void SetTime(absl::Time t);
  // Threads currently blocked on this clock: lets a test wait until a worker
  // is parked before advancing.
  int Waiters() const { return waiters_.load(); }

 private:
  std::atomic<int64_t> now_ns_;
  std::atomic<int> waiters_{0};
};

}  // namespace promconf
