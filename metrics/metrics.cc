#include "metrics/metrics.h"

#include <sstream>
#include <utility>

#include "prometheus/text_serializer.h"
#include "util/dropped.h"

#ifndef PROMCONF_VERSION
#define PROMCONF_VERSION "unknown"
#endif
#ifndef PROMCONF_REVISION
#define PROMCONF_REVISION "unknown"
#endif

namespace promconf {

namespace {

constexpr SourceEventType kAllSourceEvents[] = {
    SourceEventType::kAdded,    SourceEventType::kModified, SourceEventType::kDeleted,
    SourceEventType::kBookmark, SourceEventType::kRelist,   SourceEventType::kError};

constexpr ReconcileOutcome kAllOutcomes[] = {ReconcileOutcome::kSuccess, ReconcileOutcome::kError,
                                             ReconcileOutcome::kRequeue};

std::string S(absl::string_view v) { return std::string(v); }

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// Every name, label and bucket list below is a constant, so prometheus-cpp's
// validation (the only source of its exceptions here) cannot fire at run time.
template <typename T>
prometheus::Family<T>& Build(prometheus::detail::Builder<T> builder, const char* name,
                             const char* help, prometheus::Registry& registry) {
  return builder.Name(name).Help(help).Register(registry);
}

}  // namespace

absl::string_view SourceEventTypeName(SourceEventType type) {
  switch (type) {
    case SourceEventType::kAdded: return "added";
    case SourceEventType::kModified: return "modified";
    case SourceEventType::kDeleted: return "deleted";
    case SourceEventType::kBookmark: return "bookmark";
    case SourceEventType::kRelist: return "relist";
    case SourceEventType::kError: return "error";
  }
  return "error";
}

absl::string_view ReconcileOutcomeName(ReconcileOutcome outcome) {
  switch (outcome) {
    case ReconcileOutcome::kSuccess: return "success";
    case ReconcileOutcome::kError: return "error";
    case ReconcileOutcome::kRequeue: return "requeue";
  }
  return "error";
}

// --- WorkQueueMetricFamilies ---------------------------------------------------

prometheus::Histogram::BucketBoundaries WorkQueueMetricFamilies::DurationBuckets() {
  // prometheus.ExponentialBuckets(10e-9, 10, 10), written out: repeated
  // multiplication would expose le="9.999999999999999e-06".
  return {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10};
}

WorkQueueMetricFamilies::WorkQueueMetricFamilies(prometheus::Registry* r)
    : depth_(Build(prometheus::BuildGauge(), "workqueue_depth",
                   "Current depth of workqueue", *r)),
      adds_(Build(prometheus::BuildCounter(), "workqueue_adds_total",
                  "Total number of adds handled by workqueue", *r)),
      queue_duration_(Build(prometheus::BuildHistogram(), "workqueue_queue_duration_seconds",
                            "How long in seconds an item stays in workqueue before being "
                            "requested.",
                            *r)),
      work_duration_(Build(prometheus::BuildHistogram(), "workqueue_work_duration_seconds",
                           "How long in seconds processing an item from workqueue takes.", *r)),
      retries_(Build(prometheus::BuildCounter(), "workqueue_retries_total",
                     "Total number of retries handled by workqueue", *r)),
      unfinished_work_(Build(prometheus::BuildGauge(), "workqueue_unfinished_work_seconds",
                             "How many seconds of work has done that is in progress and hasn't "
                             "been observed by work_duration. Large values indicate stuck "
                             "threads. One can deduce the number of stuck threads by observing "
                             "the rate at which this increases.",
                             *r)),
      longest_running_processor_(Build(prometheus::BuildGauge(),
                                       "workqueue_longest_running_processor_seconds",
                                       "How many seconds has the longest running processor for "
                                       "workqueue been running.",
                                       *r)) {}

WorkQueueMetricFamilies::Queue WorkQueueMetricFamilies::ForQueue(absl::string_view name) {
  const prometheus::Labels labels{{"name", S(name)}};
  return Queue{&depth_.Add(labels),
               &adds_.Add(labels),
               &queue_duration_.Add(labels, DurationBuckets()),
               &work_duration_.Add(labels, DurationBuckets()),
               &retries_.Add(labels),
               &unfinished_work_.Add(labels),
               &longest_running_processor_.Add(labels)};
}

void WorkQueueMetricFamilies::SetDepth(absl::string_view name, int64_t depth) {
  depth_.Add({{"name", S(name)}}).Set(static_cast<double>(depth));
}
void WorkQueueMetricFamilies::IncAdds(absl::string_view name) {
  adds_.Add({{"name", S(name)}}).Increment();
}
void WorkQueueMetricFamilies::ObserveQueueDuration(absl::string_view name, absl::Duration d) {
  queue_duration_.Add({{"name", S(name)}}, DurationBuckets()).Observe(Seconds(d));
}
void WorkQueueMetricFamilies::ObserveWorkDuration(absl::string_view name, absl::Duration d) {
  work_duration_.Add({{"name", S(name)}}, DurationBuckets()).Observe(Seconds(d));
}
void WorkQueueMetricFamilies::IncRetries(absl::string_view name) {
  retries_.Add({{"name", S(name)}}).Increment();
}
void WorkQueueMetricFamilies::SetUnfinishedWork(absl::string_view name, absl::Duration total) {
  unfinished_work_.Add({{"name", S(name)}}).Set(Seconds(total));
}
void WorkQueueMetricFamilies::SetLongestRunningProcessor(absl::string_view name,
                                                         absl::Duration longest) {
  longest_running_processor_.Add({{"name", S(name)}}).Set(Seconds(longest));
}

// --- Metrics --------------------------------------------------------------------

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      build_info_(Build(prometheus::BuildGauge(), "promconf_build_info",
                        "A metric with a constant '1' value labeled by version and revision "
                        "from which promconf was built.",
                        *registry_)),
      source_up_(Build(prometheus::BuildGauge(), "promconf_source_up",
                       "Whether the source's watch is connected and synced (1) or not (0).",
                       *registry_)),
      source_events_(Build(prometheus::BuildCounter(), "promconf_source_events_total",
                           "Events received from a source, by event type.", *registry_)),
      source_last_event_(Build(prometheus::BuildGauge(),
                               "promconf_source_last_event_timestamp_seconds",
                               "Unix time of the last event (or bookmark, or re-list) from a "
                               "source.",
                               *registry_)),
      source_documents_(Build(prometheus::BuildGauge(), "promconf_source_documents",
                              "Documents currently held for a source.", *registry_)),
      fragments_(Build(prometheus::BuildGauge(), "promconf_fragments",
                       "Fragments by kind and status (accepted, rejected).", *registry_)),
      fragments_rejected_(Build(prometheus::BuildCounter(), "promconf_fragments_rejected_total",
                                "Document versions refused, by kind and reason.", *registry_)),
      reconcile_total_(Build(prometheus::BuildCounter(), "promconf_reconcile_total",
                             "Reconcile runs by result (success, error, requeue).", *registry_)),
      reconcile_duration_(Build(prometheus::BuildHistogram(),
                                "promconf_reconcile_duration_seconds",
                                "Time taken by one reconcile run.", *registry_)
                              .Add({}, prometheus::Histogram::BucketBoundaries{
                                           0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5, 1, 2.5, 5, 10, 30, 60})),
      output_writes_(Build(prometheus::BuildCounter(), "promconf_output_writes_total",
                           "Output files written (created, replaced or removed).", *registry_)
                         .Add({})),
      reloads_(Build(prometheus::BuildCounter(), "promconf_reloads_total",
                     "Prometheus reloads that succeeded.", *registry_)
                   .Add({})),
      reloads_failed_(Build(prometheus::BuildCounter(), "promconf_reloads_failed_total",
                            "Prometheus reloads that failed.", *registry_)
                          .Add({})),
      last_reload_successful_(Build(prometheus::BuildGauge(), "promconf_last_reload_successful",
                                    "Whether the last reload attempt succeeded (1) or not (0).",
                                    *registry_)
                                  .Add({})),
      last_reload_success_timestamp_(Build(prometheus::BuildGauge(),
                                           "promconf_last_reload_success_timestamp_seconds",
                                           "Unix time of the last successful reload.", *registry_)
                                         .Add({})),
      leader_(Build(prometheus::BuildGauge(), "promconf_leader",
                    "Whether this replica holds the leader lease and writes outputs (1) or not "
                    "(0).",
                    *registry_)
                  .Add({})),
      leader_transitions_(Build(prometheus::BuildCounter(), "promconf_leader_transitions_total",
                                "Times this replica became or stopped being the leader.",
                                *registry_)
                              .Add({})),
      validation_disagreements_(Build(prometheus::BuildCounter(), "promconf_validation_disagreements_total",
                                      "Fragments promtool rejected after promconf accepted them (reverted; "
                                      "should stay 0), by kind.",
                                      *registry_)),
      validation_skipped_(Build(prometheus::BuildCounter(), "promconf_validation_skipped_total",
                                "Fragments promtool refused because its release predates what they use "
                                "(kept), by kind.",
                                *registry_)),
      workqueue_(registry_.get()) {
  build_info_.Add({{"version", PROMCONF_VERSION}, {"revision", PROMCONF_REVISION}}).Set(1);
  for (ReconcileOutcome o : kAllOutcomes) {
    reconcile_total_.Add({{"result", S(ReconcileOutcomeName(o))}});
  }
  validation_disagreements_.Add({{"kind", "rules"}});
  validation_skipped_.Add({{"kind", "rules"}});
  // No reload attempted yet is not a failed one (Prometheus' own
  // prometheus_config_last_reload_successful starts at 1 after a good load).
  last_reload_successful_.Set(1);
}

void Metrics::RegisterSource(absl::string_view source, absl::string_view type) {
  const std::string s(source);
  for (SourceEventType e : kAllSourceEvents) {
    source_events_.Add({{"source", s}, {"event", S(SourceEventTypeName(e))}});
  }
  source_last_event_.Add({{"source", s}});
  source_documents_.Add({{"source", s}});
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = source_types_.emplace(s, std::string(type));
  if (!inserted && it->second != type) {
    source_up_.Remove(&source_up_.Add({{"source", s}, {"type", it->second}}));
    it->second = std::string(type);
  }
  source_up_.Add({{"source", s}, {"type", it->second}});
}

void Metrics::SetSourceUp(absl::string_view source, absl::string_view type, bool up) {
  RegisterSource(source, type);
  source_up_.Add({{"source", S(source)}, {"type", S(type)}}).Set(up ? 1 : 0);
}

void Metrics::SourceEvent(absl::string_view source, SourceEventType event) {
  source_events_.Add({{"source", S(source)}, {"event", S(SourceEventTypeName(event))}})
      .Increment();
}

void Metrics::SetSourceLastEventTimestamp(absl::string_view source, absl::Time t) {
  source_last_event_.Add({{"source", S(source)}}).Set(absl::ToDoubleSeconds(t - absl::UnixEpoch()));
}

void Metrics::SetSourceDocuments(absl::string_view source, int64_t documents) {
  source_documents_.Add({{"source", S(source)}}).Set(static_cast<double>(documents));
}

void Metrics::SetFragments(absl::string_view kind, absl::string_view status, int64_t count) {
  fragments_.Add({{"kind", S(kind)}, {"status", S(status)}}).Set(static_cast<double>(count));
}

void Metrics::ReconcileDone(ReconcileOutcome outcome, absl::Duration took) {
  reconcile_total_.Add({{"result", S(ReconcileOutcomeName(outcome))}}).Increment();
  reconcile_duration_.Observe(Seconds(took));
}

void Metrics::IncOutputWrites() { output_writes_.Increment(); }

void Metrics::ReloadSucceeded(absl::Time at) {
  reloads_.Increment();
  last_reload_successful_.Set(1);
  last_reload_success_timestamp_.Set(absl::ToDoubleSeconds(at - absl::UnixEpoch()));
}

void Metrics::ReloadFailed() {
  reloads_failed_.Increment();
  last_reload_successful_.Set(0);
}

void Metrics::SetLeader(bool leader) { leader_.Set(leader ? 1 : 0); }
void Metrics::IncLeaderTransitions() { leader_transitions_.Increment(); }

void Metrics::IncFragmentsRejected(absl::string_view kind, absl::string_view reason, int n) {
  fragments_rejected_.Add({{"kind", std::string(kind)}, {"reason", std::string(reason)}}).Increment(n);
}

void Metrics::IncValidationDisagreements(absl::string_view kind, int n) {
  validation_disagreements_.Add({{"kind", std::string(kind)}}).Increment(n);
}

void Metrics::IncValidationSkipped(absl::string_view kind, int n) {
  validation_skipped_.Add({{"kind", std::string(kind)}}).Increment(n);
}

int Metrics::AddPreCollectHook(std::function<void()> hook) {
  absl::MutexLock lock(&hooks_mu_);
  const int id = next_hook_id_++;
  hooks_.emplace(id, std::move(hook));
  return id;
}

void Metrics::RemovePreCollectHook(int id) {
  absl::MutexLock lock(&hooks_mu_);
  hooks_.erase(id);
}

void Metrics::RunPreCollectHooks() const {
  // Held while hooks run so RemovePreCollectHook() returning means the hook
  // is no longer running (its owner may then be destroyed).
  absl::MutexLock lock(&hooks_mu_);
  for (const auto& [id, hook] : hooks_) hook();
}

std::vector<prometheus::MetricFamily> Metrics::Collect() const {
  RunPreCollectHooks();
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::vector<prometheus::MetricFamily> process = process_.Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  families.push_back(DroppedFamily());
  return families;
}

prometheus::MetricFamily Metrics::DroppedFamily() {
  prometheus::MetricFamily family;
  family.name = "promconf_dropped_total";
  family.help =
      "Inputs promconf dropped on a degraded path, by what (events, members, "
      "non_fragment_documents, symlinks, services, responses).";
  family.type = prometheus::MetricType::Counter;
  for (const auto& [what, count] : DroppedCounts()) {
    prometheus::ClientMetric m;
    m.label.push_back({"what", what});
    m.counter.value = static_cast<double>(count);
    family.metric.push_back(std::move(m));
  }
  return family;
}

std::string Metrics::ExpositionText() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Collect());
  return out.str();
}

}  // namespace promconf
