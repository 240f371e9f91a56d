#pragma once

// The consumer side of SourceCallbacks for one source: documents go into the
// shared store, the render key onto the work queue, progress into the health
// tracker, counts into metrics. Keeps to that: no I/O on the source's thread.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "controller/health.h"
#include "informers/document_store.h"
#include "informers/source.h"
#include "metrics/metrics.h"
#include "reconcile/render_reconciler.h"
#include "runtime/workqueue.h"

namespace promconf {

// The metrics a sink moves; app.cc adapts it to Metrics.
class SourceMetricsSink {
 public:
  virtual ~SourceMetricsSink() = default;
  virtual void SourceEvent(absl::string_view source, SourceEventType event, int count) = 0;
  virtual void SourceUp(absl::string_view source, bool up) = 0;
  virtual void SourceDocuments(absl::string_view source, size_t count) = 0;
};

class SourceSink final : public SourceCallbacks {
 public:
  // All pointers must outlive the sink.
  SourceSink(std::string source, DocumentStore* store, runtime::WorkQueue* queue, HealthTracker* health,
             SourceMetricsSink* metrics);

  void OnSnapshot(absl::string_view prefix, std::vector<Document> docs) override;
  void OnUpsert(Document doc) override;
  void OnDelete(absl::string_view name) override;
  void OnProgress() override;
  void OnError(const absl::Status& status) override;

 private:
  void Record(const StoreChange& change);

  // Constant after construction.
  const std::string source_;
  DocumentStore* const store_;
  runtime::WorkQueue* const queue_;
  HealthTracker* const health_;
  SourceMetricsSink* const metrics_;
};

}  // namespace promconf
