#pragma once

// "second-opinion": promtool over the rule fragments accepted since its last
// run (validation.promtool), before the reload they would reach. promtool runs
// on a thread of its own, never on the worker, so no render waits for it;
// when it is done the key comes back and its verdicts are applied here: what
// promtool rejects is reverted and rendered again at once, and the reload goes
// ahead without it.
//
// A promtool that cannot run (missing binary, exec failure, no verdict) keeps
// its fragments pending and the key comes back after the backoff limiter's
// delay, growing with each failure, without waiting for the next change.
//
// Thread-safety: Reconcile() is called by one worker at a time (the
// Reconciler contract); Running() and LastRunStatus() from any thread.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "reconcile/output_reconciler.h"
#include "reconcile/render_reconciler.h"
#include "runtime/reconciler.h"
#include "runtime/workqueue.h"

namespace promconf {

class Metrics;

class SecondOpinionReconciler final : public runtime::Reconciler {
 public:
  // None of the pointers are owned; all must outlive the reconciler.
  // `backoff` spaces the runs after promtool could not run; null: 1 s
  // doubling up to 5 min.
  SecondOpinionReconciler(OutputReconciler* output, RenderReconciler* render,
                          runtime::WorkQueue* queue, Metrics* metrics, bool reload_enabled,
                          std::string promtool,
                          std::unique_ptr<runtime::RateLimiter> backoff = nullptr);
  ~SecondOpinionReconciler() override;

  SecondOpinionReconciler(const SecondOpinionReconciler&) = delete;
  SecondOpinionReconciler& operator=(const SecondOpinionReconciler&) = delete;

  runtime::ReconcileResult Reconcile(const std::string& key) override;

  // Waits for a promtool run in flight (App::Stop). Same caller as Reconcile
  // or after the workers stopped.
  void Join();
  // A promtool run is in flight: the key will come back.
  bool Running();
  // OK, or why promtool's last run could not give its verdicts.
  absl::Status LastRunStatus();

 private:
  runtime::ReconcileResult Start(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  OutputReconciler* const output_;
  RenderReconciler* const render_;
  runtime::WorkQueue* const queue_;
  Metrics* const metrics_;
  const bool reload_enabled_;
  const std::string promtool_;
  const std::unique_ptr<runtime::RateLimiter> backoff_;  // thread-safe on its own

  // Only touched by Reconcile (one worker at a time per key); read by the
  // promtool thread while running_.
  SecondOpinionBatch batch_;
  std::thread thread_;

  absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusOr<std::vector<std::string>> verdicts_ ABSL_GUARDED_BY(mu_);
  absl::Status last_run_ ABSL_GUARDED_BY(mu_);
};

}  // namespace promconf
