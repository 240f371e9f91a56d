#include "controller/source_sink.h"

#include "util/log.h"

namespace promconf {

SourceSink::SourceSink(std::string source, DocumentStore* store, runtime::WorkQueue* queue,
                       HealthTracker* health, SourceMetricsSink* metrics)
    : source_(std::move(source)), store_(store), queue_(queue), health_(health),
      metrics_(metrics) {}

void SourceSink::Record(const StoreChange& change) {
  if (metrics_ != nullptr) {
    if (change.added) metrics_->SourceEvent(source_, SourceEventType::kAdded, change.added);
    if (change.modified) metrics_->SourceEvent(source_, SourceEventType::kModified, change.modified);
    if (change.deleted) metrics_->SourceEvent(source_, SourceEventType::kDeleted, change.deleted);
    metrics_->SourceUp(source_, true);
    metrics_->SourceDocuments(source_, store_->DocumentCount(source_));
  }
  if (change.any()) queue_->Add(kRenderKey);
}

void SourceSink::OnSnapshot(absl::string_view prefix, std::vector<Document> docs) {
  const size_t n = docs.size();
  StoreChange change = store_->ReplacePrefix(source_, prefix, std::move(docs));
  LOG_DEBUG("source synced", {{"source", source_}, {"prefix", prefix}, {"documents", n},
                              {"added", change.added}, {"modified", change.modified},
                              {"deleted", change.deleted}});
  if (metrics_ != nullptr) metrics_->SourceEvent(source_, SourceEventType::kRelist, 1);
  health_->Synced(source_, prefix);
  Record(change);
  // The first snapshot of an empty source changes nothing, yet the first
  // render (readiness) must still happen.
  if (!change.any()) queue_->Add(kRenderKey);
}

void SourceSink::OnUpsert(Document doc) {
  health_->Progress(source_);
  Record(store_->Upsert(source_, std::move(doc)));
}

void SourceSink::OnDelete(absl::string_view name) {
  health_->Progress(source_);
  Record(store_->Delete(source_, name));
}

void SourceSink::OnProgress() {
  health_->Progress(source_);
  if (metrics_ != nullptr) {
    metrics_->SourceEvent(source_, SourceEventType::kBookmark, 1);
    metrics_->SourceUp(source_, true);
  }
}

void SourceSink::OnError(const absl::Status& status) {
  LOG_WARN("source error", {{"source", source_}, {"err", status.ToString()}});
  health_->Error(source_, status);
  if (metrics_ != nullptr) {
    metrics_->SourceEvent(source_, SourceEventType::kError, 1);
    metrics_->SourceUp(source_, false);
  }
}

}  // namespace promconf
