#pragma once

// Connection settings for the Kubernetes API (in-cluster service account or
// kubeconfig) and a small JSON client over util/http_client.h. The source's
// reflectors use it, and so will controller mode (publishing ConfigMaps,
// Events, the leader-election Lease) through the same settings.
//
// KubeCredentials is thread-safe and shared; KubeClient is thread-compatible:
// one per thread (it owns an HttpClient and its kept-alive connection), except
// Cancel(), which any thread may call.

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "util/clock.h"
#include "util/http_client.h"

namespace promconf::kube {

// Where a pod finds its service account. Injectable for tests.
struct InClusterPaths {
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
  // Empty: read $KUBERNETES_SERVICE_HOST / $KUBERNETES_SERVICE_PORT.
  std::string host, port;
};

// Everything needed to talk to one API server.
struct KubeRestConfig {
  std::string server;  // "https://host:port", no trailing slash
  TlsOptions tls;
  std::string token;       // a static bearer token
  std::string token_file;  // re-read periodically (bound tokens rotate); wins over token
  std::string default_namespace;  // the context's or the pod's namespace, if known
  // Where these settings came from, for error messages.
  std::string origin;
};

// The in-cluster service account. Errors name the missing file or variable.
absl::StatusOr<KubeRestConfig> InClusterConfig(const InClusterPaths& paths = {});

// Parses a kubeconfig file: `context` or current-context, its cluster's
// server, certificate-authority(-data), insecure-skip-tls-verify, its user's
// client-certificate(-data), client-key(-data), token, tokenFile. Relative
// paths are resolved against the kubeconfig's directory. Errors name the file
// and the missing or bad key; exec/auth-provider users are rejected clearly.
absl::StatusOr<KubeRestConfig> LoadKubeconfig(const std::string& path,
                                              const std::string& context = "");
// Same, from YAML text (`path` only names it in errors and anchors relative paths).
absl::StatusOr<KubeRestConfig> ParseKubeconfig(absl::string_view yaml, const std::string& path,
                                               const std::string& context = "");

// The bearer token, re-read from token_file when older than refresh_interval
// (or on demand after a 401). Thread-safe.
class KubeCredentials {
 public:
  KubeCredentials(KubeRestConfig config, absl::Duration refresh_interval = absl::Minutes(1),
                  Clock* clock = Clock::Real());

  const KubeRestConfig& config() const { return config_; }
  // The current token ("" = none). A token file that cannot be read keeps
  // the last good token and returns the error only when there never was one.
  absl::StatusOr<std::string> Token();
  // Forces the next Token() to re-read the file (after a 401).
  void Invalidate();

 private:
  // Constant after construction.
  const KubeRestConfig config_;
  const absl::Duration refresh_interval_;
  Clock* const clock_;

  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time read_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

class KubeClient {
 public:
  explicit KubeClient(std::shared_ptr<KubeCredentials> credentials);

  // path starts with "/" ("/api/v1/namespaces/x/configmaps?..."). Any HTTP
  // status is a response; transport failures are errors naming the URL.
  absl::StatusOr<HttpResponse> Get(absl::string_view path,
                                   absl::Duration timeout = absl::Seconds(60));
  absl::StatusOr<HttpResponse> Post(absl::string_view path, absl::string_view json);
  absl::StatusOr<HttpResponse> Put(absl::string_view path, absl::string_view json);
  // Content type: application/merge-patch+json unless given.
  absl::StatusOr<HttpResponse> Patch(absl::string_view path, absl::string_view json,
                                     absl::string_view content_type = "application/merge-patch+json");
  // `json`: DeleteOptions (preconditions), or "" for none.
  absl::StatusOr<HttpResponse> Delete(absl::string_view path, absl::string_view json = "");
  // Streams a 2xx body to on_data (a watch); see HttpClient::Stream.
  absl::StatusOr<HttpResponse> Stream(absl::string_view path, absl::Duration idle_timeout,
                                      absl::Duration timeout,
                                      const std::function<bool(absl::string_view)>& on_data);

  std::string Url(absl::string_view path) const;
  // "promconf/VERSION (suffix)": names this replica in the API server's audit
  // log (controller mode sends its leader-election identity). Call before use.
  void SetUserAgentSuffix(absl::string_view suffix);
  // The timeout of Post/Put/Patch/Delete (default 30 s). Call before use.
  void SetWriteTimeout(absl::Duration timeout) { write_timeout_ = timeout; }
  const std::shared_ptr<KubeCredentials>& credentials() const { return credentials_; }

  // Thread-safe: aborts the request in flight and all later ones.
  void Cancel() { http_.Cancel(); }

 private:
  absl::StatusOr<HttpRequest> NewRequest(absl::string_view method, absl::string_view path);
  absl::StatusOr<HttpResponse> Send(HttpRequest request);

  std::shared_ptr<KubeCredentials> credentials_;
  HttpClient http_;
  std::string user_agent_;
  absl::Duration write_timeout_ = absl::Seconds(30);
};

// "401 Unauthorized: <Status message>" from a non-2xx response (the body's
// Status message when it has one).
std::string DescribeHttpError(const HttpResponse& response);

// A non-2xx answer to a write as a status: "<what>: <DescribeHttpError>".
// 409 is AlreadyExists on a create and Aborted (a lost optimistic-concurrency
// race) otherwise; 401/403 PermissionDenied, 404 NotFound, 400/422
// InvalidArgument, anything else Unavailable (retry).
absl::Status HttpStatusError(const HttpResponse& response, absl::string_view what,
                             bool create = false);

}  // namespace promconf::kube
