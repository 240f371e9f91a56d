#include "informers/etcd/etcd_protocol.h"

#include <simdjson.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "util/json.h"

namespace promconf::etcd {

std::string EtcdPrefixRangeEnd(absl::string_view prefix) {
  std::string end(prefix);
  for (size_t i = end.size(); i > 0; --i) {
    unsigned char c = static_cast<unsigned char>(end[i - 1]);
    if (c < 0xff) {
      end[i - 1] = static_cast<char>(c + 1);
      end.resize(i);
      return end;
    }
  }
  return std::string(1, '\0');
}

std::string EtcdBase64Encode(absl::string_view raw) { return absl::Base64Escape(raw); }

absl::StatusOr<std::string> EtcdBase64Decode(absl::string_view encoded) {
  std::string out;
  if (!absl::Base64Unescape(encoded, &out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd: bad base64 \"", absl::CHexEscape(encoded.substr(0, 64)), "\""));
  }
  return out;
}

std::string EtcdRangeRequestBody(absl::string_view key, absl::string_view range_end,
                                 int64_t limit, int64_t revision) {
  std::string body = absl::StrCat("{\"key\":", JsonString(EtcdBase64Encode(key)),
                                  ",\"range_end\":", JsonString(EtcdBase64Encode(range_end)));
  if (limit > 0) absl::StrAppend(&body, ",\"limit\":", limit);
  if (revision > 0) absl::StrAppend(&body, ",\"revision\":", revision);
  body += "}";
  return body;
}

std::string EtcdWatchRequestBody(absl::string_view key, absl::string_view range_end,
                                 int64_t start_revision) {
  return absl::StrCat("{\"create_request\":{\"key\":", JsonString(EtcdBase64Encode(key)),
                      ",\"range_end\":", JsonString(EtcdBase64Encode(range_end)),
                      ",\"start_revision\":", start_revision,
                      ",\"progress_notify\":true,\"prev_kv\":false}}");
}

std::string EtcdAuthRequestBody(absl::string_view name, absl::string_view password) {
  return absl::StrCat("{\"name\":", JsonString(name), ",\"password\":", JsonString(password), "}");
}

namespace {

// The gateway renders int64 as JSON strings ("revision":"5"); accept numbers too.
bool ReadInt64(simdjson::dom::element e, int64_t* out) {
  if (e.is_int64()) {
    *out = e.get_int64().value_unsafe();
    return true;
  }
  if (e.is_uint64()) {
    *out = static_cast<int64_t>(e.get_uint64().value_unsafe());
    return true;
  }
  if (e.is_string()) {
    std::string_view s = e.get_string().value_unsafe();
    return absl::SimpleAtoi(absl::string_view(s.data(), s.size()), out);
  }
  return false;
}

int64_t FieldInt64(simdjson::dom::object o, std::string_view key) {
  simdjson::dom::element e;
  int64_t v = 0;
  if (o[key].get(e) == simdjson::SUCCESS) ReadInt64(e, &v);
  return v;
}

bool FieldBool(simdjson::dom::object o, std::string_view key) {
  bool b = false;
  if (o[key].get(b) != simdjson::SUCCESS) return false;
  return b;
}

std::string FieldString(simdjson::dom::object o, std::string_view key) {
  std::string_view s;
  if (o[key].get(s) != simdjson::SUCCESS) return "";
  return std::string(s);
}

absl::Status ParseKeyValue(simdjson::dom::object o, EtcdKeyValue* kv) {
  auto key = EtcdBase64Decode(FieldString(o, "key"));
  if (!key.ok()) return key.status();
  auto value = EtcdBase64Decode(FieldString(o, "value"));
  if (!value.ok()) return value.status();
  kv->key = std::move(*key);
  kv->value = std::move(*value);
  kv->mod_revision = FieldInt64(o, "mod_revision");
  return absl::OkStatus();
}

absl::StatusOr<simdjson::dom::object> ParseObject(simdjson::dom::parser& parser,
                                                  absl::string_view text, const char* what) {
  simdjson::padded_string padded(text.data(), text.size());
  simdjson::dom::element root;
  // parse() copies into the parser's own buffer when given a padded_string's
  // view, so the result stays valid after `padded` dies.
  auto err = parser.parse(padded).get(root);
  if (err != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat("etcd: bad JSON in ", what, ": ",
                                                   simdjson::error_message(err)));
  }
  simdjson::dom::object o;
  if (root.get(o) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat("etcd: ", what, " is not a JSON object"));
  }
  return o;
}

bool IsTokenError(int grpc_code, absl::string_view message) {
  return grpc_code == 16 || absl::StrContains(message, "invalid auth token") ||
         absl::StrContains(message, "auth token is expired") ||
         absl::StrContains(message, "user name is empty");
}

// Unary error body: {"error":"...","message":"...","code":N}.
bool ReadUnaryError(simdjson::dom::object o, EtcdGatewayError* err) {
  simdjson::dom::element e;
  if (o["error"].get(e) != simdjson::SUCCESS) return false;
  err->grpc_code = static_cast<int>(FieldInt64(o, "code"));
  err->message = FieldString(o, "message");
  if (err->message.empty() && e.is_string()) err->message = std::string(e.get_string().value_unsafe());
  return true;
}

}  // namespace

absl::Status EtcdErrorStatus(long http_status, absl::string_view body, absl::string_view what) {
  EtcdGatewayError err;
  simdjson::dom::parser parser;
  auto o = ParseObject(parser, body, "error response");
  if (o.ok()) ReadUnaryError(*o, &err);
  if (err.message.empty()) err.message = std::string(absl::StripAsciiWhitespace(body.substr(0, 200)));
  std::string msg = absl::StrCat(what, ": HTTP ", http_status, " (grpc code ", err.grpc_code,
                                 "): ", err.message);
  if (http_status == 401 || IsTokenError(err.grpc_code, err.message)) {
    return absl::UnauthenticatedError(msg);
  }
  if (err.grpc_code == 11 || absl::StrContains(err.message, "compacted")) {
    return absl::OutOfRangeError(msg);
  }
  if (err.grpc_code == 7 || http_status == 403) return absl::PermissionDeniedError(msg);
  return absl::UnavailableError(msg);
}

absl::StatusOr<EtcdRangeResponse> ParseEtcdRangeResponse(absl::string_view body) {
  simdjson::dom::parser parser;
  auto o = ParseObject(parser, body, "range response");
  if (!o.ok()) return o.status();
  EtcdGatewayError gerr;
  if (ReadUnaryError(*o, &gerr)) return EtcdErrorStatus(200, body, "etcd range");
  EtcdRangeResponse r;
  simdjson::dom::object header;
  if ((*o)["header"].get(header) == simdjson::SUCCESS) {
    r.header_revision = FieldInt64(header, "revision");
  }
  r.more = FieldBool(*o, "more");
  simdjson::dom::array kvs;
  if ((*o)["kvs"].get(kvs) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : kvs) {
      simdjson::dom::object kvo;
      if (e.get(kvo) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError("etcd: range response kvs[] entry is not an object");
      }
      EtcdKeyValue kv;
      absl::Status s = ParseKeyValue(kvo, &kv);
      if (!s.ok()) return s;
      r.kvs.push_back(std::move(kv));
    }
  }
  return r;
}

absl::StatusOr<std::string> ParseEtcdAuthResponse(absl::string_view body) {
  simdjson::dom::parser parser;
  auto o = ParseObject(parser, body, "authenticate response");
  if (!o.ok()) return o.status();
  EtcdGatewayError gerr;
  if (ReadUnaryError(*o, &gerr)) return EtcdErrorStatus(200, body, "etcd authenticate");
  std::string token = FieldString(*o, "token");
  if (token.empty()) return absl::UnavailableError("etcd authenticate: response has no token");
  return token;
}

absl::StatusOr<EtcdWatchResponse> ParseEtcdWatchResponse(absl::string_view object) {
  simdjson::dom::parser parser;
  auto o = ParseObject(parser, object, "watch stream");
  if (!o.ok()) return o.status();
  EtcdWatchResponse w;
  simdjson::dom::element errel;
  if ((*o)["error"].get(errel) == simdjson::SUCCESS) {
    w.is_error = true;
    simdjson::dom::object eo;
    if (errel.get(eo) == simdjson::SUCCESS) {
      w.error.grpc_code = static_cast<int>(FieldInt64(eo, "grpc_code"));
      if (w.error.grpc_code == 0) w.error.grpc_code = static_cast<int>(FieldInt64(eo, "code"));
      w.error.message = FieldString(eo, "message");
    } else if (errel.is_string()) {
      w.error.grpc_code = static_cast<int>(FieldInt64(*o, "code"));
      w.error.message = std::string(errel.get_string().value_unsafe());
    }
    return w;
  }
  simdjson::dom::object res;
  if ((*o)["result"].get(res) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("etcd: watch stream object has neither result nor error");
  }
  simdjson::dom::object header;
  if (res["header"].get(header) == simdjson::SUCCESS) {
    w.header_revision = FieldInt64(header, "revision");
  }
  w.created = FieldBool(res, "created");
  w.canceled = FieldBool(res, "canceled");
  w.compact_revision = FieldInt64(res, "compact_revision");
  w.cancel_reason = FieldString(res, "cancel_reason");
  simdjson::dom::array events;
  if (res["events"].get(events) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : events) {
      simdjson::dom::object eo, kvo;
      if (e.get(eo) != simdjson::SUCCESS || eo["kv"].get(kvo) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError("etcd: watch event without kv");
      }
      EtcdEvent ev;
      ev.is_delete = FieldString(eo, "type") == "DELETE";
      absl::Status s = ParseKeyValue(kvo, &ev.kv);
      if (!s.ok()) return s;
      w.events.push_back(std::move(ev));
    }
  }
  return w;
}

absl::Status WatchStreamDecoder::Feed(absl::string_view chunk, std::vector<std::string>* out) {
  while (!chunk.empty()) {
    size_t nl = chunk.find('\n');
    absl::string_view piece = chunk.substr(0, nl);
    if (partial_.size() + piece.size() > max_object_bytes_) {
      partial_.clear();
      return absl::ResourceExhaustedError(absl::StrCat(
          "etcd: watch stream object larger than ", max_object_bytes_, " bytes"));
    }
    partial_.append(piece.data(), piece.size());
    if (nl == absl::string_view::npos) break;
    chunk.remove_prefix(nl + 1);
    if (!absl::StripAsciiWhitespace(partial_).empty()) out->push_back(std::move(partial_));
    partial_.clear();
  }
  return absl::OkStatus();
}

void EtcdRevisionTracker::ObserveHeader(int64_t header_revision) {
  highest_seen_ = std::max(highest_seen_, header_revision);
}

void EtcdRevisionTracker::ObserveSnapshot(int64_t revision) {
  applied_ = revision;
  highest_seen_ = revision;
}

void EtcdRevisionTracker::ObserveEventApplied(int64_t mod_revision) {
  applied_ = std::max(applied_, mod_revision);
  highest_seen_ = std::max(highest_seen_, mod_revision);
}

void EtcdRevisionTracker::ObserveProgress(int64_t header_revision) {
  applied_ = std::max(applied_, header_revision);
  highest_seen_ = std::max(highest_seen_, header_revision);
}

}  // namespace promconf::etcd
