#pragma once

// The etcd v3 source (SPEC sources[].etcd) over etcd's JSON gateway.
//
// One informer thread: authenticate (if configured) -> list the prefix in
// pages pinned to the first page's revision -> OnSnapshot("") -> one watch
// stream from that revision + 1 -> apply events. A dropped stream resumes from
// the last applied revision + 1, so nothing written meanwhile is lost (confd
// issue 671 re-watched from "now" and lost it). Compacted history, or a server
// that comes back at a lower revision than we saw (restored backup, wiped data
// dir), re-lists. Errors back off with jitter and rotate endpoints; the source
// never gives up.
//
// Stall detection: the watch asks for progress notifications
// (progress_notify), which etcd sends to an idle synced watcher every
// --experimental-watch-progress-notify-interval (10 min by default). A stream
// silent for longer than `idle_timeout` is treated as stalled: OnError and a
// reconnect from the last revision + 1. Keep idle_timeout above the server's
// progress interval, or every quiet stream is reported as stalled.
//
// Thread-safe: Start/Stop from one owner thread; the *ForTesting hooks from
// any thread.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "informers/source.h"
#include "informers/source_config.h"
#include "util/backoff.h"

namespace promconf::etcd {

struct EtcdSourceTuning {
  // A watch stream silent for this long is stalled. Above etcd's default
  // 10 min progress interval.
  absl::Duration idle_timeout = absl::Minutes(11);
  BackoffPolicy backoff = {.initial = absl::Milliseconds(500), .max = absl::Seconds(30)};
  // Keys per range page.
  int64_t page_size = 500;
  // Deadline of each unary request (range, authenticate).
  absl::Duration request_timeout = absl::Seconds(30);
  absl::Duration connect_timeout = absl::Seconds(5);
};

absl::StatusOr<std::unique_ptr<Source>> NewEtcdSource(const SourceContext& context,
                                                      const EtcdSourceConfig& config,
                                                      EtcdSourceTuning tuning = {});

// Test hooks on the concrete source (NewEtcdSource's result is one).
class EtcdSourceTestHooks {
 public:
  virtual ~EtcdSourceTestHooks() = default;
  // Cuts the watch connection and keeps the source from reconnecting until
  // ResumeWatchForTesting(). Returns once the connection is down (bounded
  // wait: false if the informer did not get there within `timeout`).
  virtual bool PauseWatchForTesting(absl::Duration timeout) = 0;
  virtual void ResumeWatchForTesting() = 0;
  // The revision every change up to which has been applied.
  virtual int64_t AppliedRevisionForTesting() const = 0;
};

}  // namespace promconf::etcd
