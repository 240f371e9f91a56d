#include "tests/fakes/fake_clock.h"

#include "absl/time/clock.h"

namespace promconf {

constexpr absl::Duration kPoll = absl::Milliseconds(1);

FakeClock::FakeClock(absl::Time start) : now_ns_(absl::ToUnixNanos(start)) {}

absl::Time FakeClock::Now() const { return absl::FromUnixNanos(now_ns_.load()); }

bool FakeClock::AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                  absl::Time deadline) {
  waiters_.fetch_add(1);
  while (Now() < deadline) {
    if (mu->AwaitWithTimeout(cond, kPoll)) break;
  }
  waiters_.fetch_sub(1);
  return cond.Eval();
}

bool FakeClock::WaitForNotification(absl::Notification* n, absl::Duration timeout) {
  const absl::Time deadline = Now() + timeout;
  waiters_.fetch_add(1);
  while (Now() < deadline) {
    if (n->WaitForNotificationWithTimeout(kPoll)) break;
  }
  waiters_.fetch_sub(1);
  return n->HasBeenNotified();
}

void FakeClock::Advance(absl::Duration d) { now_ns_.fetch_add(absl::ToInt64Nanoseconds(d)); }

void FakeClock::SetTime(absl::Time t) { now_ns_.store(absl::ToUnixNanos(t)); }

}  // namespace promconf
