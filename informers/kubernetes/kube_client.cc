#include "informers/kubernetes/kube_client.h"

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "informers/kubernetes/kube_objects.h"
#include "util/file.h"
#include "util/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace promconf::kube {

namespace {

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return absl::StrCat(base_dir, "/", path);
}

// Finds the entry named `name` in a kubeconfig list (clusters, users,
// contexts) and returns its `inner` map.
absl::StatusOr<YAML::Node> FindNamed(const YAML::Node& root, const char* list, const char* inner,
                                     const std::string& name, const std::string& path) {
  const YAML::Node entries = root[list];
  if (entries && entries.IsSequence()) {
    for (const YAML::Node& e : entries) {
      if (e["name"] && e["name"].as<std::string>() == name) {
        YAML::Node n = e[inner];
        if (!n || !n.IsMap()) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ": ", list, " entry \"", name, "\" (line ", e.Mark().line + 1, ") has no ",
              inner, " map"));
        }
        return n;
      }
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": no ", list, " entry named \"", name, "\""));
}

std::string Str(const YAML::Node& map, const char* key) {
  const YAML::Node n = map[key];
  if (!n || n.IsNull()) return "";
  return n.as<std::string>();
}

absl::Status DecodeData(const YAML::Node& map, const char* key, const std::string& path,
                        std::string* out) {
  const std::string b64 = Str(map, key);
  if (b64.empty()) return absl::OkStatus();
  if (!absl::Base64Unescape(b64, out)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": line ", map[key].Mark().line + 1,
                                                    ": ", key, " is not valid base64"));
  }
  return absl::OkStatus();
}

absl::StatusOr<KubeRestConfig> ParseKubeconfigOrThrow(absl::string_view yaml,
                                                      const std::string& path,
                                                      const std::string& context_name) {
  const YAML::Node root = YAML::Load(std::string(yaml));
  if (!root || !root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a kubeconfig (no YAML map)"));
  }
  std::string name = context_name;
  if (name.empty()) name = Str(root, "current-context");
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": no current-context and no context configured (set kubernetes.context)"));
  }
  ASSIGN_OR_RETURN(YAML::Node context, FindNamed(root, "contexts", "context", name, path));
  const std::string cluster_name = Str(context, "cluster");
  if (cluster_name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": context \"", name, "\" names no cluster"));
  }
  ASSIGN_OR_RETURN(YAML::Node cluster, FindNamed(root, "clusters", "cluster", cluster_name, path));

  const std::string dir = [&] {
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
  }();

  KubeRestConfig config;
  config.origin = absl::StrCat("kubeconfig ", path, " context ", name);
  config.default_namespace = Str(context, "namespace");
  config.server = std::string(absl::StripSuffix(Str(cluster, "server"), "/"));
  if (config.server.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cluster \"", cluster_name, "\" has no server"));
  }
  RETURN_IF_ERROR(DecodeData(cluster, "certificate-authority-data", path, &config.tls.ca_pem));
  config.tls.ca_file = Resolve(dir, Str(cluster, "certificate-authority"));
  if (cluster["insecure-skip-tls-verify"]) {
    config.tls.insecure_skip_verify = cluster["insecure-skip-tls-verify"].as<bool>();
  }

  const std::string user_name = Str(context, "user");
  if (!user_name.empty()) {
    ASSIGN_OR_RETURN(YAML::Node user, FindNamed(root, "users", "user", user_name, path));
    if (user["exec"] || user["auth-provider"]) {
      return absl::UnimplementedError(absl::StrCat(
          path, ": user \"", user_name,
          "\" uses an exec or auth-provider credential plugin, which promconf does not run; "
          "use a token, tokenFile or client certificate"));
    }
    RETURN_IF_ERROR(DecodeData(user, "client-certificate-data", path, &config.tls.cert_pem));
    RETURN_IF_ERROR(DecodeData(user, "client-key-data", path, &config.tls.key_pem));
    config.tls.cert_file = Resolve(dir, Str(user, "client-certificate"));
    config.tls.key_file = Resolve(dir, Str(user, "client-key"));
    config.token = Str(user, "token");
    config.token_file = Resolve(dir, Str(user, "tokenFile"));
    if ((config.tls.cert_pem.empty() && config.tls.cert_file.empty()) !=
        (config.tls.key_pem.empty() && config.tls.key_file.empty())) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": user \"", user_name, "\" has a client certificate without a key or vice versa"));
    }
  }
  return config;
}

}  // namespace

absl::StatusOr<KubeRestConfig> InClusterConfig(const InClusterPaths& paths) {
  std::string host = paths.host, port = paths.port;
  if (host.empty()) {
    const char* h = std::getenv("KUBERNETES_SERVICE_HOST");
    if (h != nullptr) host = h;
  }
  if (port.empty()) {
    const char* p = std::getenv("KUBERNETES_SERVICE_PORT");
    if (p != nullptr) port = p;
  }
  if (host.empty() || port.empty()) {
    return absl::FailedPreconditionError(
        "in-cluster kubernetes config: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not "
        "set (not running in a pod? set kubernetes.kubeconfig)");
  }
  KubeRestConfig config;
  config.origin = "in-cluster service account";
  // An IPv6 service host needs brackets in a URL.
  if (absl::StrContains(host, ':') && host[0] != '[') host = absl::StrCat("[", host, "]");
  config.server = absl::StrCat("https://", host, ":", port);
  config.token_file = paths.token_file;
  ASSIGN_OR_RETURN(std::string token, ReadSmallFile(paths.token_file, "service account token"));
  (void)token;
  ASSIGN_OR_RETURN(std::string ca, ReadSmallFile(paths.ca_file, "service account CA"));
  config.tls.ca_pem = std::move(ca);
  auto ns = ReadSmallFile(paths.namespace_file, "service account namespace");
  if (ns.ok()) config.default_namespace = std::string(absl::StripAsciiWhitespace(*ns));
  return config;
}

absl::StatusOr<KubeRestConfig> ParseKubeconfig(absl::string_view yaml, const std::string& path,
                                               const std::string& context) {
  try {
    return ParseKubeconfigOrThrow(yaml, path, context);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": line ", e.mark.line + 1, ": ", e.msg));
  }
}

absl::StatusOr<KubeRestConfig> LoadKubeconfig(const std::string& path, const std::string& context) {
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, "kubeconfig"));
  return ParseKubeconfig(text, path, context);
}

KubeCredentials::KubeCredentials(KubeRestConfig config, absl::Duration refresh_interval,
                                 Clock* clock)
    : config_(std::move(config)), refresh_interval_(refresh_interval), clock_(clock) {}

absl::StatusOr<std::string> KubeCredentials::Token() {
  if (config_.token_file.empty()) return config_.token;
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  if (now - read_at_ < refresh_interval_) return token_;
  auto text = ReadSmallFile(config_.token_file, "token file");
  if (!text.ok()) {
    if (token_.empty()) return text.status();
    return token_;  // keep the last good token; retry on the next call
  }
  token_ = std::string(absl::StripAsciiWhitespace(*text));
  read_at_ = now;
  return token_;
}

void KubeCredentials::Invalidate() {
  absl::MutexLock lock(&mu_);
  read_at_ = absl::InfinitePast();
}

KubeClient::KubeClient(std::shared_ptr<KubeCredentials> credentials)
    : credentials_(std::move(credentials)),
      http_(credentials_->config().tls),
      user_agent_("promconf/" PROMCONF_VERSION) {}

void KubeClient::SetUserAgentSuffix(absl::string_view suffix) {
  user_agent_ = absl::StrCat("promconf/" PROMCONF_VERSION " (", suffix, ")");
}

std::string KubeClient::Url(absl::string_view path) const {
  return absl::StrCat(credentials_->config().server, path);
}

absl::StatusOr<HttpRequest> KubeClient::NewRequest(absl::string_view method,
                                                   absl::string_view path) {
  HttpRequest r;
  r.method = std::string(method);
  r.url = Url(path);
  r.headers.emplace_back("Accept", "application/json");
  r.headers.emplace_back("User-Agent", user_agent_);
  if (method != "GET") r.timeout = write_timeout_;
  ASSIGN_OR_RETURN(std::string token, credentials_->Token());
  if (!token.empty()) r.headers.emplace_back("Authorization", absl::StrCat("Bearer ", token));
  return r;
}

absl::StatusOr<HttpResponse> KubeClient::Send(HttpRequest request) {
  ASSIGN_OR_RETURN(HttpResponse response, http_.Do(request));
  if (response.status == 401) credentials_->Invalidate();
  return response;
}

absl::StatusOr<HttpResponse> KubeClient::Get(absl::string_view path, absl::Duration timeout) {
  ASSIGN_OR_RETURN(HttpRequest r, NewRequest("GET", path));
  r.timeout = timeout;
  return Send(std::move(r));
}

absl::StatusOr<HttpResponse> KubeClient::Post(absl::string_view path, absl::string_view json) {
  ASSIGN_OR_RETURN(HttpRequest r, NewRequest("POST", path));
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::string(json);
  return Send(std::move(r));
}

absl::StatusOr<HttpResponse> KubeClient::Put(absl::string_view path, absl::string_view json) {
  ASSIGN_OR_RETURN(HttpRequest r, NewRequest("PUT", path));
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::string(json);
  return Send(std::move(r));
}

absl::StatusOr<HttpResponse> KubeClient::Patch(absl::string_view path, absl::string_view json,
                                               absl::string_view content_type) {
  ASSIGN_OR_RETURN(HttpRequest r, NewRequest("PATCH", path));
  r.headers.emplace_back("Content-Type", std::string(content_type));
  r.body = std::string(json);
  return Send(std::move(r));
}

absl::StatusOr<HttpResponse> KubeClient::Delete(absl::string_view path, absl::string_view json) {
  ASSIGN_OR_RETURN(HttpRequest r, NewRequest("DELETE", path));
  if (!json.empty()) {
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = std::string(json);
  }
  return Send(std::move(r));
}

absl::StatusOr<HttpResponse> KubeClient::Stream(
    absl::string_view path, absl::Duration idle_timeout, absl::Duration timeout,
    const std::function<bool(absl::string_view)>& on_data) {
  ASSIGN_OR_RETURN(HttpRequest r, NewRequest("GET", path));
  r.idle_timeout = idle_timeout;
  r.timeout = timeout;
  ASSIGN_OR_RETURN(HttpResponse response, http_.Stream(r, on_data));
  if (response.status == 401) credentials_->Invalidate();
  return response;
}

std::string DescribeHttpError(const HttpResponse& response) {
  std::string text = absl::StrCat("HTTP ", response.status);
  if (!response.body.empty()) {
    KubeJsonParser parser;
    KubeObject status;
    if (parser.ParseObject(response.body, &status).ok() && !status.message.empty()) {
      absl::StrAppend(&text, ": ", status.message);
    } else {
      absl::StrAppend(&text, ": ", absl::string_view(response.body).substr(0, 200));
    }
  }
  return text;
}

absl::Status HttpStatusError(const HttpResponse& response, absl::string_view what, bool create) {
  std::string text = absl::StrCat(what, ": ", DescribeHttpError(response));
  switch (response.status) {
    case 409:
      return create ? absl::AlreadyExistsError(text) : absl::AbortedError(text);
    case 401:
    case 403:
      return absl::PermissionDeniedError(text);
    case 404:
      return absl::NotFoundError(text);
    case 400:
    case 422:
      return absl::InvalidArgumentError(text);
    default:
      return absl::UnavailableError(text);
  }
}

}  // namespace promconf::kube
