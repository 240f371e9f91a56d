#pragma once

// The shared cache every informer writes and the reconciler reads: per source,
// the current documents by name. Thread-safe. Documents are immutable and
// shared, so a snapshot costs pointers, not bytes.

#include "absl/strings/string_view.h"
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "informers/document.h"

namespace promconf {

struct StoredDocument {
  Document doc;
  // Store generation at which this version was written: the reconciler uses
  // (source, name, version) to skip re-parsing unchanged documents.
  uint64_t version = 0;
};

struct StoreSnapshot {
  struct Source {
    std::string name;
    // Sorted by document name.
    std::vector<std::shared_ptr<const StoredDocument>> docs;
  };
  uint64_t generation = 0;
  // In config order: source order breaks ties between fragments.
  std::vector<Source> sources;
};

struct StoreChange {
  int added = 0;
  int modified = 0;
  int deleted = 0;
  bool any() const { return added + modified + deleted > 0; }
};

class DocumentStore {
 public:
  // `sources` in config order.
  explicit DocumentStore(std::vector<std::string> sources);

  // Replaces every document of `source` whose name starts with `prefix`.
  // Identical documents keep their version.
  StoreChange ReplacePrefix(absl::string_view source, absl::string_view prefix,
                            std::vector<Document> docs);
  StoreChange Upsert(absl::string_view source, Document doc);
  StoreChange Delete(absl::string_view source, absl::string_view name);

  // A consistent view of all sources. Cached until the next change.
  std::shared_ptr<const StoreSnapshot> Snapshot() const;

  uint64_t generation() const;
  size_t DocumentCount(absl::string_view source) const;

 private:
  using DocMap = std::map<std::string, std::shared_ptr<const StoredDocument>, std::less<>>;
  DocMap* Find(absl::string_view source) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  // Constant after construction: the source order.
  const std::vector<std::string> order_;
  std::vector<DocMap> docs_ ABSL_GUARDED_BY(mu_);  // parallel to order_
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  mutable std::shared_ptr<const StoreSnapshot> cached_ ABSL_GUARDED_BY(mu_);
};

}  // namespace promconf
