#pragma once

// promconf's own metrics (SPEC "Metrics": names and labels are a contract).
// Metrics owns one prometheus::Registry with every family of the table and
// offers typed helpers, so callers never touch families or label maps.
// Process metrics (process_*) are computed from /proc at scrape time.
//
// Thread-safe: every helper may be called from any thread, concurrently with
// Collect(). prometheus-cpp's Family::Add is internally locked and returns the
// existing child for known labels.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "metrics/process_metrics.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace promconf {

// promconf_source_events_total{event}.
enum class SourceEventType { kAdded, kModified, kDeleted, kBookmark, kRelist, kError };
absl::string_view SourceEventTypeName(SourceEventType type);

// promconf_reconcile_total{result}.
enum class ReconcileOutcome { kSuccess, kError, kRequeue };
absl::string_view ReconcileOutcomeName(ReconcileOutcome outcome);

// client-go's workqueue_* families (k8s.io/component-base/metrics/prometheus/
// workqueue), one child per queue `name`. The WorkQueueMetrics adapter lives in
// runtime/workqueue_metrics.h (runtime depends on metrics, not back).
class WorkQueueMetricFamilies {
 public:
  // The children of one queue; references stay valid while the families live.
  struct Queue {
    prometheus::Gauge* depth;
    prometheus::Counter* adds;
    prometheus::Histogram* queue_duration;
    prometheus::Histogram* work_duration;
    prometheus::Counter* retries;
    prometheus::Gauge* unfinished_work;
    prometheus::Gauge* longest_running_processor;
  };

  explicit WorkQueueMetricFamilies(prometheus::Registry* registry);

  // Creates (on first use) and returns the children labelled name=`name`.
  Queue ForQueue(absl::string_view name);

  void SetDepth(absl::string_view name, int64_t depth);
  void IncAdds(absl::string_view name);
  void ObserveQueueDuration(absl::string_view name, absl::Duration d);
  void ObserveWorkDuration(absl::string_view name, absl::Duration d);
  void IncRetries(absl::string_view name);
  void SetUnfinishedWork(absl::string_view name, absl::Duration total);
  void SetLongestRunningProcessor(absl::string_view name, absl::Duration longest);

  // client-go's buckets: 1e-8 s .. 10 s, ×10.
  static prometheus::Histogram::BucketBoundaries DurationBuckets();

 private:
  prometheus::Family<prometheus::Gauge>& depth_;
  prometheus::Family<prometheus::Counter>& adds_;
  prometheus::Family<prometheus::Histogram>& queue_duration_;
  prometheus::Family<prometheus::Histogram>& work_duration_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Gauge>& unfinished_work_;
  prometheus::Family<prometheus::Gauge>& longest_running_processor_;
};

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // --- Sources -------------------------------------------------------------
  // Creates every child of a source at zero (so rate() and absent() behave
  // from the first scrape) and records its type for promconf_source_up.
  void RegisterSource(absl::string_view source, absl::string_view type);
  void SetSourceUp(absl::string_view source, absl::string_view type, bool up);
  void SourceEvent(absl::string_view source, SourceEventType event);
  void SetSourceLastEventTimestamp(absl::string_view source, absl::Time t);
  void SetSourceDocuments(absl::string_view source, int64_t documents);

  // --- Fragments and reconciling -------------------------------------------
  // `status` is "accepted" or "rejected".
  void SetFragments(absl::string_view kind, absl::string_view status, int64_t count);
  // promconf_fragments_rejected_total: a document version refused, by its
  // kind and a reason from a bounded set (reconcile/fragment.h
  // RejectReason). n = 0 creates the series at zero.
  void IncFragmentsRejected(absl::string_view kind, absl::string_view reason, int n = 1);
  void ReconcileDone(ReconcileOutcome outcome, absl::Duration took);
  void IncOutputWrites();

  // --- Reloads ---------------------------------------------------------------
  void ReloadSucceeded(absl::Time at);
  void ReloadFailed();

  void SetLeader(bool leader);
  // This replica became or stopped being the leader.
  void IncLeaderTransitions();

  // --- Validation's second opinion (promtool) --------------------------------
  // promtool rejected `n` fragments of `kind` that promconf accepted (should
  // stay 0).
  void IncValidationDisagreements(absl::string_view kind, int n);
  // promtool refused `n` fragments its release cannot know; they were kept.
  void IncValidationSkipped(absl::string_view kind, int n);

  WorkQueueMetricFamilies& workqueue() { return workqueue_; }

  // --- Exposition ----------------------------------------------------------
  // Runs before every Collect(), e.g. a work queue refreshing its
  // unfinished-work gauges (client-go does it on a 500 ms ticker). Returns an
  // id for RemovePreCollectHook. A hook must not call Collect().
  int AddPreCollectHook(std::function<void()> hook);
  void RemovePreCollectHook(int id);

  // The registry's families plus the process_* families.
  std::vector<prometheus::MetricFamily> Collect() const;
  // Collect() in the text format 0.0.4.
  std::string ExpositionText() const;

  prometheus::Registry& registry() { return *registry_; }

 private:
  void RunPreCollectHooks() const;
  // promconf_dropped_total from util/dropped.h's process-wide tally.
  static prometheus::MetricFamily DroppedFamily();

  // Constant after construction (the families are owned by registry_).
  std::shared_ptr<prometheus::Registry> registry_;
  ProcessCollector process_;
  prometheus::Family<prometheus::Gauge>& build_info_;
  prometheus::Family<prometheus::Gauge>& source_up_;
  prometheus::Family<prometheus::Counter>& source_events_;
  prometheus::Family<prometheus::Gauge>& source_last_event_;
  prometheus::Family<prometheus::Gauge>& source_documents_;
  prometheus::Family<prometheus::Gauge>& fragments_;
  prometheus::Family<prometheus::Counter>& fragments_rejected_;
  prometheus::Family<prometheus::Counter>& reconcile_total_;
  prometheus::Histogram& reconcile_duration_;
  prometheus::Counter& output_writes_;
  prometheus::Counter& reloads_;
  prometheus::Counter& reloads_failed_;
  prometheus::Gauge& last_reload_successful_;
  prometheus::Gauge& last_reload_success_timestamp_;
  prometheus::Gauge& leader_;
  prometheus::Counter& leader_transitions_;
  prometheus::Family<prometheus::Counter>& validation_disagreements_;
  prometheus::Family<prometheus::Counter>& validation_skipped_;
  WorkQueueMetricFamilies workqueue_;

  mutable absl::Mutex mu_;
  // source -> type it was last reported with (promconf_source_up's label).
  std::map<std::string, std::string> source_types_ ABSL_GUARDED_BY(mu_);

  // Hooks have their own lock: a hook may call the helpers above.
  mutable absl::Mutex hooks_mu_;
  std::map<int, std::function<void()>> hooks_ ABSL_GUARDED_BY(hooks_mu_);
  int next_hook_id_ ABSL_GUARDED_BY(hooks_mu_) = 0;
};

}  // namespace promconf
