#pragma once

// promconf's one HTTP listener (SPEC "HTTP endpoints", --web.listen-address):
//   /metrics          text format 0.0.4, gzip when the client accepts it
//   /healthz          200 "ok" or 503 naming the stalled source (provider)
//   /readyz           200 "ok" or 503 saying what is missing (provider)
//   /debug/fragments  application/json (provider)
// anything else is 404; methods other than GET and HEAD are 405.
//
// Thread-safe: providers may be set or replaced while serving (the controller
// wires them after the listener is up, so probes answer from the start).
// Stop() (and the destructor) waits for requests in flight; a provider must
// therefore not block on something that waits for Stop().

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "metrics/metrics.h"

struct mg_context;
struct mg_connection;

namespace promconf {

struct HealthReport {
  bool ok = true;
  // The response body: "ok" when healthy, otherwise what is wrong (e.g.
  // "source \"kv\" stalled: no progress for 5m0s").
  std::string body = "ok";
};

class HttpServer {
 public:
  using HealthProvider = std::function<HealthReport()>;
  using JsonProvider = std::function<std::string()>;

  struct Options {
    // Prometheus-style: ":8080" (every interface), "127.0.0.1:0" (a free
    // port, see port()), "[::1]:9100", "localhost:8080".
    std::string listen_address = ":8080";
    int num_threads = 4;
  };

  // Binds and starts serving. `metrics` must outlive the server; it may be
  // null (then /metrics is 404).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const Options& options,
                                                           const Metrics* metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the real one when the address asked for port 0).
  int port() const { return port_; }
  // "http://127.0.0.1:<port>" or the bound host; handy for tests and logs.
  std::string url() const;

  // Until set: /healthz is 200 "ok", /readyz is 503 "not ready: starting",
  // /debug/fragments is "[]".
  void SetHealthProvider(HealthProvider provider);
  void SetReadyProvider(HealthProvider provider);
  void SetFragmentsProvider(JsonProvider provider);

  // Stops accepting, waits for requests in flight. Idempotent.
  void Stop();

  // Translates a Prometheus-style listen address into civetweb's
  // listening_ports syntax ("8080", "127.0.0.1:0", "[::1]:9100"). Exposed for
  // tests.
  static absl::StatusOr<std::string> ToCivetwebPorts(absl::string_view listen_address);

 private:
  HttpServer(const Metrics* metrics) : metrics_(metrics) {}
  static int HandleRequest(mg_connection* conn, void* self);
  int Handle(mg_connection* conn);

  // Constant after construction.
  const Metrics* const metrics_;
  int port_ = 0;
  std::string host_;

  absl::Mutex mu_;
  HealthProvider health_ ABSL_GUARDED_BY(mu_);
  HealthProvider ready_ ABSL_GUARDED_BY(mu_);
  JsonProvider fragments_ ABSL_GUARDED_BY(mu_);

  absl::Mutex stop_mu_;
  mg_context* ctx_ ABSL_GUARDED_BY(stop_mu_) = nullptr;
};

// Gzip-compresses `data` (RFC 1952). Exposed for tests.
absl::StatusOr<std::string> GzipCompress(absl::string_view data);
// Inverse of GzipCompress (tests).
absl::StatusOr<std::string> GzipDecompress(absl::string_view data);

}  // namespace promconf
