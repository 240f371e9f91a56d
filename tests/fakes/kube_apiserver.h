#pragma once

// A fake Kubernetes API server faithful enough that the real kubectl and
// promconf's Kubernetes source work against it: ConfigMaps, Secrets, Events
// and coordination.k8s.io/v1 Leases with real resourceVersion semantics
// (one monotonic counter; per-object and list RV; 409 on a stale update),
// label selectors, limit/continue paging, watches with bookmarks and a
// bounded history window that answers 410 Gone, TLS with bearer-token auth,
// and fault injection. Thread-safe. Serves on 127.0.0.1 only.
//
// Also runnable stand-alone: tests/fakes/fake_kube_apiserver_main.cc.
//
// Choices worth knowing (see kube_apiserver.cc):
// - A watch from a resourceVersion older than the history window, or newer
//   than the current one (after Restart()), gets HTTP 200 with one ERROR event
//   {code:410, reason:"Expired"}. A list with resourceVersion newer than the
//   current one gets 504 "Too large resource version" as the real apiserver
//   does; a continue token outside the window gets HTTP 410.
// - Watch/list without resourceVersion (or "0") start with synthetic ADDED
//   events; sendInitialEvents=true ends them with the annotated BOOKMARK.
// - Lists are plain JSON, never Table (kubectl falls back to NAME/AGE).
// - Minimal OpenAPI v3 (fieldValidation on PATCH), so plain `kubectl apply -f`
//   works; /openapi/v2 is 404. Every namespace "exists".
// - StallWatches() affects only watches open at the call; later ones work.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace promconf {

class FakeKubeApiServer {
 public:
  struct Options {
    bool tls = true;              // self-signed CA + server cert made at start
    std::string token = "test-token";  // required bearer token; "" = no auth
    int port = 0;                 // 0 = a free port
    // How many past events a watch can resume from; older resourceVersions
    // get 410 Gone (the apiserver keeps ~75 s+ of history).
    int history_events = 1000;
    // Bookmarks are sent this often on watches that asked for them.
    absl::Duration bookmark_interval = absl::Seconds(1);
  };

  static absl::StatusOr<std::unique_ptr<FakeKubeApiServer>> Start(const Options& options);
  ~FakeKubeApiServer();

  std::string url() const;     // "https://127.0.0.1:PORT" (or http://)
  int port() const;
  std::string ca_pem() const;  // the CA that signed the server certificate
  // Writes a kubeconfig (current-context pointing here, token auth, CA data).
  absl::Status WriteKubeconfig(const std::string& path) const;
  void SetToken(const std::string& token);  // token rotation

  // --- objects, as a controller would see them through the API -----------
  absl::Status ApplyConfigMap(const std::string& ns, const std::string& name,
                              const std::map<std::string, std::string>& labels,
                              const std::map<std::string, std::string>& data,
                              const std::map<std::string, std::string>& binary_data = {});
  absl::Status DeleteConfigMap(const std::string& ns, const std::string& name);
  absl::Status ApplySecret(const std::string& ns, const std::string& name,
                           const std::map<std::string, std::string>& labels,
                           const std::map<std::string, std::string>& data /* raw bytes */);
  absl::Status DeleteSecret(const std::string& ns, const std::string& name);
  // JSON of an object ("configmaps", "secrets", "events", "leases"), or NotFound.
  absl::StatusOr<std::string> GetObjectJson(const std::string& resource, const std::string& ns,
                                            const std::string& name) const;
  // Event objects created through the API, as JSON.
  std::vector<std::string> EventsJson() const;
  int64_t resource_version() const;

  // --- fault injection ------------------------------------------------------
  void DropWatches();              // close every open watch stream now
  void StallWatches();             // open watches stop sending, connections stay open
  void ExpireHistory();            // forget history: resumes get 410 (HTTP or ERROR event)
  // The next `count` requests (any path) answer `http_status` (500, 429, 410).
  void FailNextRequests(int http_status, int count);
  // Split every write into pieces of 1..max_bytes bytes (0 = off), flushing each.
  void SplitWrites(int max_bytes);
  // Stops serving and starts again on the same port with the same objects but
  // resourceVersions reset (as after an etcd restore).
  absl::Status Restart();
  // Requests seen so far, "METHOD /path?query" (tests assert on watch params).
  std::vector<std::string> RequestLog() const;

  // Every write through the API that changed the store (create, update,
  // patch, delete), in commit order: who wrote what, when. `who` is the
  // request's User-Agent (promconf sends its leader-election identity there).
  // For Leases, the holder and duration the write left.
  struct WriteRecord {
    absl::Time at;
    std::string method;  // POST|PUT|PATCH|DELETE
    std::string resource, ns, name;
    std::string who;
    int64_t resource_version = 0;
    std::string lease_holder;
    int64_t lease_duration_seconds = 0;
  };
  std::vector<WriteRecord> WriteLog() const;

 private:
  FakeKubeApiServer() = default;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace promconf
