#pragma once

// The reconciler contract (controller-runtime's Reconcile(ctx, Request)
// (Result, error)): take a key, read the current cached state, make the world
// match it. Never trust the event that woke it: coalesced or missed events
// then cannot leave a wrong output.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace promconf::runtime {

struct ReconcileResult {
  absl::Status status;
  // Process the key again after this long even on success (e.g. a reload
  // that must wait for reload.min_interval).
  std::optional<absl::Duration> requeue_after;
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  // Called by one worker at a time per key. Must be idempotent.
  virtual ReconcileResult Reconcile(const std::string& key) = 0;
};

}  // namespace promconf::runtime
