#pragma once

// Asks Prometheus to load the outputs just written (SPEC `reload:`), by one
// of: POST to reload.url (Prometheus' /-/reload, --web.enable-lifecycle), a
// signal to the process named by a pid file, or a command (fork/exec, no
// shell). At most one is configured; none means reloading is off.
//
// As a Reconciler for the key "reload" it enforces reload.min_interval: a
// reload requested less than min_interval after the previous attempt returns
// OK with requeue_after = the rest of the interval, so the work queue's dedup
// folds every change in between into one reload. A failed reload (transport
// error, timeout, non-2xx — Prometheus answers 500 "failed to reload config:
// ..." — a dead pid, a command exiting non-zero) is logged, counted in
// promconf_reloads_failed_total and returned as kUnavailable, so the
// controller retries it. The queue's own backoff would be reset by the OK of
// the next deferral, so the reloader backs off itself: after n consecutive
// failures the interval is max(min_interval, 1s * 2^(n-1)), capped at 2m
// (a Prometheus that keeps failing is not asked every min_interval forever).
//
// Thread-safe; reloads are serialised.

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "metrics/metrics.h"
#include "runtime/reconciler.h"
#include "util/clock.h"
#include "util/http_client.h"

namespace promconf {

struct ReloaderOptions {
  std::string url;                   // e.g. http://127.0.0.1:9090/-/reload
  std::string signal;                // "SIGHUP", "HUP" or a number
  std::string pid_file;              // whom to signal
  std::vector<std::string> command;  // argv; argv[0] is looked up in PATH
  absl::Duration min_interval = absl::Seconds(2);
  absl::Duration timeout = absl::Seconds(30);
  TlsOptions tls;  // for an https url
};

// "SIGHUP", "HUP", "sighup", "1" -> SIGHUP; InvalidArgument otherwise.
absl::StatusOr<int> ParseSignal(const std::string& name);

class Reloader final : public runtime::Reconciler {
 public:
  static constexpr char kKey[] = "reload";

  // Validates the options (at most one method; a signal needs a pid file; a
  // url must be http(s); timeout > 0, min_interval >= 0). `clock` must
  // outlive the reloader; `metrics` may be null.
  static absl::StatusOr<std::unique_ptr<Reloader>> Create(ReloaderOptions options, Clock* clock,
                                                          Metrics* metrics);

  // Whether a reload method is configured (Reconcile is a no-op otherwise).
  bool enabled() const;

  // Key "reload" only (anything else is a terminal kInvalidArgument).
  runtime::ReconcileResult Reconcile(const std::string& key) override;

  // Reloads now, ignoring min_interval (--once). OK when reloading is off.
  absl::Status ReloadOnce();

 private:
  Reloader(ReloaderOptions options, Clock* clock, Metrics* metrics);

  absl::Status ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // min_interval, stretched after consecutive failures.
  absl::Duration IntervalLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReloadViaUrl() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReloadViaSignal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReloadViaCommand() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const ReloaderOptions options_;
  Clock* const clock_;
  Metrics* const metrics_;
  int signal_ = 0;

  absl::Mutex mu_;
  HttpClient http_ ABSL_GUARDED_BY(mu_);
  absl::Time last_attempt_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace promconf
