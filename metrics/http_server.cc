#include "metrics/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netdb.h>
#include <sys/socket.h>
#include <zlib.h>

#include <unistd.h>

#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "util/log.h"

namespace promconf {

namespace {

constexpr char kTextFormat[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kPlain[] = "text/plain; charset=utf-8";
constexpr char kJson[] = "application/json";

void InitCivetweb() {
  static const bool done = [] {
    mg_init_library(0);
    return true;
  }();
  (void)done;
}

int LogCivetwebMessage(const mg_connection*, const char* message) {
  LOG_DEBUG("civetweb", {{"message", message}});
  return 1;  // handled: keep civetweb from writing to stderr
}

// Whether an Accept-Encoding header value allows gzip ("gzip;q=0" does not).
bool AcceptsGzip(const char* header) {
  if (header == nullptr) return false;
  for (absl::string_view part : absl::StrSplit(header, ',')) {
    std::vector<absl::string_view> params = absl::StrSplit(part, ';');
    absl::string_view coding = absl::StripAsciiWhitespace(params[0]);
    if (!absl::EqualsIgnoreCase(coding, "gzip") && coding != "*") continue;
    bool zero = false;
    for (size_t i = 1; i < params.size(); ++i) {
      absl::string_view p = absl::StripAsciiWhitespace(params[i]);
      if (absl::ConsumePrefix(&p, "q=")) {
        double q = 1;
        zero = absl::SimpleAtod(p, &q) && q <= 0;
      }
    }
    if (!zero) return true;
  }
  return false;
}

void Respond(mg_connection* conn, int status, const char* content_type, absl::string_view body,
             bool gzip, bool head) {
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", content_type, -1);
  const std::string length = absl::StrCat(body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  if (gzip) mg_response_header_add(conn, "Content-Encoding", "gzip", -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  mg_response_header_send(conn);
  if (!head && !body.empty()) mg_write(conn, body.data(), body.size());
}

}  // namespace

absl::StatusOr<std::string> GzipCompress(absl::string_view data) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return absl::InternalError("gzip: deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, data.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return absl::InternalError(absl::StrCat("gzip: deflate returned ", rc));
  out.resize(zs.total_out);
  return out;
}

absl::StatusOr<std::string> GzipDecompress(absl::string_view data) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return absl::InternalError("gunzip: inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof(buf) - zs.avail_out);
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return absl::InvalidArgumentError(absl::StrCat("gunzip: error ", rc));
  return out;
}

absl::StatusOr<std::string> HttpServer::ToCivetwebPorts(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", address, "\": want host:port, e.g. \":8080\""));
  }
  absl::string_view host = address.substr(0, colon);
  absl::string_view port_text = address.substr(colon + 1);
  int port = -1;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", address, "\": bad port \"", port_text, "\""));
  }
  if (host.empty() || host == "0.0.0.0") return absl::StrCat(port);
  if (host == "localhost") return absl::StrCat("127.0.0.1:", port);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    std::string literal(host.substr(1, host.size() - 2));
    in6_addr a6;
    if (inet_pton(AF_INET6, literal.c_str(), &a6) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("listen address \"", address, "\": bad IPv6 address"));
    }
    return absl::StrCat("[", literal, "]:", port);
  }
  const std::string h(host);
  in_addr a4;
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) return absl::StrCat(h, ":", port);
  // A host name: listen on the first address it resolves to.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(h.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("listen address \"", address,
                                                   "\": cannot resolve host: ", gai_strerror(rc)));
  }
  char text[INET6_ADDRSTRLEN] = {0};
  std::string out;
  if (res->ai_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, text, sizeof(text));
    out = absl::StrCat(text, ":", port);
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, text,
              sizeof(text));
    out = absl::StrCat("[", text, "]:", port);
  }
  freeaddrinfo(res);
  return out;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const Options& options,
                                                              const Metrics* metrics) {
  InitCivetweb();
  absl::StatusOr<std::string> ports = ToCivetwebPorts(options.listen_address);
  if (!ports.ok()) return ports.status();
  std::unique_ptr<HttpServer> server(new HttpServer(metrics));

  const std::string threads = absl::StrCat(options.num_threads < 1 ? 1 : options.num_threads);
  const char* config[] = {"listening_ports", ports->c_str(),
                          "num_threads", threads.c_str(),
                          "request_timeout_ms", "10000",
                          "enable_keep_alive", "yes",
                          "keep_alive_timeout_ms", "30000",
                          nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = &LogCivetwebMessage;
  mg_init_data init{&callbacks, server.get(), config};
  char error_text[256] = {0};
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  mg_context* ctx = mg_start2(&init, &error);
  if (ctx == nullptr) {
    return absl::UnavailableError(absl::StrCat("listen on ", options.listen_address, ": ",
                                               error_text[0] != '\0' ? error_text : "failed"));
  }
  mg_set_request_handler(ctx, "/", &HttpServer::HandleRequest, server.get());

  mg_server_port bound[4];
  std::memset(bound, 0, sizeof(bound));
  const int n = mg_get_server_ports(ctx, 4, bound);
  if (n >= 1) server->port_ = bound[0].port;
  const size_t colon = ports->rfind(':');
  server->host_ = colon == std::string::npos ? "127.0.0.1" : ports->substr(0, colon);
  {
    absl::MutexLock lock(&server->stop_mu_);
    server->ctx_ = ctx;
  }
  LOG_INFO("listening", {{"address", options.listen_address}, {"port", server->port_}});
  return server;
}

HttpServer::~HttpServer() { Stop(); }

// Opens and closes a TCP connection to host:port ("127.0.0.1" or "[::1]").
static void PokeListener(const std::string& host, int port) {
  const bool v6 = absl::StartsWith(host, "[");
  std::string literal = v6 ? host.substr(1, host.size() - 2) : host;
  if (literal == "::") literal = "::1";
  if (literal == "0.0.0.0") literal = "127.0.0.1";
  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, literal.c_str(), &a.sin6_addr) == 1) {
      connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    }
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, literal.c_str(), &a.sin_addr) == 1) {
      connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    }
  }
  close(fd);
}

void HttpServer::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (ctx_ == nullptr) return;
  // civetweb's master thread notices the stop flag only between polls of the
  // listening sockets, which time out after 2 s. Connecting wakes it at once.
  mg_context* ctx = ctx_;
  absl::Notification stopped;
  std::thread stopper([ctx, &stopped] {
    mg_stop(ctx);
    stopped.Notify();
  });
  for (int i = 0; i < 600 && !stopped.WaitForNotificationWithTimeout(absl::Milliseconds(5));
       ++i) {
    PokeListener(host_, port_);
  }
  stopper.join();
  ctx_ = nullptr;
}

std::string HttpServer::url() const { return absl::StrCat("http://", host_, ":", port_); }

void HttpServer::SetHealthProvider(HealthProvider provider) {
  absl::MutexLock lock(&mu_);
  health_ = std::move(provider);
}

void HttpServer::SetReadyProvider(HealthProvider provider) {
  absl::MutexLock lock(&mu_);
  ready_ = std::move(provider);
}

void HttpServer::SetFragmentsProvider(JsonProvider provider) {
  absl::MutexLock lock(&mu_);
  fragments_ = std::move(provider);
}

int HttpServer::HandleRequest(mg_connection* conn, void* self) {
  return static_cast<HttpServer*>(self)->Handle(conn);
}

int HttpServer::Handle(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  const absl::string_view method = info->request_method ? info->request_method : "";
  const absl::string_view path = info->local_uri ? info->local_uri : "";
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    mg_response_header_start(conn, 405);
    mg_response_header_add(conn, "Allow", "GET, HEAD", -1);
    mg_response_header_add(conn, "Content-Type", kPlain, -1);
    mg_response_header_add(conn, "Content-Length", "19", -1);
    mg_response_header_send(conn);
    if (!head) mg_write(conn, "method not allowed\n", 19);
    return 405;
  }

  if (path == "/metrics" && metrics_ != nullptr) {
    const std::string text = metrics_->ExpositionText();
    if (AcceptsGzip(mg_get_header(conn, "Accept-Encoding"))) {
      absl::StatusOr<std::string> gz = GzipCompress(text);
      if (gz.ok()) {
        Respond(conn, 200, kTextFormat, *gz, /*gzip=*/true, head);
        return 200;
      }
      LOG_WARN("gzip of /metrics failed; serving it uncompressed",
               {{"error", gz.status().ToString()}});
    }
    Respond(conn, 200, kTextFormat, text, false, head);
    return 200;
  }

  if (path == "/healthz" || path == "/readyz") {
    HealthProvider provider;
    {
      absl::MutexLock lock(&mu_);
      provider = path == "/healthz" ? health_ : ready_;
    }
    HealthReport report;
    if (provider) {
      report = provider();
    } else if (path == "/readyz") {
      report = {false, "not ready: starting"};
    }
    std::string body = report.body;
    if (body.empty() || body.back() != '\n') body.push_back('\n');
    const int status = report.ok ? 200 : 503;
    Respond(conn, status, kPlain, body, false, head);
    return status;
  }

  if (path == "/debug/fragments") {
    JsonProvider provider;
    {
      absl::MutexLock lock(&mu_);
      provider = fragments_;
    }
    const std::string body = provider ? provider() : "[]";
    Respond(conn, 200, kJson, body, false, head);
    return 200;
  }

  Respond(conn, 404, kPlain, "404 page not found\n", false, head);
  return 404;
}

}  // namespace promconf
