#include "util/clock.h"

#include "absl/time/clock.h"

namespace promconf {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         absl::Time deadline) override {
    return mu->AwaitWithDeadline(cond, deadline);
  }
  bool WaitForNotification(absl::Notification* n, absl::Duration timeout) override {
    return n->WaitForNotificationWithTimeout(timeout);
  }
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* clock = new RealClock;
  return clock;
}

}  // namespace promconf
