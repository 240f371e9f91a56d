#pragma once

// A work queue with client-go's semantics (k8s.io/client-go/util/workqueue):
//  - an item is queued at most once (the dirty set) and never processed by
//    two workers at once (the processing set); an item added while it is
//    being processed is queued again when Done() is called;
//  - AddAfter() delays an item; AddRateLimited() delays it by the rate
//    limiter's When(); Forget() resets the limiter's memory of it;
//  - ShutDown() makes Get() return false once the queue is empty and ignores
//    later adds; ShutDownWithDrain() also waits for items being processed.
// Time comes from the injected Clock: tests drive it with FakeClock, nothing
// sleeps. Thread-safe.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "util/clock.h"

namespace promconf::runtime {

// --- Rate limiters (client-go util/workqueue/default_rate_limiters.go) ------
// Every limiter is thread-safe.

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // How long to wait before `item` may be processed again.
  virtual absl::Duration When(const std::string& item) = 0;
  // Stop tracking `item` (it succeeded).
  virtual void Forget(const std::string& item) = 0;
  // How many times `item` has been requeued.
  virtual int NumRequeues(const std::string& item) = 0;
};

// base * 2^failures, capped at max.
std::unique_ptr<RateLimiter> NewItemExponentialFailureRateLimiter(absl::Duration base,
                                                                  absl::Duration max);
// fast_delay for the first max_fast_attempts failures, then slow_delay.
std::unique_ptr<RateLimiter> NewItemFastSlowRateLimiter(absl::Duration fast_delay,
                                                        absl::Duration slow_delay,
                                                        int max_fast_attempts);
// A token bucket shared by all items (golang.org/x/time/rate semantics): it
// starts full; When() takes a token (possibly going into debt) and returns
// how long until that token exists. Forget/NumRequeues track nothing. A qps
// <= 0 never refills: once the burst is spent When() is infinite.
std::unique_ptr<RateLimiter> NewBucketRateLimiter(double qps, int burst, Clock* clock);
// The longest delay of all limiters.
std::unique_ptr<RateLimiter> NewMaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);
// client-go's DefaultControllerRateLimiter: max(exponential 5 ms..1000 s,
// bucket 10 qps / burst 100).
std::unique_ptr<RateLimiter> NewDefaultControllerRateLimiter(Clock* clock);

// --- Metrics (the workqueue_* families; metrics/ implements them) ----------

// Called with the queue's lock held: implementations must be quick and must
// not call back into the queue. UpdateUnfinishedWorkMetrics() calls its two
// setters after releasing the lock.
class WorkQueueMetrics {
 public:
  virtual ~WorkQueueMetrics() = default;
  virtual void SetDepth(int64_t depth) = 0;
  virtual void IncAdds() = 0;
  virtual void ObserveQueueDuration(absl::Duration d) = 0;  // add -> Get
  virtual void ObserveWorkDuration(absl::Duration d) = 0;   // Get -> Done
  virtual void IncRetries() = 0;                            // AddRateLimited
  // Sum of the age of all items being processed, and the oldest one's age.
  virtual void SetUnfinishedWork(absl::Duration total) = 0;
  virtual void SetLongestRunningProcessor(absl::Duration longest) = 0;
};

class WorkQueue {
 public:
  // `limiter` may be null (AddRateLimited then adds at once); `metrics` may be
  // null and must outlive the queue.
  WorkQueue(std::string name, Clock* clock, std::unique_ptr<RateLimiter> limiter,
            WorkQueueMetrics* metrics = nullptr);
  ~WorkQueue();

  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  const std::string& name() const { return name_; }

  void Add(const std::string& item);
  // A delay <= 0 adds at once. An item already waiting keeps the earlier of
  // its two ready times.
  void AddAfter(const std::string& item, absl::Duration delay);
  void AddRateLimited(const std::string& item);
  void Forget(const std::string& item);
  int NumRequeues(const std::string& item);

  // Blocks until an item is ready; false once shut down and empty. Every
  // item returned must be passed to Done().
  bool Get(std::string* item);
  void Done(const std::string& item);

  // Items ready to be processed (delayed items whose time has come count).
  int Len();
  // Get() hands out what is queued, then returns false; later adds and items
  // still waiting for their delay are dropped.
  void ShutDown();
  // ShutDown(), then blocks until every item handed out by Get() is Done().
  void ShutDownWithDrain();
  bool ShuttingDown();

  // Recomputes the unfinished-work gauges (the metrics layer calls this on
  // scrape; client-go does it every 500 ms).
  void UpdateUnfinishedWorkMetrics();

 private:
  // Orders the waiting items by ready time, then by insertion.
  using WaitKey = std::pair<absl::Time, uint64_t>;

  void AddLocked(const std::string& item, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves every waiting item whose time has come into the queue.
  void PromoteReadyLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportDepthLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const std::string name_;
  Clock* const clock_;
  const std::unique_ptr<RateLimiter> limiter_;  // thread-safe on its own
  WorkQueueMetrics* const metrics_;

  absl::Mutex mu_;
  // Ready items in FIFO order; each is also in dirty_.
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  // Items that need processing: queued, or re-added while being processed.
  absl::flat_hash_set<std::string> dirty_ ABSL_GUARDED_BY(mu_);
  // Items handed out by Get() and not yet Done(), with the time of the Get().
  absl::flat_hash_map<std::string, absl::Time> processing_ ABSL_GUARDED_BY(mu_);
  // When each dirty item was first added (queue-duration metric).
  absl::flat_hash_map<std::string, absl::Time> add_times_ ABSL_GUARDED_BY(mu_);
  // Delayed items (client-go's waiting heap), indexed both ways.
  std::map<WaitKey, std::string> waiting_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, WaitKey> waiting_index_ ABSL_GUARDED_BY(mu_);
  uint64_t waiting_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // Bumped whenever the earliest waiting time moves earlier, so a Get()
  // blocked until the old earliest time wakes and re-plans.
  uint64_t waiting_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool drain_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace promconf::runtime
