#pragma once

// Adapters from the reconcile layer's metric seams to metrics/Metrics:
//  - QueueMetrics: WorkQueueMetrics for one named queue (the workqueue_*
//    families, label name=<queue>), optionally refreshing the queue's
//    unfinished-work gauges on every scrape;
//  - ReconcileMetricsObserver: ControllerObserver feeding
//    promconf_reconcile_total{result} and promconf_reconcile_duration_seconds.
// Thread-safe.

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "metrics/metrics.h"
#include "runtime/controller.h"
#include "runtime/workqueue.h"

namespace promconf::runtime {

class QueueMetrics final : public WorkQueueMetrics {
 public:
  // `metrics` must outlive this object.
  QueueMetrics(Metrics* metrics, absl::string_view queue_name);
  // Stops refreshing (RefreshOnScrape) before the queue may go away.
  ~QueueMetrics() override;
  QueueMetrics(const QueueMetrics&) = delete;
  QueueMetrics& operator=(const QueueMetrics&) = delete;

  // Calls queue->UpdateUnfinishedWorkMetrics() before every Collect() (what
  // client-go does on a 500 ms ticker), until this object is destroyed or
  // StopRefreshing() is called. `queue` must stay alive until then.
  void RefreshOnScrape(WorkQueue* queue);
  void StopRefreshing();

  void SetDepth(int64_t depth) override;
  void IncAdds() override;
  void ObserveQueueDuration(absl::Duration d) override;
  void ObserveWorkDuration(absl::Duration d) override;
  void IncRetries() override;
  void SetUnfinishedWork(absl::Duration total) override;
  void SetLongestRunningProcessor(absl::Duration longest) override;

 private:
  Metrics* const metrics_;
  const WorkQueueMetricFamilies::Queue children_;
  absl::Mutex mu_;
  int hook_id_ ABSL_GUARDED_BY(mu_) = -1;
};

class ReconcileMetricsObserver final : public ControllerObserver {
 public:
  explicit ReconcileMetricsObserver(Metrics* metrics) : metrics_(metrics) {}
  void OnReconciled(Outcome outcome, absl::Duration took) override;

 private:
  Metrics* const metrics_;
};

}  // namespace promconf::runtime
