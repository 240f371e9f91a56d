#include "tests/fakes/http_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

namespace promconf {
namespace {

std::string OpenSslError(absl::string_view what) {
  std::string msg(what);
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    msg += ": ";
    msg += buf;
  }
  return msg;
}

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

bool AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

absl::StatusOr<X509Ptr> NewCert(EVP_PKEY* key, const std::string& cn) {
  X509Ptr cert(X509_new());
  if (!cert) return absl::InternalError(OpenSslError("X509_new"));
  X509_set_version(cert.get(), 2);
  unsigned char serial[8];
  if (RAND_bytes(serial, sizeof(serial)) != 1) return absl::InternalError("RAND_bytes");
  serial[0] &= 0x7f;  // positive
  uint64_t s = 0;
  for (unsigned char b : serial) s = (s << 8) | b;
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), s | 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("promconf tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

std::string CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n);
}

std::string KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(absl::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

const char* Reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

}  // namespace

absl::StatusOr<TestCertificates> MakeTestCertificates(const std::vector<std::string>& dns_names,
                                                      const std::vector<std::string>& ips) {
  PkeyPtr ca_key(EVP_EC_gen("P-256"));
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!ca_key || !key) return absl::InternalError(OpenSslError("EVP_EC_gen"));

  auto ca_or = NewCert(ca_key.get(), "promconf test CA");
  if (!ca_or.ok()) return ca_or.status();
  X509Ptr ca = std::move(ca_or).value();
  X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get()));
  if (!AddExt(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE") ||
      !AddExt(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") ||
      !AddExt(ca.get(), ca.get(), NID_subject_key_identifier, "hash")) {
    return absl::InternalError(OpenSslError("CA extensions"));
  }
  if (X509_sign(ca.get(), ca_key.get(), EVP_sha256()) == 0) {
    return absl::InternalError(OpenSslError("X509_sign CA"));
  }

  auto cert_or = NewCert(key.get(), dns_names.empty() ? "127.0.0.1" : dns_names[0]);
  if (!cert_or.ok()) return cert_or.status();
  X509Ptr cert = std::move(cert_or).value();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  std::vector<std::string> sans;
  for (const auto& d : dns_names) sans.push_back("DNS:" + d);
  for (const auto& ip : ips) sans.push_back("IP:" + ip);
  if (!AddExt(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !AddExt(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
      !AddExt(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth,clientAuth") ||
      !AddExt(cert.get(), ca.get(), NID_subject_key_identifier, "hash") ||
      !AddExt(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always") ||
      (!sans.empty() &&
       !AddExt(cert.get(), ca.get(), NID_subject_alt_name, absl::StrJoin(sans, ",")))) {
    return absl::InternalError(OpenSslError("server certificate extensions"));
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
    return absl::InternalError(OpenSslError("X509_sign server"));
  }
  TestCertificates out;
  out.ca_pem = CertPem(ca.get());
  out.ca_key_pem = KeyPem(ca_key.get());
  out.cert_pem = CertPem(cert.get());
  out.key_pem = KeyPem(key.get());
  return out;
}

absl::string_view HttpTestRequest::Header(absl::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return {};
}

std::string HttpTestRequest::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

// ---------------------------------------------------------------------------

struct HttpTestResponse::Connection {
  HttpTestServer* server = nullptr;
  HttpTestServer::Impl* impl = nullptr;
  int fd = -1;
  SSL* ssl = nullptr;
  int id = 0;
  std::string buffer;  // bytes read but not yet consumed
  std::minstd_rand rng{12345};
  std::atomic<bool> closed{false};
  std::atomic<bool> done{false};
  std::thread thread;

  // Sends all of data in one go (no splitting). False on failure.
  bool SendRaw(const char* data, size_t n) {
    while (n > 0) {
      if (closed.load()) return false;
      if (ssl != nullptr) {
        int w = SSL_write(ssl, data, static_cast<int>(std::min<size_t>(n, 1 << 30)));
        if (w <= 0) return false;
        data += w;
        n -= static_cast<size_t>(w);
      } else {
        ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        data += w;
        n -= static_cast<size_t>(w);
      }
    }
    return true;
  }

  // Reads more bytes into buffer. Returns false on EOF, error, stop, or when
  // no byte arrived before the deadline.
  bool ReadMore(absl::Time deadline);
};

struct HttpTestServer::Impl {
  struct RouteEntry {
    std::string method, prefix;
    Handler handler;
  };
  std::vector<RouteEntry> routes;  // set before Start

  SSL_CTX* ssl_ctx = nullptr;
  int listen_fd = -1;
  std::thread accept_thread;

  mutable absl::Mutex mu;
  std::list<std::unique_ptr<HttpTestResponse::Connection>> conns ABSL_GUARDED_BY(mu);
  int next_id ABSL_GUARDED_BY(mu) = 1;

  void AcceptLoop(HttpTestServer* server);
  void Serve(HttpTestServer* server, HttpTestResponse::Connection* conn);
  void Dispatch(const HttpTestRequest& req, HttpTestResponse& resp);
  void ReapDone() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (auto it = conns.begin(); it != conns.end();) {
      if ((*it)->done.load()) {
        if ((*it)->thread.joinable()) (*it)->thread.join();
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  }
};

bool HttpTestResponse::Connection::ReadMore(absl::Time deadline) {
  char buf[16384];
  for (;;) {
    if (closed.load() || server->stopping()) return false;
    if (ssl == nullptr || SSL_pending(ssl) == 0) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd p{fd, POLLIN, 0};
      int ms = static_cast<int>(std::min<int64_t>(100, absl::ToInt64Milliseconds(left) + 1));
      int r = ::poll(&p, 1, ms);
      if (r < 0 && errno != EINTR) return false;
      if (r <= 0) continue;
    }
    if (ssl != nullptr) {
      int n = SSL_read(ssl, buf, sizeof(buf));
      if (n <= 0) {
        int err = SSL_get_error(ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) continue;
        return false;
      }
      buffer.append(buf, static_cast<size_t>(n));
      return true;
    }
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    buffer.append(buf, static_cast<size_t>(n));
    return true;
  }
}

bool HttpTestResponse::WriteAll(absl::string_view data) {
  if (!ok_) return false;
  int split = conn_->server->split_writes();
  if (split <= 0) {
    ok_ = conn_->SendRaw(data.data(), data.size());
    return ok_;
  }
  size_t pos = 0;
  while (pos < data.size()) {
    size_t piece = 1 + conn_->rng() % static_cast<unsigned>(split);
    piece = std::min(piece, data.size() - pos);
    if (!conn_->SendRaw(data.data() + pos, piece)) {
      ok_ = false;
      return false;
    }
    pos += piece;
  }
  return true;
}

bool HttpTestResponse::Send(int status, absl::string_view content_type, absl::string_view body,
                            const Headers& extra_headers) {
  if (started_) return false;
  started_ = true;
  finished_ = true;
  std::string head = absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\n");
  if (!content_type.empty()) absl::StrAppend(&head, "Content-Type: ", content_type, "\r\n");
  absl::StrAppend(&head, "Content-Length: ", body.size(), "\r\n");
  for (const auto& [k, v] : extra_headers) absl::StrAppend(&head, k, ": ", v, "\r\n");
  if (!keep_alive_) head += "Connection: close\r\n";
  head += "\r\n";
  if (conn_->server->split_writes() > 0) {
    head.append(body.data(), body.size());
    return WriteAll(head);
  }
  return WriteAll(head) && WriteAll(body);
}

bool HttpTestResponse::StartChunked(int status, absl::string_view content_type,
                                    const Headers& extra_headers) {
  if (started_) return false;
  started_ = true;
  chunked_ = true;
  std::string head = absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\n");
  if (!content_type.empty()) absl::StrAppend(&head, "Content-Type: ", content_type, "\r\n");
  head += "Transfer-Encoding: chunked\r\n";
  for (const auto& [k, v] : extra_headers) absl::StrAppend(&head, k, ": ", v, "\r\n");
  if (!keep_alive_) head += "Connection: close\r\n";
  head += "\r\n";
  return WriteAll(head);
}

bool HttpTestResponse::WriteChunk(absl::string_view data) {
  if (!chunked_ || finished_) return false;
  if (data.empty()) return ok_;  // an empty chunk would end the body
  std::string frame = absl::StrCat(absl::Hex(data.size()), "\r\n");
  frame.append(data.data(), data.size());
  frame += "\r\n";
  return WriteAll(frame);
}

bool HttpTestResponse::EndChunked() {
  if (!chunked_ || finished_) return false;
  finished_ = true;
  return WriteAll("0\r\n\r\n");
}

void HttpTestResponse::Abort() {
  ok_ = false;
  keep_alive_ = false;
  conn_->closed.store(true);
  ::shutdown(conn_->fd, SHUT_RDWR);
}

bool HttpTestResponse::PeerClosed() {
  if (!ok_ || conn_->closed.load()) return true;
  pollfd p{conn_->fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------

HttpTestServer::HttpTestServer(Options options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  port_.store(options_.port);
}

HttpTestServer::~HttpTestServer() {
  Stop();
  if (impl_->ssl_ctx != nullptr) SSL_CTX_free(impl_->ssl_ctx);
}

void HttpTestServer::Route(const std::string& method, const std::string& path_prefix,
                           Handler handler) {
  impl_->routes.push_back({method, path_prefix, std::move(handler)});
  std::stable_sort(impl_->routes.begin(), impl_->routes.end(),
                   [](const Impl::RouteEntry& a, const Impl::RouteEntry& b) {
                     return a.prefix.size() > b.prefix.size();
                   });
}

std::string HttpTestServer::url() const {
  return absl::StrCat(tls() ? "https" : "http", "://127.0.0.1:", port());
}

int HttpTestServer::open_connections() const {
  absl::MutexLock l(&impl_->mu);
  int n = 0;
  for (const auto& c : impl_->conns) n += c->done.load() ? 0 : 1;
  return n;
}

absl::Status HttpTestServer::Start() {
  if (impl_->listen_fd >= 0) return absl::FailedPreconditionError("already started");
  ::signal(SIGPIPE, SIG_IGN);  // SSL_write on a closed socket
  if (tls() && impl_->ssl_ctx == nullptr) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr) return absl::InternalError(OpenSslError("SSL_CTX_new"));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    BioPtr cert_bio(BIO_new_mem_buf(options_.cert_pem.data(),
                                    static_cast<int>(options_.cert_pem.size())));
    X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    BioPtr key_bio(BIO_new_mem_buf(options_.key_pem.data(),
                                   static_cast<int>(options_.key_pem.size())));
    PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!cert || !key || SSL_CTX_use_certificate(ctx, cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
      SSL_CTX_free(ctx);
      return absl::InvalidArgumentError(OpenSslError("server certificate/key"));
    }
    impl_->ssl_ctx = ctx;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port_.load()));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 128) != 0) {
    int e = errno;
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("bind/listen 127.0.0.1:", port_.load(), ": ", strerror(e)));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port_.store(ntohs(addr.sin_port));
  impl_->listen_fd = fd;
  stopping_.store(false);
  impl_->accept_thread = std::thread([this] { impl_->AcceptLoop(this); });
  return absl::OkStatus();
}

void HttpTestServer::Stop() {
  if (impl_->listen_fd < 0) return;
  stopping_.store(true);
  ::shutdown(impl_->listen_fd, SHUT_RDWR);
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  ::close(impl_->listen_fd);
  impl_->listen_fd = -1;
  CloseAllConnections();
  std::list<std::unique_ptr<HttpTestResponse::Connection>> conns;
  {
    absl::MutexLock l(&impl_->mu);
    conns.swap(impl_->conns);
  }
  for (auto& c : conns) {
    if (c->thread.joinable()) c->thread.join();
  }
}

void HttpTestServer::CloseAllConnections() {
  absl::MutexLock l(&impl_->mu);
  for (auto& c : impl_->conns) {
    if (!c->done.load()) {
      c->closed.store(true);
      ::shutdown(c->fd, SHUT_RDWR);
    }
  }
}

void HttpTestServer::Impl::AcceptLoop(HttpTestServer* server) {
  while (!server->stopping()) {
    pollfd p{listen_fd, POLLIN, 0};
    int r = ::poll(&p, 1, 100);
    if (r <= 0) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto conn = std::make_unique<HttpTestResponse::Connection>();
    conn->server = server;
    conn->impl = this;
    conn->fd = fd;
    absl::MutexLock l(&mu);
    ReapDone();
    conn->id = next_id++;
    conn->rng.seed(static_cast<unsigned>(conn->id) * 7919u + 17u);
    int open = 0;
    for (const auto& c : conns) open += c->done.load() ? 0 : 1;
    if (open >= server->options_.max_connections) {
      if (ssl_ctx == nullptr) {
        static const char kBusy[] =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)::send(fd, kBusy, sizeof(kBusy) - 1, MSG_NOSIGNAL);
      }
      ::close(fd);
      continue;
    }
    HttpTestResponse::Connection* raw = conn.get();
    conns.push_back(std::move(conn));
    raw->thread = std::thread([this, server, raw] { Serve(server, raw); });
  }
}

void HttpTestServer::Impl::Dispatch(const HttpTestRequest& req, HttpTestResponse& resp) {
  for (const auto& r : routes) {
    if (!r.method.empty() && r.method != req.method) continue;
    if (req.path.compare(0, r.prefix.size(), r.prefix) != 0) continue;
    r.handler(req, resp);
    if (!resp.started()) resp.Send(500, "text/plain", "handler sent no response\n");
    return;
  }
  resp.Send(404, "text/plain", "404 page not found\n");
}

void HttpTestServer::Impl::Serve(HttpTestServer* server, HttpTestResponse::Connection* conn) {
  const Options& opt = server->options_;
  bool ok = true;
  if (ssl_ctx != nullptr) {
    conn->ssl = SSL_new(ssl_ctx);
    SSL_set_fd(conn->ssl, conn->fd);
    // Blocking handshake, bounded by a receive timeout.
    timeval tv{10, 0};
    ::setsockopt(conn->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (SSL_accept(conn->ssl) != 1) ok = false;
    tv = {0, 0};
    ::setsockopt(conn->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ERR_clear_error();
  }
  while (ok && !server->stopping() && !conn->closed.load()) {
    // Headers.
    absl::Time deadline = absl::Now() + opt.idle_timeout;
    size_t header_end;
    while ((header_end = conn->buffer.find("\r\n\r\n")) == std::string::npos) {
      if (conn->buffer.size() > 64 * 1024 || !conn->ReadMore(deadline)) {
        ok = false;
        break;
      }
      deadline = absl::Now() + absl::Seconds(30);  // the rest of a started request
    }
    if (!ok) break;
    std::string head = conn->buffer.substr(0, header_end);
    conn->buffer.erase(0, header_end + 4);

    HttpTestRequest req;
    req.connection_id = conn->id;
    std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
    std::vector<std::string> first = absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
    HttpTestResponse bad(conn, false);
    if (first.size() != 3 || first[2].rfind("HTTP/1.", 0) != 0) {
      bad.Send(400, "text/plain", "malformed request line\n");
      break;
    }
    req.method = first[0];
    req.target = first[1];
    bool http10 = first[2] == "HTTP/1.0";
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
      std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      req.headers.emplace_back(std::move(name), std::move(value));
    }
    size_t q = req.target.find('?');
    req.path = PercentDecode(req.target.substr(0, q), false);
    if (q != std::string::npos) {
      req.query = req.target.substr(q + 1);
      for (absl::string_view kv : absl::StrSplit(req.query, '&', absl::SkipEmpty())) {
        size_t eq = kv.find('=');
        std::string k = PercentDecode(kv.substr(0, eq), true);
        std::string v = eq == absl::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1), true);
        req.params[k] = v;
      }
    }
    std::string connection = absl::AsciiStrToLower(req.Header("connection"));
    bool keep_alive = http10 ? connection == "keep-alive" : connection != "close";

    if (absl::AsciiStrToLower(req.Header("expect")) == "100-continue") {
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!conn->SendRaw(kContinue, sizeof(kContinue) - 1)) break;
    }
    // Body.
    deadline = absl::Now() + absl::Seconds(30);
    std::string te = absl::AsciiStrToLower(req.Header("transfer-encoding"));
    if (te.find("chunked") != std::string::npos) {
      for (;;) {
        size_t eol;
        while ((eol = conn->buffer.find("\r\n")) == std::string::npos) {
          if (!conn->ReadMore(deadline)) { ok = false; break; }
        }
        if (!ok) break;
        std::string size_line = conn->buffer.substr(0, eol);
        size_line = size_line.substr(0, size_line.find(';'));
        size_t size = std::strtoull(size_line.c_str(), nullptr, 16);
        conn->buffer.erase(0, eol + 2);
        if (size == 0) {
          // Trailers until an empty line.
          for (;;) {
            while ((eol = conn->buffer.find("\r\n")) == std::string::npos) {
              if (!conn->ReadMore(deadline)) { ok = false; break; }
            }
            if (!ok) break;
            bool empty = eol == 0;
            conn->buffer.erase(0, eol + 2);
            if (empty) break;
          }
          break;
        }
        if (req.body.size() + size > opt.max_body_bytes) { ok = false; break; }
        while (conn->buffer.size() < size + 2) {
          if (!conn->ReadMore(deadline)) { ok = false; break; }
        }
        if (!ok) break;
        req.body.append(conn->buffer, 0, size);
        conn->buffer.erase(0, size + 2);
      }
      if (!ok) break;
    } else {
      size_t length = 0;
      absl::string_view cl = req.Header("content-length");
      if (!cl.empty() && !absl::SimpleAtoi(cl, &length)) {
        bad.Send(400, "text/plain", "bad Content-Length\n");
        break;
      }
      if (length > opt.max_body_bytes) {
        bad.Send(413, "text/plain", "body too large\n");
        break;
      }
      while (conn->buffer.size() < length) {
        if (!conn->ReadMore(deadline)) { ok = false; break; }
      }
      if (!ok) break;
      req.body = conn->buffer.substr(0, length);
      conn->buffer.erase(0, length);
    }

    HttpTestResponse resp(conn, keep_alive);
    Dispatch(req, resp);
    if (!resp.keep_alive()) break;
  }
  if (conn->ssl != nullptr) {
    if (!conn->closed.load()) SSL_shutdown(conn->ssl);
    SSL_free(conn->ssl);
    conn->ssl = nullptr;
    ERR_clear_error();
  }
  conn->closed.store(true);
  ::shutdown(conn->fd, SHUT_RDWR);
  {
    // Close under the lock: CloseAllConnections() must never shutdown() a
    // descriptor number that has been reused.
    absl::MutexLock l(&mu);
    ::close(conn->fd);
    conn->done.store(true);
  }
}

}  // namespace promconf
