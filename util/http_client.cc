#include "util/http_client.h"

#include <curl/curl.h>

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace promconf {

namespace {

void GlobalInit() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

constexpr size_t kMaxErrorBody = 1 << 20;

}  // namespace

absl::string_view HttpResponse::Header(absl::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return {};
}

struct HttpClient::Transfer {
  HttpResponse response;
  const std::function<bool(absl::string_view)>* on_data = nullptr;  // null: buffer
  const std::atomic<bool>* cancelled = nullptr;
  absl::Duration idle_timeout;
  absl::Time last_byte;
  bool idle_expired = false;
  bool consumer_stopped = false;
};

HttpClient::HttpClient(TlsOptions tls) : tls_(std::move(tls)) {
  GlobalInit();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

absl::StatusOr<HttpResponse> HttpClient::Do(const HttpRequest& request) {
  Transfer t;
  return Perform(request, &t);
}

absl::StatusOr<HttpResponse> HttpClient::Stream(
    const HttpRequest& request, const std::function<bool(absl::string_view)>& on_data) {
  Transfer t;
  t.on_data = &on_data;
  return Perform(request, &t);
}

namespace {

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<HttpClient::Transfer*>(user);
  absl::string_view line(data, size * n);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (after a redirect or 100-continue) starts over. The
    // status is known before the first body byte: OnBody needs it to tell a
    // stream from an error body.
    t->response.headers.clear();
    size_t sp = line.find(' ');
    if (sp != absl::string_view::npos && line.size() >= sp + 4) {
      t->response.status = std::strtol(std::string(line.substr(sp + 1, 3)).c_str(), nullptr, 10);
    }
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    t->response.headers.emplace_back(std::move(name), std::string(value));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<HttpClient::Transfer*>(user);
  const size_t len = size * n;
  t->last_byte = absl::Now();
  if (t->on_data != nullptr && t->response.status >= 200 && t->response.status < 300) {
    if (!(*t->on_data)(absl::string_view(data, len))) {
      t->consumer_stopped = true;
      return 0;  // aborts the transfer
    }
    return len;
  }
  if (t->response.body.size() + len > kMaxErrorBody && t->on_data != nullptr) return len;
  t->response.body.append(data, len);
  return len;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<HttpClient::Transfer*>(user);
  if (t->cancelled->load()) return 1;
  if (t->idle_timeout > absl::ZeroDuration() && absl::Now() - t->last_byte > t->idle_timeout) {
    t->idle_expired = true;
    return 1;
  }
  return 0;
}

}  // namespace

absl::StatusOr<HttpResponse> HttpClient::Perform(const HttpRequest& request, Transfer* t) {
  const std::string what = absl::StrCat(request.method, " ", request.url);
  if (curl_ == nullptr) return absl::InternalError(absl::StrCat(what, ": curl_easy_init failed"));
  if (cancelled_.load()) return absl::CancelledError(absl::StrCat(what, ": cancelled"));
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  t->cancelled = &cancelled_;
  t->idle_timeout = request.idle_timeout;
  t->last_byte = absl::Now();

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(request.connect_timeout)));
  if (request.timeout > absl::ZeroDuration()) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(request.timeout)));
  }
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // any encoding curl can decode

  if (request.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }

  struct curl_slist* headers = nullptr;
  for (const auto& [k, v] : request.headers) {
    headers = curl_slist_append(headers, absl::StrCat(k, ": ", v).c_str());
  }
  // libcurl adds "Expect: 100-continue" to big POSTs; servers and fakes gain
  // nothing from the extra round trip.
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

  struct curl_blob ca{}, cert{}, key{};
  if (!tls_.ca_pem.empty()) {
    ca = {const_cast<char*>(tls_.ca_pem.data()), tls_.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  } else if (!tls_.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, tls_.ca_file.c_str());
  }
  if (!tls_.cert_pem.empty()) {
    cert = {const_cast<char*>(tls_.cert_pem.data()), tls_.cert_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (!tls_.cert_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, tls_.cert_file.c_str());
  }
  if (!tls_.key_pem.empty()) {
    key = {const_cast<char*>(tls_.key_pem.data()), tls_.key_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (!tls_.key_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLKEY, tls_.key_file.c_str());
  }
  if (tls_.insecure_skip_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code != 0) t->response.status = code;

  if (rc == CURLE_OK) return std::move(t->response);
  if (t->idle_expired) {
    return absl::DeadlineExceededError(absl::StrCat(
        what, ": no data for ", absl::FormatDuration(request.idle_timeout), " (idle deadline)"));
  }
  if (t->consumer_stopped || cancelled_.load()) {
    return absl::CancelledError(absl::StrCat(what, ": cancelled"));
  }
  std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": ", detail));
  }
  absl::Status status = absl::UnavailableError(absl::StrCat(what, ": ", detail));
  if (rc == CURLE_COULDNT_CONNECT) status.SetPayload(kNothingListeningPayload, absl::Cord("1"));
  return status;
}

bool IsNothingListening(const absl::Status& status) {
  return status.GetPayload(kNothingListeningPayload).has_value();
}

std::string UrlEncode(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char ch : s) {
    if (absl::ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(kHex[ch >> 4]);
      out.push_back(kHex[ch & 15]);
    }
  }
  return out;
}

}  // namespace promconf
