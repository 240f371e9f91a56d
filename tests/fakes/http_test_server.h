#pragma once

// A small HTTP/1.1 server for test fakes (the fake Kubernetes API server, the
// fake Consul): routing by method and path prefix, request parsing with
// Content-Length and chunked bodies, keep-alive, chunked streaming responses
// flushed per chunk, optional TLS (OpenSSL), and write splitting for
// fault injection. One thread per connection, bounded by max_connections.
// Serves on 127.0.0.1 only.
//
// Thread-safety: every public method of HttpTestServer is thread-safe.
// An HttpTestResponse belongs to the connection thread running the handler.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace promconf {

// PEM material for a test CA and a server certificate it signed.
struct TestCertificates {
  std::string ca_pem;        // self-signed CA certificate
  std::string ca_key_pem;    // CA private key (to sign more, e.g. client certs)
  std::string cert_pem;      // server certificate
  std::string key_pem;       // server private key
};

// Makes a fresh EC P-256 CA and a server certificate for the given DNS names
// and IP addresses (subjectAltName), valid from an hour ago for 10 days.
absl::StatusOr<TestCertificates> MakeTestCertificates(
    const std::vector<std::string>& dns_names = {"localhost"},
    const std::vector<std::string>& ip_addresses = {"127.0.0.1", "::1"});

struct HttpTestRequest {
  std::string method;  // "GET", ...
  std::string target;  // as sent: "/path?query"
  std::string path;    // percent-decoded path, no query
  std::string query;   // raw query string, no '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::map<std::string, std::string> params;  // decoded query (last value wins)
  std::string body;                           // de-chunked
  int connection_id = 0;

  // First header with this lower-case name, or "".
  absl::string_view Header(absl::string_view lower_name) const;
  bool HasParam(const std::string& name) const { return params.count(name) > 0; }
  // The decoded query parameter, or "".
  std::string Param(const std::string& name) const;
};

class HttpTestServer;

// Writes one response. Either Send() once, or StartChunked() then WriteChunk()
// any number of times and EndChunked(). Every method returns false once the
// connection is gone (peer closed, Abort(), server stopped).
class HttpTestResponse {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  bool Send(int status, absl::string_view content_type, absl::string_view body,
            const Headers& extra_headers = {});
  bool StartChunked(int status, absl::string_view content_type,
                    const Headers& extra_headers = {});
  bool WriteChunk(absl::string_view data);  // one chunk, flushed at once
  bool EndChunked();
  // Closes the connection without finishing the response (a dropped stream).
  void Abort();
  // True when the peer has closed or half-closed the connection. Only
  // meaningful while the client is not expected to send (e.g. during a
  // streaming response). Does not block.
  bool PeerClosed();
  bool ok() const { return ok_; }
  bool started() const { return started_; }

  struct Connection;  // implementation detail
  HttpTestResponse(Connection* conn, bool keep_alive) : conn_(conn), keep_alive_(keep_alive) {}
  bool keep_alive() const { return keep_alive_ && ok_; }

 private:
  bool WriteAll(absl::string_view data);

  Connection* conn_;
  bool keep_alive_;
  bool ok_ = true;
  bool started_ = false;
  bool chunked_ = false;
  bool finished_ = false;
};

class HttpTestServer {
 public:
  struct Options {
    int port = 0;  // 0 = a free port
    // TLS when both are set.
    std::string cert_pem, key_pem;
    int max_connections = 128;  // further connections get 503 and are closed
    // A keep-alive connection with no request for this long is closed.
    absl::Duration idle_timeout = absl::Seconds(60);
    size_t max_body_bytes = 16 << 20;
  };
  using Handler = std::function<void(const HttpTestRequest&, HttpTestResponse&)>;

  explicit HttpTestServer(Options options);
  ~HttpTestServer();  // Stop()
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  // Routes are matched by method ("" = any) and longest path prefix. Add them
  // before Start(). Unmatched requests get 404.
  void Route(const std::string& method, const std::string& path_prefix, Handler handler);

  // Binds (the same port again after a Stop()) and starts accepting.
  absl::Status Start();
  // Closes the listener and every connection, waits for handler threads.
  // Handlers blocked in their own waits must watch stopping().
  void Stop();
  bool stopping() const { return stopping_.load(); }

  int port() const { return port_.load(); }
  bool tls() const { return !options_.cert_pem.empty(); }
  std::string url() const;  // "https://127.0.0.1:PORT" or "http://..."

  // Closes every open connection now (handlers see write failures).
  void CloseAllConnections();
  // Splits every later write into pieces of 1..max_bytes bytes, each sent and
  // flushed separately (0 = off).
  void SplitWrites(int max_bytes) { split_writes_.store(max_bytes); }
  int split_writes() const { return split_writes_.load(); }
  int open_connections() const;

  struct Impl;

 private:
  Options options_;
  std::atomic<int> port_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int> split_writes_{0};
  std::unique_ptr<Impl> impl_;
};

}  // namespace promconf
