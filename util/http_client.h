#pragma once

// A small libcurl client shared by the reloader and every HTTP backend
// (Kubernetes, etcd's JSON gateway, Consul). Thread-compatible: use one
// HttpClient per thread; it keeps its connection alive between requests.
// Cancel() is the one method that is safe to call from another thread.

#include "absl/strings/string_view.h"
#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace promconf {

struct TlsOptions {
  // Files, or PEM text (the *_pem fields win when both are set; kubeconfig's
  // *-data fields end up there).
  std::string ca_file, ca_pem;
  std::string cert_file, cert_pem;
  std::string key_file, key_pem;
  bool insecure_skip_verify = false;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Whole-request deadline; zero means none (watch streams).
  absl::Duration timeout = absl::Seconds(30);
  absl::Duration connect_timeout = absl::Seconds(10);
  // Abort when no body byte arrived for this long; zero means none. This is
  // what catches a watch whose connection died without a FIN.
  absl::Duration idle_timeout = absl::ZeroDuration();
};

struct HttpResponse {
  long status = 0;
  // Header names lower-cased.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // First header with this (lower-case) name, or "".
  absl::string_view Header(absl::string_view lower_name) const;
};

class HttpClient {
 public:
  explicit HttpClient(TlsOptions tls = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request and buffers the whole body. Transport failures are
  // kUnavailable, timeouts kDeadlineExceeded, Cancel() kCancelled; every
  // message names the method and URL. Any HTTP status is a response, not an
  // error: callers decide what 4xx/5xx mean.
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request);

  // Like Do, but a 2xx body is handed to on_data as it arrives (chunk
  // boundaries fall anywhere) instead of being buffered; a non-2xx body is
  // buffered into the response. Returns when the server ends the stream, on
  // error, on Cancel(), or when on_data returns false (kCancelled). An idle
  // timeout is kDeadlineExceeded.
  absl::StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                      const std::function<bool(absl::string_view)>& on_data);

  // Aborts the request in flight, and every later one until Reset().
  // Thread-safe. Takes effect within about a second (libcurl's progress tick).
  void Cancel() { cancelled_.store(true); }
  void Reset() { cancelled_.store(false); }

  void set_tls(TlsOptions tls) { tls_ = std::move(tls); }

  struct Transfer;  // implementation detail of the libcurl callbacks

 private:
  absl::StatusOr<HttpResponse> Perform(const HttpRequest& request, Transfer* transfer);

  TlsOptions tls_;
  void* curl_ = nullptr;  // CURL*, kept for connection reuse
  std::atomic<bool> cancelled_{false};
};

// Percent-encodes for a URL query value.
std::string UrlEncode(absl::string_view s);

// Marks the status of a request no server accepted (curl's
// CURLE_COULDNT_CONNECT: refused, no route): nothing listens there. Callers
// that wrap the status keep its payloads.
inline constexpr char kNothingListeningPayload[] = "promconf/http/nothing-listening";
bool IsNothingListening(const absl::Status& status);

}  // namespace promconf
