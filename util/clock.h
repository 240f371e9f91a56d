#pragma once

// Time comes in through Clock so that queue, backoff and health tests drive a
// fake clock instead of sleeping (LevelDB's Env, client-go's injected clock).
// Implementations are thread-safe.

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace promconf {

class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() const = 0;

  // REQUIRES: *mu held. Blocks until `cond` holds or Now() >= deadline (by this
  // clock). Returns whether `cond` holds. `cond` must only read state guarded
  // by *mu (absl re-evaluates it when *mu is released).
  virtual bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                 absl::Time deadline) = 0;

  // Blocks until *n is notified or `timeout` passes (by this clock). Returns
  // whether *n was notified. This is how a thread sleeps: a stop signal always
  // cuts the sleep short.
  virtual bool WaitForNotification(absl::Notification* n, absl::Duration timeout) = 0;

  // The process-wide real clock. Never null, never deleted.
  static Clock* Real();
};

}  // namespace promconf
