#pragma once

// The one interface every backend implements (Envoy's Subscription /
// SubscriptionCallbacks). A Source keeps the backend's state in step and
// reports it through SourceCallbacks, which the consumer (the controller's
// SourceSink) owns.
//
// A new backend plugs in with its protocol and one loop: it owns an
// InformerThread (informers/informer_thread.h), whose Start/Stop are its
// Start/Stop, and writes only the loop (list, watch, report through the
// context's callbacks, BackOff on errors). The runtime keeps the contract
// below (serialised callbacks, none after Stop, clock-based waits); the
// conformance suite (tests/conformance/) checks it for every backend.

#include "absl/strings/string_view.h"
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "informers/document.h"
#include "util/clock.h"

namespace promconf {

// Called from the source's threads, never concurrently for one source, never
// after Source::Stop() returns. Implementations must be quick: store and
// enqueue, no I/O.
class SourceCallbacks {
 public:
  virtual ~SourceCallbacks() = default;

  // The complete current set of documents whose names start with `prefix`
  // (initial sync, re-list, rescan); stored documents under `prefix` that are
  // not in `docs` are deleted. "" is the whole source; a Kubernetes source
  // that watches per namespace passes "<namespace>/". The first call with ""
  // (or one per prefix the source declared, see Source::SyncPrefixes) marks
  // the source synced.
  virtual void OnSnapshot(absl::string_view prefix, std::vector<Document> docs) = 0;
  // One document created or changed.
  virtual void OnUpsert(Document doc) = 0;
  // One document gone.
  virtual void OnDelete(absl::string_view name) = 0;
  // The watch made progress without a change: a bookmark, an etcd progress
  // notification, a Consul blocking query that timed out, a reconnect that
  // found nothing new. Keeps /healthz green.
  virtual void OnProgress() = 0;
  // The backend failed or the watch stalled; the source keeps retrying and
  // the stored documents stay (never render empty because a backend blinked).
  // The next OnSnapshot/OnUpsert/OnDelete/OnProgress means it is back.
  virtual void OnError(const absl::Status& status) = 0;
};

// What a source needs from its host besides its own config block.
struct SourceContext {
  std::string name;                 // the `name:` of the sources[] entry
  Clock* clock = Clock::Real();
  uint64_t max_document_bytes = 1 << 20;  // validation.max_fragment_bytes
  // Documents whose names are not fragments' are dropped at the source and
  // counted, never stored; except for a sidecar's source of published
  // ConfigMaps (output.from_configmap), whose documents are output files.
  bool keep_every_document = false;
};

// The error a factory returns for a config block it can never run:
// InvalidArgument naming the source, `<type> source "<name>": <what>`.
inline absl::Status InvalidSourceConfig(absl::string_view type, const SourceContext& context,
                                        absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(type, " source \"", context.name, "\": ", what));
}

class Source {
 public:
  virtual ~Source() = default;

  // Starts the source's threads and returns at once. An error means the
  // source can never work as configured (unreadable CA file, ...); a backend
  // that is down is reported through OnError and retried, never fatal.
  virtual absl::Status Start(SourceCallbacks* callbacks) = 0;

  // Stops the threads and joins them. Idempotent; no callback runs after it
  // returns.
  virtual void Stop() = 0;

  // The prefixes whose first OnSnapshot together mean "synced". Default: the
  // whole source.
  virtual std::vector<std::string> SyncPrefixes() const { return {""}; }

  // /healthz calls the source stalled when it made no progress (an event, a
  // bookmark or a successful re-list) for this long.
  virtual absl::Duration progress_deadline() const = 0;
};

}  // namespace promconf
