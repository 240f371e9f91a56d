#pragma once

// One list+watch loop over one resource (configmaps or secrets) in one
// namespace or all of them: client-go's reflector. Internal to the
// Kubernetes source; exposed for its tests. Thread-compatible: Run() on one
// thread, Cancel() from any.

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "informers/document.h"
#include "informers/kubernetes/kube_client.h"
#include "informers/kubernetes/kube_objects.h"
#include "informers/kubernetes/kubernetes_source.h"
#include "informers/kubernetes/watch_stream_decoder.h"
#include "util/backoff.h"  // Backoff: the one every source uses
#include "util/clock.h"

namespace promconf::kube {

enum class KubeResource { kConfigMaps, kSecrets };
const char* KubeResourceName(KubeResource r);  // "configmaps", "secrets"

// "/api/v1/configmaps" or "/api/v1/namespaces/NS/configmaps".
std::string KubeResourcePath(absl::string_view ns, KubeResource resource);
// Query strings (without '?'); empty values are left out.
std::string KubeListQuery(absl::string_view label_selector, int limit,
                          absl::string_view resource_version, absl::string_view continue_token);
std::string KubeWatchQuery(absl::string_view label_selector, absl::string_view resource_version,
                           int64_t timeout_seconds);

// Document name and origin of one key (see kubernetes_source.h).
std::string KubeDocumentName(KubeResource r, absl::string_view ns, absl::string_view name,
                             absl::string_view key);

// Where a reflector reports; implemented by the source, which merges the
// reflectors of one namespace and serializes the callbacks.
class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  // A complete list. `changed` indexes the docs that differ from the
  // reflector's previous state; `removed` names documents gone since.
  virtual void OnListed(int group, int member, std::vector<Document> docs,
                        const std::vector<size_t>& changed, std::vector<std::string> removed) = 0;
  virtual void OnChanges(int group, int member, std::vector<Document> upserts,
                         std::vector<std::string> deletes) = 0;
  virtual void OnProgress(int group) = 0;
  virtual void OnError(const absl::Status& status) = 0;
};

class Reflector {
 public:
  struct Options {
    std::string source_name;
    std::string namespace_;  // "" = all namespaces
    KubeResource resource = KubeResource::kConfigMaps;
    std::string label_selector;
    uint64_t max_document_bytes = 1 << 20;
    // SourceContext::keep_every_document.
    bool keep_every_document = false;
    int group = 0, member = 0;
  };

  Reflector(Options options, const KubernetesSourceTuning& tuning,
            std::shared_ptr<KubeCredentials> credentials, ReflectorSink* sink, Clock* clock,
            absl::Notification* stop, uint64_t seed);

  // Lists and watches until *stop is notified.
  void Run();
  // Thread-safe: aborts the request in flight (Run then sees *stop).
  void Cancel() { client_.Cancel(); }

 private:
  // What one list or watch attempt ended with.
  struct Outcome {
    enum Kind {
      kOk,          // list done
      kEnded,       // watch stream ended cleanly: re-watch
      kGone,        // 410: re-list (consistent)
      kRewatch,     // error; back off, re-watch from rv_
      kRelist,      // error; back off, re-list
      kStopped,
    };
    Outcome() = default;
    Outcome(Kind k, absl::Status e = absl::OkStatus()) : kind(k), error(std::move(e)) {}
    Kind kind = kOk;
    absl::Status error;
    absl::Duration min_delay = absl::ZeroDuration();  // Retry-After, auth
  };
  // Per object: its keys and a hash of each value, sorted by key; enough to
  // tell which documents a MODIFIED or a re-list changed without keeping a
  // second copy of the data.
  using KeyHashes = std::vector<std::pair<std::string, uint64_t>>;

  Outcome List(bool consistent);
  Outcome Watch();
  // Applies one decoded watch object; a non-OK status ends the stream.
  absl::Status HandleEvent(absl::string_view json);
  Outcome FromResponse(const HttpResponse& response, const std::string& url, bool watch);
  // Documents of one object, and their key hashes.
  void ObjectDocs(const KubeObject& object, std::vector<Document>* docs, KeyHashes* hashes) const;
  std::string ObjectId(const KubeObject& object) const;
  void Sleep(absl::Duration d);
  bool stopping() const { return stop_->HasBeenNotified(); }

  // Constant after construction.
  const Options options_;
  const KubernetesSourceTuning tuning_;
  const std::string path_;
  ReflectorSink* const sink_;
  Clock* const clock_;
  absl::Notification* const stop_;

  // Run()'s thread only.
  KubeClient client_;
  KubeJsonParser parser_;
  WatchStreamDecoder decoder_;
  Backoff backoff_;
  std::mt19937_64 rng_;
  std::string rv_;
  absl::flat_hash_map<std::string, KeyHashes> objects_;
  // Set by HandleEvent when the stream must end (ERROR event, bad JSON).
  Outcome stream_verdict_;
  bool stream_stopped_ = false;
  int stream_events_ = 0;
  WatchEvent event_;
};

}  // namespace promconf::kube
