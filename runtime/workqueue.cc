#include "runtime/workqueue.h"

#include <algorithm>
#include <utility>

namespace promconf::runtime {

WorkQueue::WorkQueue(std::string name, Clock* clock, std::unique_ptr<RateLimiter> limiter,
                     WorkQueueMetrics* metrics)
    : name_(std::move(name)), clock_(clock), limiter_(std::move(limiter)), metrics_(metrics) {}

WorkQueue::~WorkQueue() = default;

void WorkQueue::ReportDepthLocked() {
  if (metrics_ != nullptr) metrics_->SetDepth(static_cast<int64_t>(queue_.size()));
}

void WorkQueue::AddLocked(const std::string& item, absl::Time now) {
  if (shutting_down_ || dirty_.contains(item)) return;
  if (metrics_ != nullptr) metrics_->IncAdds();
  add_times_.try_emplace(item, now);
  dirty_.insert(item);
  // Re-added while being processed: Done() queues it, so that no two workers
  // ever hold the same item.
  if (processing_.contains(item)) return;
  queue_.push_back(item);
  ReportDepthLocked();
}

void WorkQueue::PromoteReadyLocked(absl::Time now) {
  while (!waiting_.empty() && waiting_.begin()->first.first <= now) {
    auto first = waiting_.begin();
    std::string item = std::move(first->second);
    waiting_.erase(first);
    waiting_index_.erase(item);
    AddLocked(item, now);
  }
}

void WorkQueue::Add(const std::string& item) {
  absl::MutexLock lock(&mu_);
  AddLocked(item, clock_->Now());
}

void WorkQueue::AddAfter(const std::string& item, absl::Duration delay) {
  if (delay <= absl::ZeroDuration()) {
    Add(item);
    return;
  }
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return;
  const absl::Time ready = clock_->Now() + delay;
  auto existing = waiting_index_.find(item);
  if (existing != waiting_index_.end()) {
    if (existing->second.first <= ready) return;
    waiting_.erase(existing->second);
  }
  const WaitKey key{ready, waiting_seq_++};
  if (waiting_.empty() || key < waiting_.begin()->first) ++waiting_epoch_;
  waiting_.emplace(key, item);
  waiting_index_.insert_or_assign(item, key);
}

void WorkQueue::AddRateLimited(const std::string& item) {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return;
    if (metrics_ != nullptr) metrics_->IncRetries();
  }
  AddAfter(item, limiter_ != nullptr ? limiter_->When(item) : absl::ZeroDuration());
}

void WorkQueue::Forget(const std::string& item) {
  if (limiter_ != nullptr) limiter_->Forget(item);
}

int WorkQueue::NumRequeues(const std::string& item) {
  return limiter_ != nullptr ? limiter_->NumRequeues(item) : 0;
}

bool WorkQueue::Get(std::string* item) {
  absl::MutexLock lock(&mu_);
  absl::Time now = clock_->Now();
  PromoteReadyLocked(now);
  while (queue_.empty() && !shutting_down_) {
    // Sleep until something is queued, the queue shuts down, or the earliest
    // delayed item is due; an earlier AddAfter() bumps the epoch and re-plans.
    const absl::Time deadline =
        waiting_.empty() ? absl::InfiniteFuture() : waiting_.begin()->first.first;
    const uint64_t epoch = waiting_epoch_;
    auto wake = [this, epoch] {
      mu_.AssertHeld();  // absl evaluates Conditions with the lock held
      return !queue_.empty() || shutting_down_ || waiting_epoch_ != epoch;
    };
    clock_->AwaitWithDeadline(&mu_, absl::Condition(&wake), deadline);
    now = clock_->Now();
    PromoteReadyLocked(now);
  }
  if (queue_.empty()) return false;  // shut down and drained
  *item = std::move(queue_.front());
  queue_.pop_front();
  ReportDepthLocked();
  processing_.insert_or_assign(*item, now);
  dirty_.erase(*item);
  auto added = add_times_.find(*item);
  if (added != add_times_.end()) {
    if (metrics_ != nullptr) metrics_->ObserveQueueDuration(now - added->second);
    add_times_.erase(added);
  }
  return true;
}

void WorkQueue::Done(const std::string& item) {
  absl::MutexLock lock(&mu_);
  auto it = processing_.find(item);
  if (it == processing_.end()) return;
  if (metrics_ != nullptr) metrics_->ObserveWorkDuration(clock_->Now() - it->second);
  processing_.erase(it);
  // Re-added while it was processed: its turn comes now, even after ShutDown
  // (client-go does the same; the item was accepted before the shutdown).
  if (dirty_.contains(item)) {
    queue_.push_back(item);
    ReportDepthLocked();
  }
}

int WorkQueue::Len() {
  absl::MutexLock lock(&mu_);
  PromoteReadyLocked(clock_->Now());
  return static_cast<int>(queue_.size());
}

void WorkQueue::ShutDown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  drain_ = false;  // releases a ShutDownWithDrain() in progress
  waiting_.clear();
  waiting_index_.clear();
}

void WorkQueue::ShutDownWithDrain() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  drain_ = true;
  waiting_.clear();
  waiting_index_.clear();
  auto drained = [this] {
    mu_.AssertHeld();
    return processing_.empty() || !drain_;
  };
  mu_.Await(absl::Condition(&drained));
}

bool WorkQueue::ShuttingDown() {
  absl::MutexLock lock(&mu_);
  return shutting_down_;
}

void WorkQueue::UpdateUnfinishedWorkMetrics() {
  if (metrics_ == nullptr) return;
  absl::Duration total = absl::ZeroDuration();
  absl::Duration longest = absl::ZeroDuration();
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (const auto& [item, started] : processing_) {
      const absl::Duration age = now - started;
      total += age;
      longest = std::max(longest, age);
    }
  }
  metrics_->SetUnfinishedWork(total);
  metrics_->SetLongestRunningProcessor(longest);
}

}  // namespace promconf::runtime
