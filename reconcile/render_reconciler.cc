#include "reconcile/render_reconciler.h"

#include <utility>

#include "metrics/metrics.h"
#include "reconcile/reloader.h"

namespace promconf {

RenderReconciler::RenderReconciler(OutputReconciler* output, runtime::WorkQueue* queue,
                                   RenderGate* gate, Metrics* metrics,
                                   RejectionObserver* rejections, RenderOptions options)
    : output_(output),
      queue_(queue),
      gate_(gate),
      metrics_(metrics),
      rejections_(rejections),
      options_(std::move(options)) {}

RenderOutcome RenderReconciler::Render(const std::string& key) {
  RenderOutcome outcome;
  // Not synced yet: the last source's first snapshot queues "render" again.
  if (!gate_->AllSynced()) return outcome;
  outcome.result = output_->Reconcile(key);
  if (!outcome.result.status.ok()) return outcome;
  const ReconcileReport report = output_->LastReport();
  outcome.rendered = true;
  outcome.first = !rendered_once_;
  outcome.accepted = report.accepted;
  outcome.rejected = report.rejected;
  outcome.files_written = report.files_written;
  outcome.files_removed = report.files_removed;
  for (const char* kind : {"rules", "scrape", "targets"}) {
    auto count = [&](const std::map<std::string, int>& m) {
      auto it = m.find(kind);
      return it == m.end() ? 0 : it->second;
    };
    metrics_->SetFragments(kind, "accepted", count(report.accepted));
    metrics_->SetFragments(kind, "rejected", count(report.rejected));
  }
  int rejected = 0;
  for (const auto& [kind, n] : report.rejected) rejected += n;
  if (rejections_ != nullptr && rejections_->Interested(rejected)) {
    rejections_->Observe(output_->FragmentStatuses());
  }
  const uint64_t writes = output_->writes();
  for (; writes_seen_ < writes; ++writes_seen_) metrics_->IncOutputWrites();
  // The first render always reloads: what Prometheus loaded before promconf
  // started may differ from what is on disk now. Later, only prometheus.yml
  // and rule files need one (file_sd re-reads targets/). promtool's second
  // opinion (when configured) comes before the reload it guards, never
  // before the files: it queues the reload itself.
  if (output_->SecondOpinionPending()) {
    queue_->Add(kSecondOpinionKey);
    outcome.second_opinion_queued = true;
  } else if (options_.reload && (report.reload_needed || outcome.first)) {
    queue_->Add(Reloader::kKey);
    outcome.reload_queued = true;
  }
  // Controller mode: every replica renders; the publisher decides whether
  // this one may write the ConfigMaps.
  if (!options_.publish_key.empty() && (report.outputs_changed || outcome.first)) {
    queue_->Add(options_.publish_key);
    outcome.publish_queued = true;
  }
  rendered_once_ = true;
  gate_->MarkRendered();
  outcome.ready = true;
  return outcome;
}

}  // namespace promconf
