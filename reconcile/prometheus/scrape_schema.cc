#include "reconcile/prometheus/scrape_schema.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <set>
#include <vector>

#include <re2/re2.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "reconcile/prometheus/values.h"
#include "util/json.h"

namespace promconf::prom {

std::string PromVersion::ToString() const { return absl::StrCat(major, ".", minor); }

absl::StatusOr<PromVersion> ParsePromVersion(absl::string_view text) {
  if (text.empty()) return kNewestSupportedVersion;
  absl::string_view t = text;
  if (absl::StartsWith(t, "v")) t.remove_prefix(1);
  std::vector<absl::string_view> parts = absl::StrSplit(t, '.');
  PromVersion v;
  if (parts.size() < 2 || parts.size() > 3 || !absl::SimpleAtoi(parts[0], &v.major) ||
      !absl::SimpleAtoi(parts[1], &v.minor) || v.major < 0 || v.minor < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a Prometheus version such as 2.42 or 3.1"));
  }
  if (v < kOldestSupportedVersion || kNewestSupportedVersion < v) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Prometheus ", v.ToString(), " is outside the supported range ",
        kOldestSupportedVersion.ToString(), " to ", kNewestSupportedVersion.ToString()));
  }
  return v;
}

namespace {

constexpr PromVersion kAlways = kOldestSupportedVersion;
constexpr PromVersion kNever{999, 0};
constexpr PromVersion V(int major, int minor) { return PromVersion{major, minor}; }

class Walker;

enum class Kind {
  kObject,
  kList,
  kMap,
  kString,
  kSecret,
  kSecretRef,  // *_ref: a name in a secret manager, which Prometheus never configures
  kBool,
  kUint,
  kInt,
  kFloat,
  kDuration,
  kSize,
  kUrl,
  kFile,         // a path on the Prometheus host
  kTargetsFile,  // file_sd_configs files: a glob on the Prometheus host
  kEnum,
  kLabelName,
  kRegex,
};

// Cross-field rules of an object, run after its fields passed; false after
// Walker::Fail.
using Rule = bool (*)(const YamlSubsetNode& obj, Walker& w);

struct Type;

struct Field {
  absl::string_view name;
  const Type* type;
  PromVersion since = kAlways;   // first release that knows the key
  PromVersion removed = kNever;  // first release that no longer does
};

struct Type {
  Kind kind = Kind::kString;
  std::string name;           // kObject: as messages and FileFieldPaths say it
  std::vector<Field> fields;  // kObject
  const Type* elem = nullptr;  // kList, kMap values
  bool label_keys = false;     // kMap: keys are label names
  std::vector<absl::string_view> values;  // kEnum
  std::vector<PromVersion> value_since;   // kEnum, parallel to values
  bool fold_case = false;                  // kEnum: compared lowercased
  Rule rule = nullptr;                     // kObject, kMap
  bool inlines_http = false;               // kObject: HTTPClientConfig's rules apply
};

// ---- the walker -------------------------------------------------------------

bool IsLegacyLabelName(absl::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (!(absl::ascii_isalpha(c) || c == '_' || (i > 0 && absl::ascii_isdigit(c)))) return false;
  }
  return true;
}

struct Segment {
  absl::string_view key;  // empty: an index
  size_t index = 0;
};

class Walker {
 public:
  Walker(const ScrapeCheckOptions& options, FragmentError* error, absl::string_view prefix)
      : options_(options), error_(error), prefix_(prefix) {}

  const ScrapeCheckOptions& options() const { return options_; }
  PromVersion version() const { return options_.version; }
  const std::string& reason() const { return reason_; }

  // Label names under the scrape config's validation scheme (legacy before
  // 3.0; utf8 by default since).
  bool utf8_names = false;

  bool ValidLabelName(absl::string_view s) const {
    return utf8_names ? !s.empty() && IsValidUtf8(s) : IsLegacyLabelName(s);
  }

  bool Fail(const YamlSubsetNode& at, absl::string_view reason) {
    reason_ = std::string(reason);
    if (error_ != nullptr) {
      error_->line = at.line;
      std::string key(prefix_);
      for (const Segment& s : path_) {
        if (s.key.empty()) {
          absl::StrAppend(&key, "[", s.index, "]");
        } else {
          absl::StrAppend(&key, key.empty() ? "" : ".", s.key);
        }
      }
      error_->key = std::move(key);
      error_->reason = reason_;
    }
    return false;
  }

  // A failure about `key` of the mapping `obj` (at the key's value when present).
  bool FailAt(const YamlSubsetNode& obj, absl::string_view key, absl::string_view reason) {
    const YamlSubsetNode* v = obj.Find(key);
    path_.push_back(Segment{key, 0});
    bool r = Fail(v != nullptr && v->line > 0 ? *v : obj, reason);
    path_.pop_back();
    return r;
  }

  // The innermost key name (for list items, the list's key).
  absl::string_view CurrentKey() const {
    for (auto it = path_.rbegin(); it != path_.rend(); ++it) {
      if (!it->key.empty()) return it->key;
    }
    return "";
  }

  bool Check(const YamlSubsetNode& n, const Type& t);

 private:
  bool CheckObject(const YamlSubsetNode& n, const Type& t);
  bool CheckScalar(const YamlSubsetNode& n, const Type& t);

  const ScrapeCheckOptions& options_;
  FragmentError* error_;
  absl::string_view prefix_;
  std::vector<Segment> path_;
  std::string reason_;
};

std::string Quoted(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s.substr(0, 200)) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (s.size() > 200) out.append("...");
  out.push_back('"');
  return out;
}

bool HttpClientRule(const YamlSubsetNode& o, Walker& w);

bool Walker::Check(const YamlSubsetNode& n, const Type& t) {
  // go-yaml v2 leaves the zero value for null: absent and null are alike.
  if (n.IsNull()) return true;
  switch (t.kind) {
    case Kind::kObject:
      return CheckObject(n, t);
    case Kind::kList:
      if (!n.IsSeq()) return Fail(n, "expected a list");
      for (size_t i = 0; i < n.seq.size(); ++i) {
        path_.push_back(Segment{"", i});
        bool ok = Check(n.seq[i], *t.elem);
        path_.pop_back();
        if (!ok) return false;
      }
      return true;
    case Kind::kMap:
      if (!n.IsMap()) return Fail(n, "expected a mapping");
      for (const YamlSubsetEntry& e : n.map) {
        path_.push_back(Segment{e.key, 0});
        bool ok = true;
        if (t.label_keys && !ValidLabelName(e.key)) {
          ok = Fail(e.value, absl::StrCat(Quoted(e.key), " is not a valid label name"));
        }
        ok = ok && Check(e.value, *t.elem);
        path_.pop_back();
        if (!ok) return false;
      }
      return t.rule == nullptr || t.rule(n, *this);
    default:
      return CheckScalar(n, t);
  }
}

bool Walker::CheckObject(const YamlSubsetNode& n, const Type& t) {
  if (!n.IsMap()) return Fail(n, absl::StrCat("expected a mapping (", t.name, ")"));
  for (const YamlSubsetEntry& e : n.map) {
    const Field* f = nullptr;
    for (const Field& c : t.fields) {
      if (c.name == e.key) {
        f = &c;
        break;
      }
    }
    path_.push_back(Segment{e.key, 0});
    bool ok = true;
    if (f == nullptr) {
      ok = Fail(e.value, absl::StrCat("unknown key ", Quoted(e.key), " in ", t.name));
    } else if (version() < f->since) {
      ok = Fail(e.value, absl::StrCat("`", e.key, "` needs Prometheus ", f->since.ToString(),
                                      " or newer (validating for ", version().ToString(), ")"));
    } else if (version() >= f->removed) {
      ok = Fail(e.value, absl::StrCat("`", e.key, "` was removed in Prometheus ",
                                      f->removed.ToString(), " (validating for ",
                                      version().ToString(), ")"));
    } else {
      ok = Check(e.value, *f->type);
    }
    path_.pop_back();
    if (!ok) return false;
  }
  if (t.inlines_http && !HttpClientRule(n, *this)) return false;
  return t.rule == nullptr || t.rule(n, *this);
}

// What go-yaml v2 would make of a plain scalar that is not a string.
bool IsPlain(const YamlSubsetNode& n) { return n.IsScalar() && !n.quoted; }

bool IsInsideTargets(absl::string_view pattern, absl::string_view dir) {
  if (pattern.empty() || pattern[0] == '/') return false;
  std::vector<absl::string_view> parts = absl::StrSplit(pattern, '/');
  std::vector<absl::string_view> want = absl::StrSplit(dir, '/', absl::SkipEmpty());
  if (parts.size() <= want.size()) return false;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == ".." || parts[i] == "." || parts[i].empty()) return false;
    if (i < want.size() && parts[i] != want[i]) return false;
  }
  return true;
}

bool Walker::CheckScalar(const YamlSubsetNode& n, const Type& t) {
  if (!n.IsScalar()) return Fail(n, "expected a single value, not a list or mapping");
  const std::string& s = n.scalar;
  switch (t.kind) {
    case Kind::kString:
    case Kind::kSecret:
      return true;
    case Kind::kSecretRef:
      if (s.empty()) return true;
      return Fail(n, absl::StrCat("`", CurrentKey(),
                                  "` names a secret in a secret manager; Prometheus configures "
                                  "none, so the scrape could never authenticate"));
    case Kind::kBool:
      if (IsPlain(n) && ParseYaml11Bool(s).has_value()) return true;
      return Fail(n, absl::StrCat("expected true or false, not ", Quoted(s)));
    case Kind::kUint:
    case Kind::kInt: {
      bool negative = false;
      std::optional<uint64_t> v = IsPlain(n) ? ParseYaml11Int(s, &negative) : std::nullopt;
      if (v.has_value() && (t.kind == Kind::kInt ? (negative || *v < (uint64_t{1} << 63))
                                                 : !negative || *v == 0)) {
        return true;
      }
      return Fail(n, absl::StrCat("expected ",
                                  t.kind == Kind::kUint ? "a non-negative integer" : "an integer",
                                  ", not ", Quoted(s)));
    }
    case Kind::kFloat:
      if (IsPlain(n) && IsYaml11Float(s)) return true;
      return Fail(n, absl::StrCat("expected a number, not ", Quoted(s)));
    case Kind::kDuration: {
      std::string e = CheckDuration(s);
      if (e.empty()) return true;
      return Fail(n, e);
    }
    case Kind::kSize: {
      bool negative;
      // go-yaml v2 stores a plain integer straight into units.Base2Bytes.
      if (IsPlain(n) && ParseYaml11Int(s, &negative).has_value()) return true;
      std::string e = CheckBase2Bytes(s);
      if (e.empty()) return true;
      return Fail(n, e);
    }
    case Kind::kUrl: {
      std::string e = CheckGoUrl(s);
      if (e.empty()) return true;
      return Fail(n, absl::StrCat("invalid URL ", Quoted(s), ": ", e));
    }
    case Kind::kFile:
      if (s.empty() || options_.trusted) return true;
      return Fail(n, absl::StrCat("`", CurrentKey(),
                                  "` names a file on the Prometheus host; only a trusted "
                                  "source may (see the README's security section)"));
    case Kind::kTargetsFile: {
      // discovery/file: patFileSDName.
      static const LazyRE2 kPattern = {R"(^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$)"};
      if (!RE2::FullMatch(s, *kPattern)) {
        return Fail(n, absl::StrCat("path name ", Quoted(s), " is not valid for file discovery"));
      }
      if (options_.trusted || IsInsideTargets(s, options_.targets_dir)) return true;
      return Fail(n, absl::StrCat("file_sd_configs path ", Quoted(s),
                                  " is outside promconf's own ", options_.targets_dir,
                                  "/ (a relative ", options_.targets_dir,
                                  "/... pattern without ..); only a trusted source may name "
                                  "other files"));
    }
    case Kind::kEnum: {
      std::string v = t.fold_case ? absl::AsciiStrToLower(s) : s;
      for (size_t i = 0; i < t.values.size(); ++i) {
        if (t.values[i] != v) continue;
        if (i < t.value_since.size() && version() < t.value_since[i]) {
          return Fail(n, absl::StrCat(Quoted(s), " needs Prometheus ",
                                      t.value_since[i].ToString(), " or newer (validating for ",
                                      version().ToString(), ")"));
        }
        return true;
      }
      std::string allowed;
      for (size_t i = 0; i < t.values.size(); ++i) {
        if (i < t.value_since.size() && version() < t.value_since[i]) continue;
        absl::StrAppend(&allowed, allowed.empty() ? "" : ", ", t.values[i]);
      }
      return Fail(n, absl::StrCat("unknown ", CurrentKey(), " ", Quoted(s), " (one of: ",
                                  allowed, ")"));
    }
    case Kind::kLabelName:
      if (ValidLabelName(s)) return true;
      return Fail(n, absl::StrCat(Quoted(s), " is not a valid label name"));
    case Kind::kRegex: {
      // model/relabel NewRegexp: anchored, and (?s) since 3.0. RE2's syntax is
      // Go's regexp syntax.
      std::string anchored = absl::StrCat(version() < V(3, 0) ? "^(?:" : "^(?s:", s, ")$");
      RE2::Options opts;
      opts.set_log_errors(false);
      RE2 re(anchored, opts);
      if (re.ok()) return true;
      return Fail(n, absl::StrCat("invalid regex ", Quoted(s), ": ", re.error()));
    }
    default:
      return Fail(n, "internal: unhandled type");
  }
}

// ---- helpers for rules --------------------------------------------------------

const YamlSubsetNode* Get(const YamlSubsetNode& obj, absl::string_view key) {
  const YamlSubsetNode* v = obj.Find(key);
  return v == nullptr || v->IsNull() ? nullptr : v;
}
// A string field's value ("" when absent or null), as Go compares it.
absl::string_view Str(const YamlSubsetNode& obj, absl::string_view key) {
  const YamlSubsetNode* v = Get(obj, key);
  return v != nullptr && v->IsScalar() ? absl::string_view(v->scalar) : absl::string_view();
}
bool Has(const YamlSubsetNode& obj, absl::string_view key) { return Get(obj, key) != nullptr; }
bool HasStr(const YamlSubsetNode& obj, absl::string_view key) { return !Str(obj, key).empty(); }
bool True(const YamlSubsetNode& obj, absl::string_view key) {
  const YamlSubsetNode* v = Get(obj, key);
  return v != nullptr && v->IsScalar() && ParseYaml11Bool(v->scalar).value_or(false);
}
int Count(std::initializer_list<bool> xs) {
  int n = 0;
  for (bool x : xs) n += x ? 1 : 0;
  return n;
}
bool Required(const YamlSubsetNode& obj, Walker& w, absl::string_view key, absl::string_view why) {
  if (HasStr(obj, key)) return true;
  return w.FailAt(obj, key, why);
}
int64_t Nanos(const YamlSubsetNode& obj, absl::string_view key) {
  int64_t n = 0;
  CheckDuration(Str(obj, key), &n);
  return n;
}

// ---- cross-field rules (upstream's Validate / UnmarshalYAML) ------------------

bool ProxyRule(const YamlSubsetNode& o, Walker& w) {
  // prometheus/common ProxyConfig.Validate.
  const bool url = HasStr(o, "proxy_url");
  const bool env = True(o, "proxy_from_environment");
  const YamlSubsetNode* hdr = Get(o, "proxy_connect_header");
  if (hdr != nullptr && hdr->IsMap() && !hdr->map.empty() && !env && !url) {
    return w.FailAt(o, "proxy_connect_header",
                    "if proxy_connect_header is configured, proxy_url or proxy_from_environment "
                    "must also be configured");
  }
  if (env && url) {
    return w.FailAt(o, "proxy_url",
                    "if proxy_from_environment is configured, proxy_url must not be configured");
  }
  if (env && HasStr(o, "no_proxy")) {
    return w.FailAt(o, "no_proxy",
                    "if proxy_from_environment is configured, no_proxy must not be configured");
  }
  if (!url && HasStr(o, "no_proxy")) {
    return w.FailAt(o, "no_proxy", "if no_proxy is configured, proxy_url must also be configured");
  }
  return true;
}

bool TlsRule(const YamlSubsetNode& o, Walker& w) {
  if (Count({HasStr(o, "ca"), HasStr(o, "ca_file"), HasStr(o, "ca_ref")}) > 1) {
    return w.FailAt(o, "ca_file", "at most one of ca, ca_file & ca_ref must be configured");
  }
  if (Count({HasStr(o, "cert"), HasStr(o, "cert_file"), HasStr(o, "cert_ref")}) > 1) {
    return w.FailAt(o, "cert_file", "at most one of cert, cert_file & cert_ref must be configured");
  }
  if (Count({HasStr(o, "key"), HasStr(o, "key_file"), HasStr(o, "key_ref")}) > 1) {
    return w.FailAt(o, "key_file", "at most one of key and key_file must be configured");
  }
  const bool cert = HasStr(o, "cert") || HasStr(o, "cert_file") || HasStr(o, "cert_ref");
  const bool key = HasStr(o, "key") || HasStr(o, "key_file") || HasStr(o, "key_ref");
  if (cert && !key) {
    return w.FailAt(o, "cert_file",
                    "exactly one of key or key_file must be configured when a client "
                    "certificate is configured");
  }
  if (key && !cert) {
    return w.FailAt(o, "key_file",
                    "exactly one of cert or cert_file must be configured when a client key is "
                    "configured");
  }
  return true;
}

bool OAuth2Rule(const YamlSubsetNode& o, Walker& w) {
  if (!ProxyRule(o, w)) return false;
  if (!Required(o, w, "client_id", "oauth2 client_id must be configured")) return false;
  if (!Required(o, w, "token_url", "oauth2 token_url must be configured")) return false;
  if (Str(o, "grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer") {
    if (Count({HasStr(o, "client_certificate_key"), HasStr(o, "client_certificate_key_file"),
               HasStr(o, "client_certificate_key_ref")}) > 1) {
      return w.FailAt(o, "client_certificate_key",
                      "at most one of oauth2 client_certificate_key, client_certificate_key_file "
                      "& client_certificate_key_ref must be configured");
    }
    absl::string_view alg = Str(o, "signature_algorithm");
    if (!alg.empty() && alg != "RS256" && alg != "RS384" && alg != "RS512") {
      return w.FailAt(o, "signature_algorithm", "valid signature algorithms are RS256, RS384 and RS512");
    }
  } else if (Count({HasStr(o, "client_secret"), HasStr(o, "client_secret_file"),
                    HasStr(o, "client_secret_ref")}) > 1) {
    return w.FailAt(o, "client_secret",
                    "at most one of oauth2 client_secret, client_secret_file & client_secret_ref "
                    "must be configured");
  }
  return true;
}

bool HeadersRule(const YamlSubsetNode& o, Walker& w) {
  static constexpr absl::string_view kReserved[] = {
      "authorization",        "host",
      "content-encoding",     "content-length",
      "content-type",         "user-agent",
      "connection",           "keep-alive",
      "proxy-authenticate",   "proxy-authorization",
      "www-authenticate",     "accept-encoding",
      "x-prometheus-remote-write-version", "x-prometheus-remote-read-version",
      "x-prometheus-scrape-timeout-seconds", "x-amz-date",
      "x-amz-security-token", "x-amz-content-sha256"};
  for (const YamlSubsetEntry& e : o.map) {
    std::string lower = absl::AsciiStrToLower(e.key);
    for (absl::string_view r : kReserved) {
      if (lower == r) {
        return w.FailAt(o, e.key, absl::StrCat("setting header ", Quoted(e.key), " is not allowed"));
      }
    }
  }
  return true;
}

// prometheus/common HTTPClientConfig.Validate, for every object that inlines it.
bool HttpClientRule(const YamlSubsetNode& o, Walker& w) {
  const bool bearer = HasStr(o, "bearer_token");
  const bool bearer_file = HasStr(o, "bearer_token_file");
  const YamlSubsetNode* basic = Get(o, "basic_auth");
  const YamlSubsetNode* authz = Get(o, "authorization");
  const bool oauth2 = Has(o, "oauth2");
  if (bearer && bearer_file) {
    return w.FailAt(o, "bearer_token_file",
                    "at most one of bearer_token & bearer_token_file must be configured");
  }
  if ((basic != nullptr || oauth2) && (bearer || bearer_file)) {
    return w.FailAt(o, bearer ? "bearer_token" : "bearer_token_file",
                    "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be "
                    "configured");
  }
  if (basic != nullptr && basic->IsMap()) {
    if (Count({HasStr(*basic, "username"), HasStr(*basic, "username_file"),
               HasStr(*basic, "username_ref")}) > 1) {
      return w.FailAt(o, "basic_auth",
                      "at most one of basic_auth username, username_file & username_ref must be "
                      "configured");
    }
    if (Count({HasStr(*basic, "password"), HasStr(*basic, "password_file"),
               HasStr(*basic, "password_ref")}) > 1) {
      return w.FailAt(o, "basic_auth",
                      "at most one of basic_auth password, password_file & password_ref must be "
                      "configured");
    }
  }
  if (authz != nullptr && authz->IsMap()) {
    if (bearer || bearer_file) {
      return w.FailAt(o, "authorization",
                      "authorization is not compatible with bearer_token & bearer_token_file");
    }
    if (Count({HasStr(*authz, "credentials"), HasStr(*authz, "credentials_file"),
               HasStr(*authz, "credentials_ref")}) > 1) {
      return w.FailAt(o, "authorization",
                      "at most one of authorization credentials & credentials_file must be "
                      "configured");
    }
    std::string type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(Str(*authz, "type")));
    if (type == "basic") {
      return w.FailAt(o, "authorization",
                      "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
    }
    if (basic != nullptr || oauth2) {
      return w.FailAt(o, "authorization",
                      "at most one of basic_auth, oauth2 & authorization must be configured");
    }
  }
  if (oauth2 && basic != nullptr) {
    return w.FailAt(o, "oauth2", "at most one of basic_auth, oauth2 & authorization must be configured");
  }
  return ProxyRule(o, w);
}

// Whether an object that inlines the HTTP client config sets any of it to
// something other than its defaults (follow_redirects and enable_http2 true).
bool CustomHttpClient(const YamlSubsetNode& o) {
  static constexpr absl::string_view kKeys[] = {
      "basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file", "tls_config",
      "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header", "http_headers"};
  for (absl::string_view k : kKeys) {
    const YamlSubsetNode* v = Get(o, k);
    if (v == nullptr) continue;
    if (v->IsScalar() && (v->scalar.empty() || ParseYaml11Bool(v->scalar) == false)) continue;
    if (v->IsMap() && v->map.empty()) continue;
    return true;
  }
  for (absl::string_view k : {"follow_redirects", "enable_http2"}) {
    const YamlSubsetNode* v = Get(o, k);
    if (v != nullptr && v->IsScalar() && ParseYaml11Bool(v->scalar) == false) return true;
  }
  return false;
}

// ---- relabel_configs (model/relabel) -------------------------------------------

// relabelTarget: a label name in which $1 / ${name} stand for regex groups.
bool IsRelabelTarget(absl::string_view s) {
  static const LazyRE2 kTarget = {R"((?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+)"};
  return RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *kTarget);
}

bool RelabelRule(const YamlSubsetNode& o, Walker& w) {
  const std::string action = Has(o, "action") ? absl::AsciiStrToLower(Str(o, "action")) : "replace";
  bool negative;
  const uint64_t modulus = ParseYaml11Int(Str(o, "modulus"), &negative).value_or(0);
  const absl::string_view target = Str(o, "target_label");
  const absl::string_view replacement = Has(o, "replacement") ? Str(o, "replacement") : "$1";
  const absl::string_view separator = Has(o, "separator") ? Str(o, "separator") : ";";
  const bool v3 = w.version() >= V(3, 0);
  const bool is_case = action == "lowercase" || action == "uppercase";
  const bool is_equal = action == "keepequal" || action == "dropequal";
  auto bad_target = [&]() {
    return w.FailAt(o, "target_label",
                    absl::StrCat(Quoted(target), " is invalid 'target_label' for ", action, " action"));
  };
  if (action == "hashmod" && modulus == 0) {
    return w.FailAt(o, "modulus", "relabel configuration for hashmod requires non-zero modulus");
  }
  if ((action == "replace" || action == "hashmod" || is_case || is_equal) && target.empty()) {
    return w.FailAt(o, "target_label",
                    absl::StrCat("relabel configuration for ", action,
                                 " action requires 'target_label' value"));
  }
  if (action == "replace") {
    bool ok;
    if (!v3) {
      ok = IsRelabelTarget(target);
    } else if (absl::StrContains(target, '$')) {
      ok = w.utf8_names ? IsValidUtf8(target) : IsRelabelTarget(target);
    } else {
      ok = w.ValidLabelName(target);
    }
    if (!ok) return bad_target();
  }
  if ((is_case || is_equal) && !(v3 ? w.ValidLabelName(target) : IsRelabelTarget(target))) {
    return bad_target();
  }
  if ((is_case || is_equal) && replacement != "$1") {
    return w.FailAt(o, "replacement",
                    absl::StrCat("'replacement' can not be set for ", action, " action"));
  }
  if (action == "labelmap" &&
      !(v3 && w.utf8_names ? !replacement.empty() && IsValidUtf8(replacement)
                           : IsRelabelTarget(replacement))) {
    return w.FailAt(o, "replacement",
                    absl::StrCat(Quoted(replacement), " is invalid 'replacement' for ", action,
                                 " action"));
  }
  if (action == "hashmod" && !w.ValidLabelName(target)) return bad_target();
  if (is_equal && (Has(o, "regex") || modulus != 0 || separator != ";" || replacement != "$1")) {
    return w.FailAt(o, "action",
                    absl::StrCat(action,
                                 " action requires only 'source_labels' and `target_label`, and "
                                 "no other fields"));
  }
  if ((action == "labeldrop" || action == "labelkeep") &&
      (Has(o, "source_labels") || !target.empty() || modulus != 0 || separator != ";" || replacement != "$1")) {
    return w.FailAt(o, "action",
                    absl::StrCat(action, " action requires only 'regex', and no other fields"));
  }
  return true;
}

// ---- scrape_config (config/config.go) ------------------------------------------

bool ScrapeRule(const YamlSubsetNode& o, Walker& w) {
  if (!HasStr(o, "job_name")) return w.FailAt(o, "job_name", "job_name is empty");
  const absl::string_view job = Str(o, "job_name");
  int64_t interval = Nanos(o, "scrape_interval");
  if (interval == 0) interval = w.options().global_scrape_interval_ns;
  const int64_t timeout = Nanos(o, "scrape_timeout");
  if (timeout > interval) {
    return w.FailAt(o, "scrape_timeout",
                    absl::StrCat("scrape timeout greater than scrape interval for scrape config "
                                 "with job name ",
                                 Quoted(job), " (", Str(o, "scrape_timeout"), " > ",
                                 HasStr(o, "scrape_interval")
                                     ? std::string(Str(o, "scrape_interval"))
                                     : absl::StrCat("the global ", interval / 1000000000, "s"),
                                 ")"));
  }
  for (absl::string_view key : {"relabel_configs", "metric_relabel_configs"}) {
    const YamlSubsetNode* list = Get(o, key);
    if (list == nullptr || !list->IsSeq()) continue;
    for (const YamlSubsetNode& r : list->seq) {
      if (r.IsNull()) {
        return w.FailAt(o, key,
                        absl::StrCat("empty or null ",
                                     key == "relabel_configs" ? "target" : "metric",
                                     " relabeling rule in scrape config"));
      }
    }
  }
  // checkStaticTargets: a URL in a static target, unless relabeling may fix it.
  const YamlSubsetNode* relabel = Get(o, "relabel_configs");
  const YamlSubsetNode* statics = Get(o, "static_configs");
  if ((relabel == nullptr || (relabel->IsSeq() && relabel->seq.empty())) && statics != nullptr &&
      statics->IsSeq()) {
    for (const YamlSubsetNode& g : statics->seq) {
      const YamlSubsetNode* targets = g.IsMap() ? Get(g, "targets") : nullptr;
      if (targets == nullptr || !targets->IsSeq()) continue;
      for (const YamlSubsetNode& t : targets->seq) {
        if (t.IsScalar() && absl::StrContains(t.scalar, '/')) {
          return w.FailAt(o, "static_configs",
                          absl::StrCat(Quoted(t.scalar),
                                       " is not a valid hostname (a static target is host:port; "
                                       "set scheme and metrics_path instead of a URL)"));
        }
      }
    }
  }
  const YamlSubsetNode* protocols = Get(o, "scrape_protocols");
  if (protocols != nullptr && protocols->IsSeq()) {
    if (protocols->seq.empty()) return w.FailAt(o, "scrape_protocols", "scrape_protocols cannot be empty");
    std::set<std::string> seen;
    for (const YamlSubsetNode& p : protocols->seq) {
      if (!seen.insert(absl::AsciiStrToLower(p.scalar)).second) {
        return w.FailAt(o, "scrape_protocols", "duplicated protocol in scrape_protocols");
      }
    }
  }
  if (Str(o, "metric_name_escaping_scheme") == "allow-utf-8" && !w.utf8_names) {
    return w.FailAt(o, "metric_name_escaping_scheme",
                    "utf8 metric names requested but validation scheme is not set to UTF8");
  }
  return true;
}

// ---- service discoveries (discovery/*) -----------------------------------------

bool RequireUrl(const YamlSubsetNode& o, Walker& w, absl::string_view key, absl::string_view what,
                bool http_only) {
  if (!Required(o, w, key, absl::StrCat(what, " is missing"))) return false;
  std::string scheme, host;
  std::string e = CheckGoUrl(Str(o, key), &scheme, &host);
  if (!e.empty()) return w.FailAt(o, key, absl::StrCat("invalid URL: ", e));
  if (http_only && scheme != "http" && scheme != "https") {
    return w.FailAt(o, key, "URL scheme must be 'http' or 'https'");
  }
  if (scheme.empty() || host.empty()) {
    return w.FailAt(o, key, absl::StrCat(what, " must be a URL with a scheme and a host"));
  }
  return true;
}

bool NonEmptyList(const YamlSubsetNode& o, Walker& w, absl::string_view key, absl::string_view why) {
  const YamlSubsetNode* v = Get(o, key);
  if (v != nullptr && v->IsSeq() && !v->seq.empty()) return true;
  return w.FailAt(o, key, why);
}

bool KubernetesRule(const YamlSubsetNode& o, Walker& w) {
  if (!Required(o, w, "role",
                "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)")) {
    return false;
  }
  const bool api = HasStr(o, "api_server");
  const bool kubeconfig = HasStr(o, "kubeconfig_file");
  const YamlSubsetNode* ns = Get(o, "namespaces");
  const bool own = ns != nullptr && ns->IsMap() && True(*ns, "own_namespace");
  if (api && kubeconfig) {
    return w.FailAt(o, "kubeconfig_file", "cannot use 'kubeconfig_file' and 'api_server' simultaneously");
  }
  if (kubeconfig && CustomHttpClient(o)) {
    return w.FailAt(o, "kubeconfig_file",
                    "cannot use a custom HTTP client configuration together with 'kubeconfig_file'");
  }
  if (!api && CustomHttpClient(o)) {
    return w.FailAt(o, "api_server",
                    "to use custom HTTP client configuration please provide the 'api_server' URL "
                    "explicitly");
  }
  if (api && own) {
    return w.FailAt(o, "namespaces", "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously");
  }
  if (kubeconfig && own) {
    return w.FailAt(o, "namespaces",
                    "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously");
  }
  const std::string role(Str(o, "role"));
  const YamlSubsetNode* selectors = Get(o, "selectors");
  if (selectors == nullptr || !selectors->IsSeq()) return true;
  std::vector<absl::string_view> allowed;
  if (role == "endpoints") allowed = {"pod", "service", "endpoints"};
  else if (role == "endpointslice") allowed = {"pod", "service", "endpointslice"};
  else allowed = {role};
  std::set<std::string> seen;
  for (const YamlSubsetNode& s : selectors->seq) {
    if (!s.IsMap()) continue;
    std::string r(Str(s, "role"));
    if (!seen.insert(r).second) {
      return w.FailAt(o, "selectors", absl::StrCat("duplicated selector role: ", r));
    }
    if (std::find(allowed.begin(), allowed.end(), r) == allowed.end()) {
      return w.FailAt(o, "selectors",
                      absl::StrCat(role, " role supports only ", absl::StrJoin(allowed, ", "),
                                   " selectors"));
    }
  }
  return true;
}

bool ConsulRule(const YamlSubsetNode& o, Walker& w) {
  if (Has(o, "server") && absl::StripAsciiWhitespace(Str(o, "server")).empty()) {
    return w.FailAt(o, "server", "consul SD configuration requires a server address");
  }
  if ((HasStr(o, "username") || HasStr(o, "password")) && Has(o, "basic_auth")) {
    return w.FailAt(o, "basic_auth",
                    "at most one of consul SD configuration username and password and basic auth "
                    "can be configured");
  }
  if (HasStr(o, "token") && (Has(o, "authorization") || Has(o, "oauth2"))) {
    return w.FailAt(o, "token", "at most one of consul SD token, authorization, or oauth2 can be configured");
  }
  return true;
}

bool DnsRule(const YamlSubsetNode& o, Walker& w) {
  if (!NonEmptyList(o, w, "names", "DNS-SD config must contain at least one SRV record name")) return false;
  const std::string type = Has(o, "type") ? absl::AsciiStrToUpper(Str(o, "type")) : "SRV";
  bool negative;
  const uint64_t port = ParseYaml11Int(Str(o, "port"), &negative).value_or(0);
  if (type == "SRV") return true;
  if (type == "A" || type == "AAAA" || type == "MX" || (type == "NS" && w.version() >= V(2, 49))) {
    if (port == 0) {
      return w.FailAt(o, "port", "a port is required in DNS-SD configs for all record types except SRV");
    }
    return true;
  }
  return w.FailAt(o, "type", absl::StrCat("invalid DNS-SD records type ", Str(o, "type")));
}

bool EurekaRule(const YamlSubsetNode& o, Walker& w) {
  return RequireUrl(o, w, "server", "eureka_sd: eureka server", false);
}
bool KumaRule(const YamlSubsetNode& o, Walker& w) {
  return RequireUrl(o, w, "server", "kuma SD server", false);
}
bool HttpSdRule(const YamlSubsetNode& o, Walker& w) { return RequireUrl(o, w, "url", "URL", true); }
bool PuppetDbRule(const YamlSubsetNode& o, Walker& w) {
  return RequireUrl(o, w, "url", "URL", true) && Required(o, w, "query", "query missing");
}
bool GceRule(const YamlSubsetNode& o, Walker& w) {
  return Required(o, w, "project", "GCE SD configuration requires a project") &&
         Required(o, w, "zone", "GCE SD configuration requires a zone");
}
bool HetznerRule(const YamlSubsetNode& o, Walker& w) {
  return Required(o, w, "role", "role missing (one of: robot, hcloud)");
}
bool IonosRule(const YamlSubsetNode& o, Walker& w) {
  return Required(o, w, "datacenter_id", "datacenter id can't be empty");
}
bool MarathonRule(const YamlSubsetNode& o, Walker& w) {
  if (!NonEmptyList(o, w, "servers", "marathon_sd: must contain at least one Marathon server")) return false;
  const bool token = HasStr(o, "auth_token"), file = HasStr(o, "auth_token_file");
  if (token && file) {
    return w.FailAt(o, "auth_token_file", "marathon_sd: at most one of auth_token & auth_token_file must be configured");
  }
  if ((token || file) && (Has(o, "basic_auth") || HasStr(o, "bearer_token") ||
                          HasStr(o, "bearer_token_file") || Has(o, "authorization"))) {
    return w.FailAt(o, token ? "auth_token" : "auth_token_file",
                    "marathon_sd: at most one of basic_auth, bearer_token, authorization, "
                    "auth_token & auth_token_file must be configured");
  }
  return true;
}

// A docker daemon's unix socket is a file on the Prometheus host.
bool DockerHost(const YamlSubsetNode& o, Walker& w) {
  if (!Required(o, w, "host", "host missing")) return false;
  std::string scheme;
  std::string e = CheckGoUrl(Str(o, "host"), &scheme);
  if (!e.empty()) return w.FailAt(o, "host", absl::StrCat("invalid URL: ", e));
  if (!w.options().trusted && (scheme == "unix" || scheme.empty())) {
    return w.FailAt(o, "host",
                    "`host` names a socket on the Prometheus host; only a trusted source may (use "
                    "tcp://, http:// or https://)");
  }
  return true;
}
bool DockerRule(const YamlSubsetNode& o, Walker& w) { return DockerHost(o, w); }
bool DockerSwarmRule(const YamlSubsetNode& o, Walker& w) {
  return DockerHost(o, w) && Required(o, w, "role", "role missing (one of: tasks, services, nodes)");
}
bool NomadRule(const YamlSubsetNode& o, Walker& w) {
  if (Has(o, "server") && absl::StripAsciiWhitespace(Str(o, "server")).empty()) {
    return w.FailAt(o, "server", "nomad SD configuration requires a server address");
  }
  return true;
}
bool OpenStackRule(const YamlSubsetNode& o, Walker& w) {
  return Required(o, w, "role", "role missing (one of: instance, hypervisor, loadbalancer)") &&
         Required(o, w, "region", "openstack SD configuration requires a region");
}
bool OvhRule(const YamlSubsetNode& o, Walker& w) {
  if (Has(o, "endpoint") && !HasStr(o, "endpoint")) {
    return w.FailAt(o, "endpoint", "endpoint can not be empty");
  }
  return Required(o, w, "application_key", "application key can not be empty") &&
         Required(o, w, "application_secret", "application secret can not be empty") &&
         Required(o, w, "consumer_key", "consumer key can not be empty") &&
         Required(o, w, "service", "unknown service: (one of: vps, dedicated_server)");
}
bool ScalewayRule(const YamlSubsetNode& o, Walker& w) {
  if (!Required(o, w, "role", "role missing (one of: instance, baremetal)") ||
      !Required(o, w, "project_id", "project_id is mandatory")) {
    return false;
  }
  const bool key = HasStr(o, "secret_key"), file = HasStr(o, "secret_key_file");
  if (!key && !file) return w.FailAt(o, "secret_key", "one of secret_key & secret_key_file must be configured");
  if (key && file) return w.FailAt(o, "secret_key_file", "at most one of secret_key & secret_key_file must be configured");
  return Required(o, w, "access_key", "access_key is mandatory");
}
bool TritonRule(const YamlSubsetNode& o, Walker& w) {
  if (Has(o, "role") && Str(o, "role") != "container" && Str(o, "role") != "cn") {
    return w.FailAt(o, "role", "triton SD configuration requires role to be 'container' or 'cn'");
  }
  if (!Required(o, w, "account", "triton SD configuration requires an account") ||
      !Required(o, w, "dns_suffix", "triton SD configuration requires a dns_suffix") ||
      !Required(o, w, "endpoint", "triton SD configuration requires an endpoint")) {
    return false;
  }
  if (Has(o, "refresh_interval") && Nanos(o, "refresh_interval") <= 0) {
    return w.FailAt(o, "refresh_interval",
                    "triton SD configuration requires RefreshInterval to be a positive integer");
  }
  return true;
}
bool UyuniRule(const YamlSubsetNode& o, Walker& w) {
  if (!Required(o, w, "server", "Uyuni SD configuration requires server host")) return false;
  std::string e = CheckGoUrl(Str(o, "server"));
  if (!e.empty()) return w.FailAt(o, "server", absl::StrCat("Uyuni Server URL is not valid: ", e));
  return Required(o, w, "username", "Uyuni SD configuration requires a username") &&
         Required(o, w, "password", "Uyuni SD configuration requires a password");
}
bool ZookeeperRule(const YamlSubsetNode& o, Walker& w, absl::string_view what) {
  if (!NonEmptyList(o, w, "servers",
                    absl::StrCat(what, " SD config must contain at least one Zookeeper server")) ||
      !NonEmptyList(o, w, "paths", absl::StrCat(what, " SD config must contain at least one path"))) {
    return false;
  }
  for (const YamlSubsetNode& p : Get(o, "paths")->seq) {
    if (p.IsScalar() && !absl::StartsWith(p.scalar, "/")) {
      return w.FailAt(o, "paths", absl::StrCat(what, " SD config paths must begin with '/': ", p.scalar));
    }
  }
  return true;
}
bool ServersetRule(const YamlSubsetNode& o, Walker& w) { return ZookeeperRule(o, w, "serverset"); }
bool NerveRule(const YamlSubsetNode& o, Walker& w) { return ZookeeperRule(o, w, "nerve"); }
bool FileSdRule(const YamlSubsetNode& o, Walker& w) {
  return NonEmptyList(o, w, "files", "file service discovery config must contain at least one path name");
}
bool AzureRule(const YamlSubsetNode& o, Walker& w) {
  if (!Required(o, w, "subscription_id", "azure SD configuration requires a subscription_id")) return false;
  if (!Has(o, "authentication_method") || Str(o, "authentication_method") == "OAuth") {
    return Required(o, w, "tenant_id", "azure SD configuration requires a tenant_id") &&
           Required(o, w, "client_id", "azure SD configuration requires a client_id") &&
           Required(o, w, "client_secret", "azure SD configuration requires a client_secret");
  }
  return true;
}
bool Ec2FilterRule(const YamlSubsetNode& o, Walker& w) {
  return NonEmptyList(o, w, "values", "EC2 SD configuration filter values cannot be empty");
}
bool AwsRule(const YamlSubsetNode& o, Walker& w) {
  return Required(o, w, "role", "role missing (one of: ec2, ecs, elasticache, lightsail, msk, rds)");
}
bool StackitRule(const YamlSubsetNode& o, Walker& w) {
  if (!HasStr(o, "endpoint") && !HasStr(o, "region")) {
    return w.FailAt(o, "region", "stackit_sd: endpoint and region missing");
  }
  return true;
}
bool OutscaleRule(const YamlSubsetNode& o, Walker& w) {
  if (!Required(o, w, "region", "outscale SD configuration requires a region") ||
      !Required(o, w, "access_key", "outscale SD configuration requires access_key")) {
    return false;
  }
  const bool key = HasStr(o, "secret_key"), file = HasStr(o, "secret_key_file");
  if (!key && !file) return w.FailAt(o, "secret_key", "one of secret_key & secret_key_file must be configured");
  if (key && file) return w.FailAt(o, "secret_key_file", "at most one of secret_key & secret_key_file must be configured");
  return true;
}
bool OciRule(const YamlSubsetNode& o, Walker& w) {
  if (!Required(o, w, "region", "oci_sd: region is required")) return false;
  const absl::string_view auth = Str(o, "auth");
  if (auth == "instance_principal") {
    for (absl::string_view k : {"tenancy", "user", "fingerprint", "key_file", "key_passphrase",
                                "key_passphrase_file"}) {
      if (HasStr(o, k)) {
        return w.FailAt(o, k,
                        "oci_sd: instance_principal auth must not have tenancy, user, fingerprint, "
                        "key_file, key_passphrase, or key_passphrase_file set");
      }
    }
  } else {
    for (absl::string_view k : {"tenancy", "user", "fingerprint", "key_file"}) {
      if (!Required(o, w, k, absl::StrCat("oci_sd: api_key auth requires ", k))) return false;
    }
    if (HasStr(o, "key_passphrase") && HasStr(o, "key_passphrase_file")) {
      return w.FailAt(o, "key_passphrase_file",
                      "oci_sd: at most one of key_passphrase and key_passphrase_file must be "
                      "configured");
    }
  }
  if (Has(o, "refresh_interval") && Nanos(o, "refresh_interval") <= 0) {
    return w.FailAt(o, "refresh_interval", "oci_sd: refresh_interval must be positive");
  }
  return true;
}

// ---- the schema, as data ---------------------------------------------------------

struct Sd {
  absl::string_view key;  // "kubernetes_sd_configs"
  const Type* type;
  PromVersion since;
};

class Schema {
 public:
  Schema() { Build(); }
  const Type& scrape() const { return *scrape_; }
  const std::vector<Sd>& sds() const { return sds_; }
  const std::vector<std::unique_ptr<Type>>& types() const { return types_; }

 private:
  Type* New(Kind kind, std::string name = "") {
    types_.push_back(std::make_unique<Type>());
    types_.back()->kind = kind;
    types_.back()->name = std::move(name);
    return types_.back().get();
  }
  const Type* Scalar(Kind kind) { return New(kind); }
  const Type* ListOf(const Type* elem) {
    Type* t = New(Kind::kList);
    t->elem = elem;
    return t;
  }
  const Type* MapOf(const Type* elem, bool label_keys = false) {
    Type* t = New(Kind::kMap);
    t->elem = elem;
    t->label_keys = label_keys;
    return t;
  }
  const Type* Enum(std::vector<absl::string_view> values, std::vector<PromVersion> since = {},
                   bool fold_case = false) {
    Type* t = New(Kind::kEnum);
    t->values = std::move(values);
    t->value_since = std::move(since);
    t->fold_case = fold_case;
    return t;
  }
  Type* Object(std::string name, std::vector<Field> fields, Rule rule = nullptr) {
    Type* t = New(Kind::kObject, std::move(name));
    t->fields = std::move(fields);
    t->rule = rule;
    return t;
  }
  // An SD config: its own fields, plus the HTTP client config when it inlines one.
  Type* SdObject(absl::string_view key, std::vector<Field> fields, bool http, Rule rule,
                 PromVersion since = kAlways) {
    if (http) {
      for (const Field& f : http_fields_) fields.push_back(f);
    }
    Type* t = Object(absl::StrCat(key, "_sd_config"), std::move(fields), rule);
    t->inlines_http = http;
    sds_.push_back(Sd{keys_.emplace_back(absl::StrCat(key, "_sd_configs")), t, since});
    return t;
  }

  void Build();

  std::vector<std::unique_ptr<Type>> types_;
  std::deque<std::string> keys_;  // stable storage for the SD keys
  std::vector<Field> http_fields_;
  std::vector<Sd> sds_;
  const Type* scrape_ = nullptr;
};

void Schema::Build() {
  const Type* str = Scalar(Kind::kString);
  const Type* secret = Scalar(Kind::kSecret);
  const Type* secret_ref = Scalar(Kind::kSecretRef);
  const Type* boolean = Scalar(Kind::kBool);
  const Type* uint = Scalar(Kind::kUint);
  const Type* integer = Scalar(Kind::kInt);
  const Type* number = Scalar(Kind::kFloat);
  const Type* duration = Scalar(Kind::kDuration);
  const Type* size = Scalar(Kind::kSize);
  const Type* url = Scalar(Kind::kUrl);
  const Type* file = Scalar(Kind::kFile);
  const Type* label_name = Scalar(Kind::kLabelName);
  const Type* regex = Scalar(Kind::kRegex);
  const Type* strings = ListOf(str);
  const Type* string_map = MapOf(str);

  // prometheus/common config: TLSConfig, ProxyConfig, BasicAuth, Authorization,
  // OAuth2, Headers, HTTPClientConfig.
  const Type* tls_version = Enum({"TLS10", "TLS11", "TLS12", "TLS13"});
  const Type* tls = Object("tls_config",
                           {{"ca", str, V(2, 45)},
                            {"cert", str, V(2, 45)},
                            {"key", secret, V(2, 45)},
                            {"ca_file", file},
                            {"cert_file", file},
                            {"key_file", file},
                            {"ca_ref", secret_ref, V(2, 53)},
                            {"cert_ref", secret_ref, V(2, 53)},
                            {"key_ref", secret_ref, V(2, 53)},
                            {"server_name", str},
                            {"insecure_skip_verify", boolean},
                            {"min_version", tls_version},
                            {"max_version", tls_version}},
                           &TlsRule);
  const Type* connect_header = MapOf(ListOf(secret));
  const std::vector<Field> proxy_fields = {
      {"proxy_url", url},
      {"no_proxy", str, V(2, 43)},
      {"proxy_from_environment", boolean, V(2, 43)},
      {"proxy_connect_header", connect_header}};
  const Type* basic_auth = Object("basic_auth", {{"username", str},
                                                 {"username_file", file, V(2, 49)},
                                                 {"username_ref", secret_ref, V(2, 53)},
                                                 {"password", secret},
                                                 {"password_file", file},
                                                 {"password_ref", secret_ref, V(2, 53)}});
  const Type* authorization = Object("authorization", {{"type", str},
                                                       {"credentials", secret},
                                                       {"credentials_file", file},
                                                       {"credentials_ref", secret_ref, V(2, 53)}});
  std::vector<Field> oauth2_fields = {
      {"client_id", str},
      {"client_secret", secret},
      {"client_secret_file", file},
      {"client_secret_ref", secret_ref, V(2, 53)},
      {"scopes", strings},
      {"token_url", str},
      {"endpoint_params", string_map},
      {"tls_config", tls},
      {"grant_type", str, V(3, 8)},
      {"audience", str, V(3, 8)},
      {"claims", MapOf(str), V(3, 8)},
      {"client_certificate_key", secret, V(3, 8)},
      {"client_certificate_key_file", file, V(3, 8)},
      {"client_certificate_key_id", str, V(3, 8)},
      {"client_certificate_key_ref", secret_ref, V(3, 8)},
      {"iss", str, V(3, 8)},
      {"signature_algorithm", str, V(3, 8)}};
  // 2.42's OAuth2 had proxy_url alone; ProxyConfig (all four) is inlined since 2.43.
  oauth2_fields.push_back({"proxy_url", url});
  for (size_t i = 1; i < proxy_fields.size(); ++i) {
    Field f = proxy_fields[i];
    f.since = V(2, 43);
    oauth2_fields.push_back(f);
  }
  const Type* oauth2 = Object("oauth2", std::move(oauth2_fields), &OAuth2Rule);
  const Type* header = Object("http_headers.<name>", {{"values", strings},
                                                      {"secrets", ListOf(secret)},
                                                      {"files", ListOf(file)}});
  Type* headers = New(Kind::kMap);
  headers->elem = header;
  headers->rule = &HeadersRule;
  http_fields_ = {{"basic_auth", basic_auth},
                  {"authorization", authorization},
                  {"oauth2", oauth2},
                  {"bearer_token", secret},
                  {"bearer_token_file", file},
                  {"tls_config", tls},
                  {"follow_redirects", boolean},
                  {"enable_http2", boolean},
                  {"http_headers", headers, V(2, 53)}};
  for (const Field& f : proxy_fields) http_fields_.push_back(f);

  // model/relabel.Config.
  const Type* relabel =
      Object("relabel_config",
             {{"source_labels", ListOf(label_name)},
              {"separator", str},
              {"regex", regex},
              {"modulus", uint},
              {"target_label", str},
              {"replacement", str},
              {"action", Enum({"replace", "keep", "drop", "hashmod", "labelmap", "labeldrop",
                               "labelkeep", "lowercase", "uppercase", "keepequal", "dropequal"},
                              {}, true)}},
             &RelabelRule);
  const Type* relabels = ListOf(relabel);

  // Service discoveries, in discovery/'s order. refresh_interval and port are
  // common to most.
  const Field refresh{"refresh_interval", duration};
  const Field port{"port", integer};
  const Type* ec2_filter = Object("filter", {{"name", str}, {"values", strings}}, &Ec2FilterRule);
  auto aws_common = [&](std::vector<Field> extra) {
    std::vector<Field> f = {{"region", str},       {"endpoint", str},   {"access_key", str},
                            {"secret_key", secret}, {"profile", str},   {"role_arn", str},
                            {"external_id", str, V(3, 12)}, refresh, port};
    for (const Field& e : extra) f.push_back(e);
    return f;
  };
  SdObject("ec2", aws_common({{"filters", ListOf(ec2_filter)}}), true, nullptr);
  SdObject("lightsail", aws_common({}), true, nullptr);
  const Field clusters{"clusters", strings};
  const Field concurrency{"request_concurrency", integer};
  SdObject("ecs", aws_common({clusters, concurrency}), true, nullptr, V(3, 8));
  SdObject("msk", aws_common({clusters, concurrency}), true, nullptr, V(3, 10));
  SdObject("elasticache", aws_common({clusters, concurrency}), true, nullptr, V(3, 11));
  SdObject("rds", aws_common({clusters, concurrency, {"filters", ListOf(ec2_filter), V(3, 13)}}),
           true, nullptr, V(3, 11));
  SdObject("aws",
           aws_common({{"role", Enum({"ec2", "ecs", "elasticache", "lightsail", "msk", "rds"},
                                     {kAlways, kAlways, V(3, 11), kAlways, V(3, 10), V(3, 11)})},
                       clusters,
                       {"filters", ListOf(ec2_filter)}}),
           true, &AwsRule, V(3, 8));
  SdObject("azure",
           {{"environment", str},
            port,
            {"subscription_id", str},
            {"tenant_id", str},
            {"client_id", str},
            {"client_secret", secret},
            refresh,
            {"authentication_method",
             Enum({"OAuth", "ManagedIdentity", "SDK", "WorkloadIdentity"},
                  {kAlways, kAlways, V(2, 52), V(3, 11)})},
            {"resource_group", str}},
           true, &AzureRule);
  SdObject("consul",
           {{"server", str},
            {"path_prefix", str, V(2, 45)},
            {"token", secret},
            {"datacenter", str},
            {"namespace", str},
            {"partition", str},
            {"tag_separator", str},
            {"scheme", str},
            {"username", str},
            {"password", secret},
            {"allow_stale", boolean},
            refresh,
            {"services", strings},
            {"tags", strings},
            {"node_meta", string_map},
            {"filter", str, V(3, 0)},
            {"health_filter", str, V(3, 12)}},
           true, &ConsulRule);
  SdObject("digitalocean", {refresh, port, {"role", Enum({"droplets", "databases"}), V(3, 12)}},
           true, nullptr);
  SdObject("dns", {{"names", strings}, refresh, {"type", str}, port}, false, &DnsRule);
  SdObject("eureka", {{"server", str}, refresh}, true, &EurekaRule);
  SdObject("file", {{"files", ListOf(Scalar(Kind::kTargetsFile))}, refresh}, false, &FileSdRule);
  SdObject("gce",
           {{"project", str}, {"zone", str}, {"filter", str}, refresh, port, {"tag_separator", str}},
           false, &GceRule);
  SdObject("hetzner",
           {refresh, port, {"role", Enum({"robot", "hcloud"})}, {"label_selector", str, V(3, 5)}},
           true, &HetznerRule);
  SdObject("http", {refresh, {"url", str}}, true, &HttpSdRule);
  SdObject("ionos", {{"datacenter_id", str}, refresh, port}, true, &IonosRule);
  const Type* k8s_role =
      Enum({"endpoints", "endpointslice", "service", "pod", "node", "ingress"});
  SdObject("kubernetes",
           {{"api_server", url},
            {"role", k8s_role},
            {"kubeconfig_file", file},
            {"namespaces",
             Object("namespaces", {{"own_namespace", boolean}, {"names", strings}})},
            {"selectors",
             ListOf(Object("selector", {{"role", k8s_role}, {"label", str}, {"field", str}}))},
            {"attach_metadata", Object("attach_metadata", {{"node", boolean},
                                                           {"namespace", boolean, V(3, 6)},
                                                           {"deployment", boolean, V(3, 11)},
                                                           {"cronjob", boolean, V(3, 11)},
                                                           {"job", boolean, V(3, 11)}})}},
           true, &KubernetesRule);
  SdObject("kuma", {refresh, {"fetch_timeout", duration}, {"server", str},
                    {"client_id", str, V(2, 50)}},
           true, &KumaRule);
  SdObject("linode", {refresh, port, {"tag_separator", str}, {"region", str, V(2, 52)}}, true,
           nullptr);
  SdObject("marathon",
           {{"servers", strings}, refresh, {"auth_token", secret}, {"auth_token_file", file}},
           true, &MarathonRule);
  const Type* docker_filters = ListOf(Object("filter", {{"name", str}, {"values", strings}}));
  SdObject("docker",
           {{"host", str},
            port,
            {"filters", docker_filters},
            {"host_networking_host", str},
            refresh,
            {"match_first_network", boolean, V(2, 54)}},
           true, &DockerRule);
  SdObject("dockerswarm",
           {{"host", str},
            {"role", Enum({"services", "tasks", "nodes"})},
            port,
            {"filters", docker_filters},
            refresh},
           true, &DockerSwarmRule);
  SdObject("nomad",
           {{"allow_stale", boolean}, {"namespace", str}, refresh, {"region", str}, {"server", str},
            {"tag_separator", str}},
           true, &NomadRule);
  SdObject("oci",
           {{"auth", Enum({"api_key", "instance_principal"})},
            {"tenancy", str},
            {"user", str},
            {"fingerprint", str},
            {"key_file", file},
            {"key_passphrase", secret},
            {"key_passphrase_file", file},
            {"region", str},
            {"compartments", strings},
            port,
            refresh},
           true, &OciRule, V(3, 14));
  SdObject("openstack",
           {{"identity_endpoint", str},
            {"username", str},
            {"userid", str},
            {"password", secret},
            {"project_name", str},
            {"project_id", str},
            {"domain_name", str},
            {"domain_id", str},
            {"application_credential_name", str},
            {"application_credential_id", str},
            {"application_credential_secret", secret},
            {"role", Enum({"hypervisor", "instance", "loadbalancer"}, {kAlways, kAlways, V(3, 3)})},
            {"region", str},
            refresh,
            port,
            {"all_tenants", boolean},
            {"tls_config", tls},
            {"availability", Enum({"public", "admin", "internal"})}},
           false, &OpenStackRule);
  SdObject("outscale",
           {{"endpoint", str}, {"region", str}, {"access_key", str}, {"secret_key", secret},
            {"secret_key_file", file}, refresh, port},
           true, &OutscaleRule, V(3, 12));
  SdObject("ovhcloud",
           {{"endpoint", str},
            {"application_key", str},
            {"application_secret", secret},
            {"consumer_key", secret},
            refresh,
            {"service", Enum({"vps", "dedicated_server"})}},
           false, &OvhRule);
  SdObject("puppetdb",
           {refresh, {"url", str}, {"query", str}, {"include_parameters", boolean}, port}, true,
           &PuppetDbRule);
  SdObject("scaleway",
           {{"project_id", str},
            {"api_url", str},
            {"zone", str},
            {"access_key", str},
            {"secret_key", secret},
            {"secret_key_file", file},
            {"name_filter", str},
            {"tags_filter", strings},
            refresh,
            port,
            {"role", Enum({"instance", "baremetal"})}},
           true, &ScalewayRule);
  SdObject("stackit",
           {{"project", str},
            refresh,
            port,
            {"region", str},
            {"endpoint", str},
            {"service_account_key", secret},
            {"private_key", secret},
            {"service_account_key_path", file},
            {"private_key_path", file},
            {"credentials_file_path", file}},
           true, &StackitRule, V(3, 5));
  const std::vector<Field> zk = {{"servers", strings}, {"paths", strings}, {"timeout", duration}};
  SdObject("serverset", zk, false, &ServersetRule);
  SdObject("nerve", zk, false, &NerveRule);
  SdObject("triton",
           {{"account", str},
            {"role", str},
            {"dns_suffix", str},
            {"endpoint", str},
            {"groups", strings},
            port,
            refresh,
            {"tls_config", tls},
            {"version", integer}},
           false, &TritonRule);
  SdObject("uyuni",
           {{"server", str}, {"username", str}, {"password", secret}, {"entitlement", str},
            {"separator", str}, refresh},
           true, &UyuniRule);
  SdObject("vultr", {refresh, port}, true, nullptr);
  // discovery.StaticConfig: target groups.
  const Type* static_group =
      Object("static_config", {{"targets", strings}, {"labels", MapOf(str, true)}});

  std::vector<Field> scrape = {
      {"job_name", str},
      {"honor_labels", boolean},
      {"honor_timestamps", boolean},
      {"track_timestamps_staleness", boolean, V(2, 48)},
      {"params", MapOf(strings)},
      {"scrape_interval", duration},
      {"scrape_timeout", duration},
      {"scrape_protocols",
       ListOf(Enum({"PrometheusProto", "OpenMetricsText0.0.1", "OpenMetricsText1.0.0",
                    "PrometheusText0.0.4", "PrometheusText1.0.0"},
                   {kAlways, kAlways, kAlways, kAlways, V(3, 0)})),
       V(2, 49)},
      {"fallback_scrape_protocol",
       Enum({"PrometheusProto", "OpenMetricsText0.0.1", "OpenMetricsText1.0.0",
             "PrometheusText0.0.4", "PrometheusText1.0.0"}),
       V(3, 0)},
      {"scrape_classic_histograms", boolean, V(2, 45), V(3, 0)},
      {"scrape_native_histograms", boolean, V(3, 8)},
      {"always_scrape_classic_histograms", boolean, V(3, 0)},
      {"convert_classic_histograms_to_nhcb", boolean, V(3, 0)},
      {"scrape_failure_log_file", file, V(2, 55)},
      {"metrics_path", str},
      {"scheme", str},
      {"enable_compression", boolean, V(2, 49)},
      {"body_size_limit", size},
      {"sample_limit", uint},
      {"target_limit", uint},
      {"label_limit", uint},
      {"label_name_length_limit", uint},
      {"label_value_length_limit", uint},
      {"native_histogram_bucket_limit", uint, V(2, 45)},
      {"native_histogram_min_bucket_factor", number, V(2, 50)},
      {"keep_dropped_targets", uint, V(2, 47)},
      {"metric_name_validation_scheme", Enum({"legacy", "utf8"}), V(2, 55)},
      {"metric_name_escaping_scheme", Enum({"allow-utf-8", "underscores", "dots", "values"}),
       V(3, 4)},
      {"extra_scrape_metrics", boolean, V(3, 10)},
      {"relabel_configs", relabels},
      {"metric_relabel_configs", relabels},
      {"static_configs", ListOf(static_group)}};
  for (const Sd& sd : sds_) scrape.push_back({sd.key, ListOf(sd.type), sd.since});
  for (const Field& f : http_fields_) scrape.push_back(f);
  Type* s = Object("scrape_config", std::move(scrape), &ScrapeRule);
  s->inlines_http = true;
  scrape_ = s;
}

const Schema& GetSchema() {
  static const Schema* schema = new Schema();
  return *schema;
}

}  // namespace

absl::Status CheckScrapeConfig(const YamlSubsetNode& sc, const ScrapeCheckOptions& options,
                               FragmentError* error, absl::string_view key_prefix) {
  Walker w(options, error, key_prefix);
  // The name validation scheme decides what a label name is in every
  // relabel rule below, so it is read before the walk.
  std::string scheme = options.global_name_validation_scheme;
  if (sc.IsMap() && options.version >= V(2, 55)) {
    const YamlSubsetNode* local = sc.Find("metric_name_validation_scheme");
    if (local != nullptr && local->IsScalar() && !local->scalar.empty()) scheme = local->scalar;
  }
  w.utf8_names = options.version >= V(3, 0) ? scheme != "legacy" : false;
  if (sc.IsNull()) {
    w.Fail(sc, "empty or null scrape config section");
  } else if (w.Check(sc, GetSchema().scrape())) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(w.reason());
}

bool IsServiceDiscoveryKey(absl::string_view name) {
  for (const Sd& sd : GetSchema().sds()) {
    if (sd.key == name) return true;
  }
  return false;
}

std::vector<std::pair<std::string, PromVersion>> ServiceDiscoveryKeys() {
  std::vector<std::pair<std::string, PromVersion>> out;
  for (const Sd& sd : GetSchema().sds()) out.emplace_back(std::string(sd.key), sd.since);
  return out;
}

std::vector<std::string> FileFieldPaths() {
  std::set<std::string> out;
  for (const auto& t : GetSchema().types()) {
    if (t->kind != Kind::kObject) continue;
    for (const Field& f : t->fields) {
      const Type* ft = f.type;
      while (ft->kind == Kind::kList) ft = ft->elem;
      if (ft->kind == Kind::kFile) out.insert(absl::StrCat(t->name, ".", f.name));
    }
  }
  return std::vector<std::string>(out.begin(), out.end());
}

}  // namespace promconf::prom
