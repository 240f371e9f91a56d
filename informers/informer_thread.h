#pragma once

// The one informer runtime every Source runs on: the lifecycle that the five
// backends used to write five ways. A backend implements only its loop(s);
// the runtime owns the threads and
//  - starts them once (a second Start is FailedPrecondition),
//  - stops them: Stop() is idempotent, wakes every wait at once (sleeps,
//    backoffs, Await on the backend's wake mutex) and runs the backend's
//    cancel hook (abort the request in flight); Join() waits for the loops,
//  - measures every wait by the source's Clock (SourceContext::clock), so
//    tests drive a FakeClock instead of sleeping,
//  - gives each loop one Backoff (util/backoff.h),
//  - serialises the callbacks: no two SourceCallbacks calls of one source
//    overlap, whichever of its loops makes them; none starts once Stop() has
//    returned; and none is made under a lock of the backend (the runtime's
//    own delivery lock is the only one held).
//
// A loop is a function run on its own thread with an InformerContext:
//
//   runtime_.Start(callbacks, {[this](InformerContext& ctx) {
//     while (!ctx.stopping()) {
//       absl::Status s = ListAndWatch(ctx);   // delivers through ctx.callbacks()
//       if (s.ok()) { ctx.ResetBackoff(); continue; }
//       ctx.callbacks().OnError(s);
//       if (!ctx.BackOff()) return;           // Stop() cut the wait short
//     }
//   }});
//
// Thread-safety: Start/Stop/Join from the owner's threads (Stop also from
// any other); InformerContext belongs to its loop's thread, except
// callbacks()/Deliver(), which any thread of the source may use. Never call
// Stop() or Join() from a loop or from inside a callback.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "informers/source.h"
#include "util/backoff.h"
#include "util/clock.h"

namespace promconf {

class InformerThread;

// What one loop sees of the runtime.
class InformerContext {
 public:
  InformerContext(const InformerContext&) = delete;
  InformerContext& operator=(const InformerContext&) = delete;

  // Stop() was called: finish up and return from the loop.
  bool stopping() const;
  Clock* clock() const;
  // Notified by Stop(): for helpers that wait on their own (a Reflector).
  absl::Notification* stop_notification() const;

  // Sleeps `d` by the source's clock. False when Stop() cut it short.
  bool Sleep(absl::Duration d);
  // Sleeps the next backoff delay (at least `at_least`: Retry-After, ...).
  // False when Stop() cut it short.
  bool BackOff(absl::Duration at_least = absl::ZeroDuration());
  // The next backoff delay without sleeping it (for loops that wait on
  // something else meanwhile).
  absl::Duration NextBackoff();
  // A success: the next failure waits `initial` again.
  void ResetBackoff() { backoff_.Reset(); }

  // REQUIRES: *mu held, and mu is the wake mutex the runtime was built with.
  // Blocks until `cond` holds, `timeout` passes (by the source's clock) or
  // Stop() is called. Returns whether `cond` holds.
  bool Await(absl::Mutex* mu, const absl::Condition& cond, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Runs `f` unless stopping, atomically with respect to Stop()'s cancel
  // hook: an HttpClient::Reset() done here can never undo Stop()'s Cancel().
  // Returns false (without running `f`) when stopping.
  bool RunUnlessStopping(absl::FunctionRef<void()> f);

  // The source's callbacks, each call serialised with every other of the
  // source and dropped once Stop() has begun. Not re-entrant: never call it
  // from inside Deliver().
  SourceCallbacks& callbacks();
  // Runs `f` with the raw callbacks under the delivery lock: several calls
  // (and the bookkeeping that decides them) as one step that no other loop's
  // callback can interleave with. `f` is not run once Stop() has begun.
  void Deliver(absl::FunctionRef<void(SourceCallbacks&)> f);

 private:
  friend class InformerThread;
  InformerContext(InformerThread* runtime, uint64_t seed);

  InformerThread* const runtime_;
  Backoff backoff_;
};

class InformerThread {
 public:
  using Loop = std::function<void(InformerContext&)>;

  // `source` names the source in errors. `clock` must outlive the runtime.
  // `wake_mu` (optional) is the backend's mutex its loops Await on: Stop()
  // takes it once so that those waits see the stop at once. `on_stop`
  // (optional) aborts blocking I/O (HttpClient::Cancel); it runs once, on
  // Stop()'s thread, never concurrently with a RunUnlessStopping().
  InformerThread(std::string source, Clock* clock, BackoffPolicy backoff = {},
                 absl::Mutex* wake_mu = nullptr, std::function<void()> on_stop = nullptr);
  ~InformerThread();  // Stop() and Join()

  InformerThread(const InformerThread&) = delete;
  InformerThread& operator=(const InformerThread&) = delete;

  // Runs each loop on a thread of its own. `seed` seeds the loops' backoff
  // jitter (0: random). FailedPrecondition when called twice or after Stop.
  absl::Status Start(SourceCallbacks* callbacks, std::vector<Loop> loops, uint64_t seed = 0);
  // Idempotent, never blocks on a loop (only on a callback in progress):
  // once it returns no callback starts.
  void Stop();
  // Waits for every loop to return. Idempotent.
  void Join();
  // Stop() then Join(): what Source::Stop() does.
  void StopAndJoin() {
    Stop();
    Join();
  }

  // InformerContext::Deliver, for helpers that report from a loop's thread
  // without its context (the Kubernetes reflectors' sink).
  void Deliver(absl::FunctionRef<void(SourceCallbacks&)> f);
  // Notified by Stop(): for helpers built before Start that wait on their
  // own (the Kubernetes reflectors).
  absl::Notification* stop_notification() { return &stop_; }

 private:
  friend class InformerContext;
  class SerialCallbacks;

  // Constant after construction.
  const std::string source_;
  Clock* const clock_;
  const BackoffPolicy backoff_;
  absl::Mutex* const wake_mu_;
  const std::function<void()> on_stop_;

  absl::Notification stop_;

  // Lifecycle. Lock order: lifecycle_mu_ before state_mu_; delivery_mu_ alone.
  absl::Mutex lifecycle_mu_;
  bool started_ ABSL_GUARDED_BY(lifecycle_mu_) = false;
  std::vector<std::unique_ptr<InformerContext>> contexts_ ABSL_GUARDED_BY(lifecycle_mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(lifecycle_mu_);

  // Serialises Stop()'s cancel hook with RunUnlessStopping().
  absl::Mutex state_mu_;
  bool stopping_ ABSL_GUARDED_BY(state_mu_) = false;

  // Serialises the callbacks.
  absl::Mutex delivery_mu_;
  SourceCallbacks* callbacks_ ABSL_GUARDED_BY(delivery_mu_) = nullptr;
  bool closed_ ABSL_GUARDED_BY(delivery_mu_) = false;
  std::unique_ptr<SourceCallbacks> serial_;  // set in Start, before any loop runs
};

}  // namespace promconf
