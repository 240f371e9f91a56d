#pragma once

// Runs reconcilers over a WorkQueue (client-go's controller loop,
// controller-runtime's reconcileHandler):
//  - N workers Get() keys and call the Reconciler; the queue guarantees one
//    worker per key at a time;
//  - HandleReconcileResult() is the one place a result becomes a queue action;
//  - a ControllerObserver hears every outcome (the metrics layer's
//    promconf_reconcile_total{result} and promconf_reconcile_duration_seconds).
// Controller and ReconcilerMux are thread-safe.

#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/reconciler.h"
#include "runtime/workqueue.h"
#include "util/clock.h"

namespace promconf::runtime {

// What became of one reconcile.
enum class Outcome { kSuccess, kError, kRequeue };
// "success", "error", "requeue" (the metric label).
absl::string_view OutcomeName(Outcome outcome);

class ControllerObserver {
 public:
  virtual ~ControllerObserver() = default;
  // Called by a worker after each reconcile. Must be thread-safe.
  virtual void OnReconciled(Outcome outcome, absl::Duration took) = 0;
};

// Applies `result` of reconciling `key` to `queue` (absl status.h's retry
// guidance) and returns the outcome:
//  - OK: Forget, then AddAfter(requeue_after) if set -> success;
//  - kUnavailable, kDeadlineExceeded, kAborted, kResourceExhausted, kInternal,
//    kUnknown: AddRateLimited -> requeue;
//  - kCancelled: Forget if the queue is shutting down -> error, else
//    AddRateLimited -> requeue;
//  - every other code is terminal (the input must change first): log at warn
//    with key and status, Forget -> error.
// requeue_after is honoured only on success (controller-runtime ignores the
// Result when an error is returned). Call it before Done(key).
Outcome HandleReconcileResult(WorkQueue& queue, const std::string& key,
                                        const ReconcileResult& result);

// Routes a key to a Reconciler by exact key ("render", "reload") or, failing
// that, by the longest registered "prefix/" the key starts with
// ("event/" for "event/ns/name"). An unrouted key is a terminal kNotFound.
class ReconcilerMux final : public Reconciler {
 public:
  // `reconciler` must outlive the mux. A second registration of the same key
  // or prefix replaces the first.
  void Handle(absl::string_view key, Reconciler* reconciler);
  // `prefix` should end in '/'.
  void HandlePrefix(absl::string_view prefix, Reconciler* reconciler);

  ReconcileResult Reconcile(const std::string& key) override;

 private:
  Reconciler* Route(absl::string_view key);

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Reconciler*> exact_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Reconciler*> prefixes_ ABSL_GUARDED_BY(mu_);
};

class Controller {
 public:
  // None are owned; all must outlive the controller. `observer` may be null.
  Controller(std::string name, WorkQueue* queue, Reconciler* reconciler, Clock* clock,
             ControllerObserver* observer = nullptr);
  // Stops (and drains) if still running.
  ~Controller();

  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts `workers` threads (at least one). Once only; ignored after Stop().
  void Start(int workers);
  // Shuts the queue down, lets in-flight reconciles finish (ShutDownWithDrain)
  // and joins the workers. Safe to call twice and without Start().
  void Stop();

  // Takes one key, reconciles it and applies the result. Blocks while the
  // queue is empty; false once the queue is shut down and empty. For tests
  // that drive the controller from one thread, and the workers' loop.
  bool ProcessNextItem();

  const std::string& name() const { return name_; }

 private:
  void RunWorker();

  // Constant after construction.
  const std::string name_;
  WorkQueue* const queue_;
  Reconciler* const reconciler_;
  Clock* const clock_;
  ControllerObserver* const observer_;

  absl::Mutex mu_;
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace promconf::runtime
