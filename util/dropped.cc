#include "util/dropped.h"

#include <map>

#include "absl/synchronization/mutex.h"

namespace promconf {
namespace {

struct Tally {
  absl::Mutex mu;
  std::map<std::string, uint64_t, std::less<>> counts ABSL_GUARDED_BY(mu) = {
      {kDroppedEvents, 0},  {kDroppedMembers, 0}, {kDroppedNonFragmentDocuments, 0},
      {kDroppedSymlinks, 0}, {kDroppedServices, 0}};
};

Tally& GetTally() {
  // Never destroyed: threads may count while the process exits.
  static Tally* tally = new Tally;
  return *tally;
}

}  // namespace

void CountDropped(absl::string_view what, uint64_t n) {
  Tally& t = GetTally();
  absl::MutexLock lock(&t.mu);
  auto it = t.counts.find(what);
  if (it == t.counts.end()) it = t.counts.emplace(std::string(what), 0).first;
  it->second += n;
}

uint64_t DroppedCount(absl::string_view what) {
  Tally& t = GetTally();
  absl::MutexLock lock(&t.mu);
  auto it = t.counts.find(what);
  return it == t.counts.end() ? 0 : it->second;
}

std::vector<std::pair<std::string, uint64_t>> DroppedCounts() {
  Tally& t = GetTally();
  absl::MutexLock lock(&t.mu);
  return {t.counts.begin(), t.counts.end()};
}

}  // namespace promconf
