#pragma once

// promconf_dropped_total{what}: every degraded path (a payload skipped, an
// Event dropped, a document refused at the source) both logs at warn and
// counts itself here (Envoy's rule). A process-wide tally because the paths
// live in libraries below metrics/ (informers/ must not depend on it);
// Metrics exposes it at every scrape. Thread-safe.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace promconf {

// The `what` values promconf uses; all of them are exposed from the start
// at zero so that rate() and absent() behave from the first scrape.
inline constexpr char kDroppedEvents[] = "events";  // Kubernetes Events, queue full
inline constexpr char kDroppedMembers[] = "members";  // serverset members skipped
inline constexpr char kDroppedNonFragmentDocuments[] = "non_fragment_documents";
inline constexpr char kDroppedSymlinks[] = "symlinks";  // pointing outside watched folders
inline constexpr char kDroppedServices[] = "services";  // Consul catalog entries skipped

void CountDropped(absl::string_view what, uint64_t n = 1);

// The current total for `what` (0 if never counted).
uint64_t DroppedCount(absl::string_view what);

// Every `what` with its total, sorted by `what`; the known ones always.
std::vector<std::pair<std::string, uint64_t>> DroppedCounts();

}  // namespace promconf
