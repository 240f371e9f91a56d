#include "runtime/workqueue_metrics.h"

namespace promconf::runtime {

QueueMetrics::QueueMetrics(Metrics* metrics, absl::string_view queue_name)
    : metrics_(metrics), children_(metrics->workqueue().ForQueue(queue_name)) {}

QueueMetrics::~QueueMetrics() { StopRefreshing(); }

void QueueMetrics::RefreshOnScrape(WorkQueue* queue) {
  StopRefreshing();
  absl::MutexLock lock(&mu_);
  hook_id_ = metrics_->AddPreCollectHook([queue] { queue->UpdateUnfinishedWorkMetrics(); });
}

void QueueMetrics::StopRefreshing() {
  absl::MutexLock lock(&mu_);
  if (hook_id_ < 0) return;
  // Returns only once a running hook has finished.
  metrics_->RemovePreCollectHook(hook_id_);
  hook_id_ = -1;
}

void QueueMetrics::SetDepth(int64_t depth) { children_.depth->Set(static_cast<double>(depth)); }
void QueueMetrics::IncAdds() { children_.adds->Increment(); }
void QueueMetrics::ObserveQueueDuration(absl::Duration d) {
  children_.queue_duration->Observe(absl::ToDoubleSeconds(d));
}
void QueueMetrics::ObserveWorkDuration(absl::Duration d) {
  children_.work_duration->Observe(absl::ToDoubleSeconds(d));
}
void QueueMetrics::IncRetries() { children_.retries->Increment(); }
void QueueMetrics::SetUnfinishedWork(absl::Duration total) {
  children_.unfinished_work->Set(absl::ToDoubleSeconds(total));
}
void QueueMetrics::SetLongestRunningProcessor(absl::Duration longest) {
  children_.longest_running_processor->Set(absl::ToDoubleSeconds(longest));
}

void ReconcileMetricsObserver::OnReconciled(Outcome outcome, absl::Duration took) {
  ReconcileOutcome label = ReconcileOutcome::kError;
  switch (outcome) {
    case Outcome::kSuccess: label = ReconcileOutcome::kSuccess; break;
    case Outcome::kRequeue: label = ReconcileOutcome::kRequeue; break;
    case Outcome::kError: break;
  }
  metrics_->ReconcileDone(label, took);
}

}  // namespace promconf::runtime
