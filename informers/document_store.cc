#include "informers/document_store.h"

#include <algorithm>

#include "absl/strings/match.h"

namespace promconf {

DocumentStore::DocumentStore(std::vector<std::string> sources)
    : order_(std::move(sources)), docs_(order_.size()) {}

DocumentStore::DocMap* DocumentStore::Find(absl::string_view source) {
  for (size_t i = 0; i < order_.size(); ++i) {
    if (order_[i] == source) return &docs_[i];
  }
  return nullptr;
}

StoreChange DocumentStore::ReplacePrefix(absl::string_view source, absl::string_view prefix,
                                         std::vector<Document> docs) {
  absl::MutexLock lock(&mu_);
  StoreChange change;
  DocMap* map = Find(source);
  if (map == nullptr) return change;
  std::stable_sort(docs.begin(), docs.end(),
            [](const Document& a, const Document& b) { return a.name < b.name; });
  const uint64_t next = generation_ + 1;
  // Walk the old range [prefix...) and the new sorted list together.
  auto it = prefix.empty() ? map->begin() : map->lower_bound(prefix);
  auto in_range = [&](DocMap::iterator i) {
    return i != map->end() && absl::StartsWith(i->first, prefix);
  };
  size_t d = 0;
  while (d < docs.size() || in_range(it)) {
    if (d < docs.size() && !absl::StartsWith(docs[d].name, prefix)) {
      ++d;  // a source bug; never let it escape its prefix
      continue;
    }
    if (d < docs.size() && d + 1 < docs.size() && docs[d].name == docs[d + 1].name) {
      ++d;  // duplicate name: the later one wins
      continue;
    }
    int cmp = !in_range(it) ? -1 : d >= docs.size() ? 1 : docs[d].name.compare(it->first);
    if (cmp < 0) {
      std::string name = docs[d].name;
      map->emplace_hint(it, std::move(name),
                        std::make_shared<const StoredDocument>(StoredDocument{std::move(docs[d]), next}));
      ++change.added;
      ++d;
    } else if (cmp > 0) {
      it = map->erase(it);
      ++change.deleted;
    } else {
      if (!(it->second->doc == docs[d])) {
        it->second = std::make_shared<const StoredDocument>(StoredDocument{std::move(docs[d]), next});
        ++change.modified;
      }
      ++it;
      ++d;
    }
  }
  if (change.any()) {
    generation_ = next;
    cached_.reset();
  }
  return change;
}

StoreChange DocumentStore::Upsert(absl::string_view source, Document doc) {
  absl::MutexLock lock(&mu_);
  StoreChange change;
  DocMap* map = Find(source);
  if (map == nullptr) return change;
  auto it = map->find(doc.name);
  if (it != map->end() && it->second->doc == doc) return change;
  const uint64_t next = ++generation_;
  cached_.reset();
  auto stored = std::make_shared<const StoredDocument>(StoredDocument{doc, next});
  if (it == map->end()) {
    map->emplace(doc.name, std::move(stored));
    change.added = 1;
  } else {
    it->second = std::move(stored);
    change.modified = 1;
  }
  return change;
}

StoreChange DocumentStore::Delete(absl::string_view source, absl::string_view name) {
  absl::MutexLock lock(&mu_);
  StoreChange change;
  DocMap* map = Find(source);
  if (map == nullptr) return change;
  auto it = map->find(name);
  if (it == map->end()) return change;
  map->erase(it);
  ++generation_;
  cached_.reset();
  change.deleted = 1;
  return change;
}

std::shared_ptr<const StoreSnapshot> DocumentStore::Snapshot() const {
  absl::MutexLock lock(&mu_);
  if (cached_ != nullptr) return cached_;
  auto snap = std::make_shared<StoreSnapshot>();
  snap->generation = generation_;
  snap->sources.resize(order_.size());
  for (size_t i = 0; i < order_.size(); ++i) {
    snap->sources[i].name = order_[i];
    snap->sources[i].docs.reserve(docs_[i].size());
    for (const auto& [name, doc] : docs_[i]) snap->sources[i].docs.push_back(doc);
  }
  cached_ = std::move(snap);
  return cached_;
}

uint64_t DocumentStore::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

size_t DocumentStore::DocumentCount(absl::string_view source) const {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < order_.size(); ++i) {
    if (order_[i] == source) return docs_[i].size();
  }
  return 0;
}

}  // namespace promconf
