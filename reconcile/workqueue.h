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
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "util/clock.h"

namespace promconf {

// --- Rate limiters (client-go util/workqueue/default_rate_limiters.go) ------

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
// A token bucket shared by all items (golang.org/x/time/rate semantics).
std::unique_ptr<RateLimiter> NewBucketRateLimiter(double qps, int burst, Clock* clock);
// The longest delay of all limiters.
std::unique_ptr<RateLimiter> NewMaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);
// client-go's DefaultControllerRateLimiter: max(exponential 5 ms..1000 s,
// bucket 10 qps / burst 100).
std::unique_ptr<RateLimiter> NewDefaultControllerRateLimiter(Clock* clock);

// --- Metrics (the workqueue_* families; metrics/ implements them) ----------

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

  const std::string& name() const { return name_; }

  void Add(const std::string& item);
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
  void ShutDown();
  void ShutDownWithDrain();
  bool ShuttingDown();

  // Recomputes the unfinished-work gauges (the metrics layer calls this on
  // scrape; client-go does it every 500 ms).
  void UpdateUnfinishedWorkMetrics();

 private:
  // Implementation-defined; see workqueue.cc.
  struct Impl;
  std::unique_ptr<Impl> impl_;
  const std::string name_;
};

}  // namespace promconf
