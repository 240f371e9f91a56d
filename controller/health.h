#pragma once

// What /healthz and /readyz report (SPEC "HTTP endpoints"). Thread-safe.
//  - healthy: every source made progress (an event, a bookmark, a successful
//    re-list) within its progress deadline, counted from start;
//  - ready: every source synced once (each of its sync prefixes) and the
//    first render was written.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "metrics/http_server.h"  // HealthReport: what the endpoints answer
#include "util/clock.h"

namespace promconf {

class HealthTracker {
 public:
  explicit HealthTracker(Clock* clock);

  void AddSource(const std::string& name, absl::Duration progress_deadline,
                 std::vector<std::string> sync_prefixes);
  void Progress(absl::string_view source);
  void Error(absl::string_view source, const absl::Status& status);
  // A snapshot for `prefix` arrived; also counts as progress.
  void Synced(absl::string_view source, absl::string_view prefix);
  void MarkRendered();

  HealthReport Healthz() const;
  HealthReport Readyz() const;
  bool AllSynced() const;
  // Blocks until every source synced, or timeout. For --once.
  bool WaitAllSynced(absl::Duration timeout) const;
  // Sources not synced yet, with their last error, for --once's message.
  std::string NotSyncedReport() const;

 private:
  struct SourceState {
    absl::Duration deadline;
    absl::Time last_progress;
    std::set<std::string> pending_prefixes;
    std::string last_error;
  };
  bool AllSyncedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock* const clock_;  // Constant after construction.
  mutable absl::Mutex mu_;
  std::map<std::string, SourceState, std::less<>> sources_ ABSL_GUARDED_BY(mu_);
  bool rendered_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace promconf
