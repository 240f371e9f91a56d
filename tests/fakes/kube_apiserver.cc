#include "tests/fakes/kube_apiserver.h"

#include <algorithm>
#include <deque>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/fakes/http_test_server.h"
#include "util/status_macros.h"

// RapidJSON 1.1's member iterators predate C++20's reversed comparison
// candidates; clang flags every `it != MemberEnd()` as ambiguous (fixed
// upstream after 1.1). The comparison itself is well-defined.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wambiguous-reversed-operator"
#endif

namespace promconf {
namespace {

using rapidjson::Document;
using rapidjson::Value;

struct ResourceInfo {
  const char* resource;
  const char* singular;
  const char* kind;
  const char* group;    // "" = core
  const char* version;
  const char* short_name;  // "" = none
};

constexpr ResourceInfo kResources[] = {
    {"configmaps", "configmap", "ConfigMap", "", "v1", "cm"},
    {"secrets", "secret", "Secret", "", "v1", ""},
    {"events", "event", "Event", "", "v1", "ev"},
    {"leases", "lease", "Lease", "coordination.k8s.io", "v1", ""},
};

const ResourceInfo* FindResource(absl::string_view group, absl::string_view resource) {
  for (const auto& r : kResources) {
    if (group == r.group && resource == r.resource) return &r;
  }
  return nullptr;
}

std::string ApiVersion(const ResourceInfo& r) {
  return r.group[0] == '\0' ? std::string(r.version) : absl::StrCat(r.group, "/", r.version);
}

std::string ToJson(const Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

void SetString(Value& obj, const char* name, absl::string_view value,
               Document::AllocatorType& a) {
  Value v(value.data(), static_cast<rapidjson::SizeType>(value.size()), a);
  auto it = obj.FindMember(name);
  if (it != obj.MemberEnd()) {
    it->value = v;
  } else {
    obj.AddMember(Value(name, a), v, a);
  }
}

Value& EnsureObject(Value& obj, const char* name, Document::AllocatorType& a) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) {
    obj.AddMember(Value(name, a), Value(rapidjson::kObjectType), a);
    it = obj.FindMember(name);
  }
  if (!it->value.IsObject()) it->value.SetObject();
  return it->value;
}

std::string GetString(const Value& obj, const char* name) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::map<std::string, std::string> LabelsOf(const Value& obj) {
  std::map<std::string, std::string> out;
  if (!obj.IsObject()) return out;
  auto md = obj.FindMember("metadata");
  if (md == obj.MemberEnd() || !md->value.IsObject()) return out;
  auto l = md->value.FindMember("labels");
  if (l == md->value.MemberEnd() || !l->value.IsObject()) return out;
  for (const auto& m : l->value.GetObject()) {
    if (m.value.IsString()) out[m.name.GetString()] = m.value.GetString();
  }
  return out;
}

// RFC 7386 JSON merge patch; strategic-merge-patch directives ("$...") are
// dropped, which is exact for ConfigMaps, Secrets and Leases.
void MergePatch(Value& target, const Value& patch, Document::AllocatorType& a) {
  if (!patch.IsObject()) {
    target.CopyFrom(patch, a);
    return;
  }
  if (!target.IsObject()) target.SetObject();
  for (const auto& m : patch.GetObject()) {
    absl::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (absl::StartsWith(name, "$")) continue;
    auto it = target.FindMember(m.name);
    if (m.value.IsNull()) {
      if (it != target.MemberEnd()) target.RemoveMember(it);
      continue;
    }
    if (it == target.MemberEnd()) {
      Value v;
      MergePatch(v, m.value, a);
      target.AddMember(Value(m.name, a), v, a);
    } else {
      MergePatch(it->value, m.value, a);
    }
  }
}

std::string Now3339() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
}

std::string StatusJson(int code, absl::string_view reason, absl::string_view message,
                       absl::string_view name = "", absl::string_view kind = "",
                       absl::string_view group = "") {
  Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  SetString(d, "kind", "Status", a);
  SetString(d, "apiVersion", "v1", a);
  d.AddMember("metadata", Value(rapidjson::kObjectType), a);
  SetString(d, "status", code < 300 ? "Success" : "Failure", a);
  if (!message.empty()) SetString(d, "message", message, a);
  if (!reason.empty()) SetString(d, "reason", reason, a);
  if (!name.empty() || !kind.empty()) {
    Value details(rapidjson::kObjectType);
    if (!name.empty()) SetString(details, "name", name, a);
    if (!group.empty()) SetString(details, "group", group, a);
    if (!kind.empty()) SetString(details, "kind", kind, a);
    d.AddMember("details", details, a);
  }
  d.AddMember("code", code, a);
  return ToJson(d);
}

const char* ReasonFor(int code) {
  switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "";
  }
}

using ObjKey = std::tuple<std::string, std::string, std::string>;  // resource, ns, name

struct StoredObject {
  std::string json;
  std::map<std::string, std::string> labels;
};

struct HistoryEvent {
  int64_t rv = 0;
  std::string type;  // ADDED, MODIFIED, DELETED
  ObjKey key;
  StoredObject object;               // new object; for DELETED the last state at rv
  std::optional<StoredObject> prev;  // state before this event
};

struct ContinueToken {
  int64_t rv = 0;
  std::string start_after;  // "ns/name" of the last item returned
};

std::string EncodeContinue(const ContinueToken& t) {
  Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("v", "meta.k8s.io/v1", a);
  d.AddMember("rv", t.rv, a);
  SetString(d, "start", t.start_after, a);
  return absl::WebSafeBase64Escape(ToJson(d));
}

bool DecodeContinue(const std::string& s, ContinueToken* t) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(s, &raw)) return false;
  Document d;
  d.Parse(raw.data(), raw.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("rv") || !d["rv"].IsInt64()) return false;
  t->rv = d["rv"].GetInt64();
  t->start_after = GetString(d, "start");
  return true;
}

// A parsed list/watch request against one resource.
struct ResourceRequest {
  const ResourceInfo* info = nullptr;
  std::string ns;    // "" = all namespaces
  std::string name;  // "" = collection
  bool watch = false;
};

bool FieldsMatch(const std::vector<std::tuple<std::string, bool, std::string>>& fields,
                 const ObjKey& key) {
  for (const auto& [field, equal, value] : fields) {
    const std::string& actual = field == "metadata.name" ? std::get<2>(key) : std::get<1>(key);
    if ((actual == value) != equal) return false;
  }
  return true;
}

// Kubernetes label selector: "a=b,c!=d,e in (x,y),f notin (z),g,!h".
class LabelSelector {
 public:
  static absl::StatusOr<LabelSelector> Parse(absl::string_view text) {
    LabelSelector sel;
    // Split at commas outside parentheses.
    std::vector<std::string> terms;
    std::string cur;
    int depth = 0;
    for (char c : text) {
      if (c == '(') ++depth;
      if (c == ')') --depth;
      if (c == ',' && depth == 0) {
        terms.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(c);
      }
    }
    terms.push_back(cur);
    for (std::string& raw : terms) {
      std::string t(absl::StripAsciiWhitespace(raw));
      if (t.empty()) {
        if (terms.size() == 1) break;
        return absl::InvalidArgumentError(absl::StrCat("unable to parse requirement: empty term in \"",
                                                       std::string(text), "\""));
      }
      Requirement r;
      size_t paren = t.find('(');
      if (paren != std::string::npos) {
        if (t.back() != ')') return Bad(text);
        std::vector<std::string> words =
            absl::StrSplit(t.substr(0, paren), ' ', absl::SkipWhitespace());
        if (words.size() != 2 || (words[1] != "in" && words[1] != "notin")) return Bad(text);
        r.key = words[0];
        r.op = words[1] == "in" ? Op::kIn : Op::kNotIn;
        for (absl::string_view v :
             absl::StrSplit(t.substr(paren + 1, t.size() - paren - 2), ',')) {
          r.values.insert(std::string(absl::StripAsciiWhitespace(v)));
        }
      } else if (t[0] == '!') {
        r.key = std::string(absl::StripAsciiWhitespace(t.substr(1)));
        r.op = Op::kNotExists;
      } else if (size_t ne = t.find("!="); ne != std::string::npos) {
        r.key = std::string(absl::StripAsciiWhitespace(t.substr(0, ne)));
        r.op = Op::kNotEquals;
        r.values.insert(std::string(absl::StripAsciiWhitespace(t.substr(ne + 2))));
      } else if (size_t eq = t.find('='); eq != std::string::npos) {
        size_t vstart = (eq + 1 < t.size() && t[eq + 1] == '=') ? eq + 2 : eq + 1;
        r.key = std::string(absl::StripAsciiWhitespace(t.substr(0, eq)));
        r.op = Op::kEquals;
        r.values.insert(std::string(absl::StripAsciiWhitespace(t.substr(vstart))));
      } else {
        r.key = t;
        r.op = Op::kExists;
      }
      if (r.key.empty() || r.key.find_first_of(" =!()") != std::string::npos) return Bad(text);
      sel.reqs_.push_back(std::move(r));
    }
    return sel;
  }

  bool Matches(const std::map<std::string, std::string>& labels) const {
    for (const auto& r : reqs_) {
      auto it = labels.find(r.key);
      bool has = it != labels.end();
      bool in = has && r.values.count(it->second) > 0;
      switch (r.op) {
        case Op::kEquals:
        case Op::kIn:
          if (!in) return false;
          break;
        case Op::kNotEquals:
        case Op::kNotIn:
          if (in) return false;
          break;
        case Op::kExists:
          if (!has) return false;
          break;
        case Op::kNotExists:
          if (has) return false;
          break;
      }
    }
    return true;
  }

 private:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    std::set<std::string> values;
  };
  static absl::Status Bad(absl::string_view text) {
    return absl::InvalidArgumentError(
        absl::StrCat("unable to parse requirement: invalid label selector \"", std::string(text),
                     "\""));
  }
  std::vector<Requirement> reqs_;
};

// fieldSelector: metadata.name and metadata.namespace with =, ==, !=.
absl::StatusOr<std::vector<std::tuple<std::string, bool, std::string>>> ParseFieldSelector(
    absl::string_view text) {
  std::vector<std::tuple<std::string, bool, std::string>> out;
  for (absl::string_view term : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    term = absl::StripAsciiWhitespace(term);
    bool equal = true;
    size_t op = term.find("!=");
    size_t vstart;
    if (op != absl::string_view::npos) {
      equal = false;
      vstart = op + 2;
    } else {
      op = term.find('=');
      if (op == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid selector: '", std::string(text), "'; can't understand '",
                         std::string(term), "'"));
      }
      vstart = (op + 1 < term.size() && term[op + 1] == '=') ? op + 2 : op + 1;
    }
    std::string field(absl::StripAsciiWhitespace(term.substr(0, op)));
    if (field != "metadata.name" && field != "metadata.namespace") {
      return absl::InvalidArgumentError(
          absl::StrCat("field label not supported: ", field));
    }
    out.emplace_back(field, equal, std::string(absl::StripAsciiWhitespace(term.substr(vstart))));
  }
  return out;
}

}  // namespace

struct FakeKubeApiServer::State {
  Options options;
  TestCertificates certs;
  std::unique_ptr<HttpTestServer> server;

  mutable absl::Mutex mu;
  std::map<ObjKey, StoredObject> objects ABSL_GUARDED_BY(mu);
  int64_t rv ABSL_GUARDED_BY(mu) = 1;
  // Every event with rv > history_floor is in history (ascending rv).
  std::deque<HistoryEvent> history ABSL_GUARDED_BY(mu);
  int64_t history_floor ABSL_GUARDED_BY(mu) = 1;
  std::string token ABSL_GUARDED_BY(mu);
  int fail_status ABSL_GUARDED_BY(mu) = 0;
  int fail_count ABSL_GUARDED_BY(mu) = 0;
  int64_t drop_generation ABSL_GUARDED_BY(mu) = 0;
  int64_t stall_generation ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::string> request_log ABSL_GUARDED_BY(mu);
  std::vector<FakeKubeApiServer::WriteRecord> write_log ABSL_GUARDED_BY(mu);
  std::mt19937_64 rng ABSL_GUARDED_BY(mu){std::random_device{}()};

  // --- writes ----------------------------------------------------------------
  std::string NewUid() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    uint64_t a = rng(), b = rng();
    return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", a >> 32, (a >> 16) & 0xffff,
                           a & 0xfff, 0x8000 | (b >> 48 & 0x3fff), b & 0xffffffffffffULL);
  }

  void Record(HistoryEvent ev) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    history.push_back(std::move(ev));
    while (static_cast<int>(history.size()) > std::max(1, options.history_events)) {
      history_floor = history.front().rv;
      history.pop_front();
    }
  }

  void LogWriteLocked(const HttpTestRequest& req, const ObjKey& key, const std::string& json)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    FakeKubeApiServer::WriteRecord w;
    w.at = absl::Now();
    w.method = req.method;
    w.resource = std::get<0>(key);
    w.ns = std::get<1>(key);
    w.name = std::get<2>(key);
    w.who = std::string(req.Header("user-agent"));
    w.resource_version = rv;
    if (w.resource == "leases" && !json.empty()) {
      Document d;
      d.Parse(json.data(), json.size());
      if (!d.HasParseError() && d.IsObject() && d.HasMember("spec") && d["spec"].IsObject()) {
        w.lease_holder = GetString(d["spec"], "holderIdentity");
        auto ld = d["spec"].FindMember("leaseDurationSeconds");
        if (ld != d["spec"].MemberEnd() && ld->value.IsInt64()) {
          w.lease_duration_seconds = ld->value.GetInt64();
        }
      }
    }
    write_log.push_back(std::move(w));
  }

  // Stores obj (metadata already complete except resourceVersion) under key,
  // bumping the resourceVersion unless nothing changed. Returns the stored JSON.
  std::string CommitLocked(const ObjKey& key, Document& obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto& a = obj.GetAllocator();
    Value& md = EnsureObject(obj, "metadata", a);
    auto it = objects.find(key);
    if (it != objects.end()) {
      // A no-op update keeps the resourceVersion, as the apiserver does.
      Document old;
      old.Parse(it->second.json.data(), it->second.json.size());
      SetString(md, "resourceVersion", GetString(old["metadata"], "resourceVersion"), a);
      if (old == obj) return it->second.json;
    }
    ++rv;
    SetString(md, "resourceVersion", absl::StrCat(rv), a);
    StoredObject stored{ToJson(obj), LabelsOf(obj)};
    HistoryEvent ev;
    ev.rv = rv;
    ev.key = key;
    ev.object = stored;
    if (it != objects.end()) {
      ev.type = "MODIFIED";
      ev.prev = it->second;
      it->second = stored;
    } else {
      ev.type = "ADDED";
      objects.emplace(key, stored);
    }
    Record(std::move(ev));
    return stored.json;
  }

  // Removes the object; returns its last state with the deletion's RV.
  std::string DeleteLocked(const ObjKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = objects.find(key);
    ++rv;
    Document d;
    d.Parse(it->second.json.data(), it->second.json.size());
    SetString(EnsureObject(d, "metadata", d.GetAllocator()), "resourceVersion", absl::StrCat(rv),
              d.GetAllocator());
    HistoryEvent ev;
    ev.rv = rv;
    ev.type = "DELETED";
    ev.key = key;
    ev.object = StoredObject{ToJson(d), it->second.labels};
    ev.prev = it->second;
    objects.erase(it);
    std::string json = ev.object.json;
    Record(std::move(ev));
    return json;
  }

  // Fills apiVersion/kind and the server-owned metadata of a new object.
  void PrepareNew(const ResourceInfo& info, const std::string& ns, const std::string& name,
                  Document& obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto& a = obj.GetAllocator();
    SetString(obj, "apiVersion", ApiVersion(info), a);
    SetString(obj, "kind", info.kind, a);
    Value& md = EnsureObject(obj, "metadata", a);
    SetString(md, "name", name, a);
    SetString(md, "namespace", ns, a);
    SetString(md, "uid", NewUid(), a);
    SetString(md, "creationTimestamp", Now3339(), a);
    if (md.HasMember("generateName")) md.RemoveMember("generateName");
    if (md.HasMember("managedFields")) md.RemoveMember("managedFields");
    NormalizeSecret(info, obj);
  }

  // Keeps server-owned metadata of `old` on an updated object.
  static void CarryOver(const ResourceInfo& info, const std::string& ns, const std::string& name,
                        const Value& old, Document& obj) {
    auto& a = obj.GetAllocator();
    SetString(obj, "apiVersion", ApiVersion(info), a);
    SetString(obj, "kind", info.kind, a);
    Value& md = EnsureObject(obj, "metadata", a);
    SetString(md, "name", name, a);
    SetString(md, "namespace", ns, a);
    SetString(md, "uid", GetString(old["metadata"], "uid"), a);
    SetString(md, "creationTimestamp", GetString(old["metadata"], "creationTimestamp"), a);
    if (md.HasMember("managedFields")) md.RemoveMember("managedFields");
    NormalizeSecret(info, obj);
  }

  // The apiserver folds a Secret's stringData into data (base64).
  static void NormalizeSecret(const ResourceInfo& info, Document& obj) {
    if (std::string(info.resource) != "secrets" || !obj.HasMember("stringData")) return;
    auto& a = obj.GetAllocator();
    Value& data = EnsureObject(obj, "data", a);
    if (obj["stringData"].IsObject()) {
      for (const auto& m : obj["stringData"].GetObject()) {
        if (!m.value.IsString()) continue;
        std::string enc = absl::Base64Escape(
            absl::string_view(m.value.GetString(), m.value.GetStringLength()));
        auto it = data.FindMember(m.name);
        Value v(enc.c_str(), static_cast<rapidjson::SizeType>(enc.size()), a);
        if (it != data.MemberEnd()) {
          it->value = v;
        } else {
          data.AddMember(Value(m.name, a), v, a);
        }
      }
    }
    obj.RemoveMember("stringData");
  }

  // Objects of one resource as they were at resourceVersion `at`
  // (REQUIRES at >= history_floor), or now when at == rv.
  std::map<ObjKey, StoredObject> SnapshotLocked(const std::string& resource, int64_t at) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::map<ObjKey, StoredObject> snap;
    for (auto it = objects.lower_bound({resource, "", ""});
         it != objects.end() && std::get<0>(it->first) == resource; ++it) {
      snap.insert(*it);
    }
    for (auto it = history.rbegin(); it != history.rend() && it->rv > at; ++it) {
      if (std::get<0>(it->key) != resource) continue;
      if (it->prev) {
        snap[it->key] = *it->prev;
      } else {
        snap.erase(it->key);
      }
    }
    return snap;
  }

  // --- HTTP ------------------------------------------------------------------
  void Handle(const HttpTestRequest& req, HttpTestResponse& resp);
  void HandleResource(const HttpTestRequest& req, const ResourceRequest& rr,
                      HttpTestResponse& resp);
  void HandleList(const HttpTestRequest& req, const ResourceRequest& rr, HttpTestResponse& resp);
  void HandleWatch(const HttpTestRequest& req, const ResourceRequest& rr,
                   HttpTestResponse& resp);
  bool HandleDiscovery(const HttpTestRequest& req, HttpTestResponse& resp);
  void HandleNamespaces(const HttpTestRequest& req, const std::string& name,
                        HttpTestResponse& resp);
};

namespace {

std::string NamespaceJson(const std::string& name) {
  return absl::StrCat(R"({"kind":"Namespace","apiVersion":"v1","metadata":{"name":")", name,
                      R"(","labels":{"kubernetes.io/metadata.name":")", name,
                      R"("},"resourceVersion":"1","creationTimestamp":"2024-01-01T00:00:00Z"},)"
                      R"("spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}})");
}

// A minimal OpenAPI v3 document per group-version: just enough for kubectl
// to see that PATCH accepts fieldValidation, so `kubectl apply` validates on
// the server (which here accepts everything) instead of downloading schemas.
std::string OpenApiV3Json(absl::string_view gv_path) {
  Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("openapi", "3.0.0", a);
  Value info(rapidjson::kObjectType);
  info.AddMember("title", "Kubernetes", a);
  info.AddMember("version", "v1.31.0", a);
  d.AddMember("info", info, a);
  Value paths(rapidjson::kObjectType);
  for (const auto& r : kResources) {
    std::string gv = r.group[0] == '\0' ? "api/v1" : absl::StrCat("apis/", r.group, "/", r.version);
    if (gv != gv_path) continue;
    std::string path = absl::StrCat("/", gv, "/namespaces/{namespace}/", r.resource, "/{name}");
    Value item(rapidjson::kObjectType);
    for (const char* method : {"get", "put", "patch", "delete"}) {
      Value op(rapidjson::kObjectType);
      Value gvk(rapidjson::kObjectType);
      SetString(gvk, "group", r.group, a);
      SetString(gvk, "version", r.version, a);
      SetString(gvk, "kind", r.kind, a);
      op.AddMember("x-kubernetes-group-version-kind", gvk, a);
      Value params(rapidjson::kArrayType);
      for (const char* q : {"dryRun", "fieldManager", "fieldValidation", "force"}) {
        Value p(rapidjson::kObjectType);
        SetString(p, "name", q, a);
        p.AddMember("in", "query", a);
        Value schema(rapidjson::kObjectType);
        schema.AddMember("type", "string", a);
        p.AddMember("schema", schema, a);
        params.PushBack(p, a);
      }
      op.AddMember("parameters", params, a);
      op.AddMember("responses", Value(rapidjson::kObjectType), a);
      item.AddMember(Value(method, a), op, a);
    }
    paths.AddMember(Value(path.c_str(), static_cast<rapidjson::SizeType>(path.size()), a), item, a);
  }
  d.AddMember("paths", paths, a);
  Value components(rapidjson::kObjectType);
  components.AddMember("schemas", Value(rapidjson::kObjectType), a);
  d.AddMember("components", components, a);
  return ToJson(d);
}

}  // namespace

namespace {

void SendJson(HttpTestResponse& resp, int status, const std::string& body,
              const HttpTestResponse::Headers& headers = {}) {
  resp.Send(status, "application/json", body, headers);
}

void SendStatus(HttpTestResponse& resp, int code, absl::string_view message,
                absl::string_view name = "", absl::string_view kind = "",
                absl::string_view reason = "") {
  SendJson(resp, code,
           StatusJson(code, reason.empty() ? ReasonFor(code) : reason, message, name, kind));
}

std::string ResourceListJson(const std::string& group_version,
                             const std::vector<const ResourceInfo*>& infos) {
  Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  SetString(d, "kind", "APIResourceList", a);
  SetString(d, "apiVersion", "v1", a);
  SetString(d, "groupVersion", group_version, a);
  Value list(rapidjson::kArrayType);
  for (const ResourceInfo* r : infos) {
    Value e(rapidjson::kObjectType);
    SetString(e, "name", r->resource, a);
    SetString(e, "singularName", r->singular, a);
    e.AddMember("namespaced", true, a);
    SetString(e, "kind", r->kind, a);
    Value verbs(rapidjson::kArrayType);
    for (const char* v : {"create", "delete", "deletecollection", "get", "list", "patch",
                          "update", "watch"}) {
      verbs.PushBack(Value(v, a), a);
    }
    e.AddMember("verbs", verbs, a);
    if (r->short_name[0] != '\0') {
      Value sn(rapidjson::kArrayType);
      sn.PushBack(Value(r->short_name, a), a);
      e.AddMember("shortNames", sn, a);
    }
    list.PushBack(e, a);
  }
  d.AddMember("resources", list, a);
  return ToJson(d);
}

}  // namespace

bool FakeKubeApiServer::State::HandleDiscovery(const HttpTestRequest& req,
                                               HttpTestResponse& resp) {
  const std::string& p = req.path;
  if (p == "/version" || p == "/version/") {
    SendJson(resp, 200,
             R"({"major":"1","minor":"31","gitVersion":"v1.31.0","gitCommit":"fake",)"
             R"("gitTreeState":"clean","buildDate":"2024-08-13T07:28:49Z",)"
             R"("goVersion":"go1.22.5","compiler":"gc","platform":"linux/amd64"})");
    return true;
  }
  if (p == "/openapi/v3" || p == "/openapi/v3/") {
    std::string body = R"({"paths":{)";
    body += R"("api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=F1"},)";
    body += R"("apis/coordination.k8s.io/v1":{"serverRelativeURL":)"
            R"("/openapi/v3/apis/coordination.k8s.io/v1?hash=F2"}}})";
    SendJson(resp, 200, body);
    return true;
  }
  if (p == "/openapi/v3/api/v1" || p == "/openapi/v3/apis/coordination.k8s.io/v1") {
    SendJson(resp, 200, OpenApiV3Json(absl::StripPrefix(p, "/openapi/v3/")));
    return true;
  }
  if (p == "/healthz" || p == "/livez" || p == "/readyz") {
    resp.Send(200, "text/plain", "ok");
    return true;
  }
  // Plain JSON answers to aggregated-discovery Accept headers make client-go
  // fall back to the legacy discovery documents below.
  if (p == "/api" || p == "/api/") {
    SendJson(resp, 200,
             absl::StrCat(R"({"kind":"APIVersions","versions":["v1"],)"
                          R"("serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0",)"
                          R"("serverAddress":"127.0.0.1:)",
                          server->port(), R"("}]})"));
    return true;
  }
  if (p == "/apis" || p == "/apis/") {
    SendJson(resp, 200,
             R"({"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"coordination.k8s.io",)"
             R"("versions":[{"groupVersion":"coordination.k8s.io/v1","version":"v1"}],)"
             R"("preferredVersion":{"groupVersion":"coordination.k8s.io/v1","version":"v1"}}]})");
    return true;
  }
  if (p == "/apis/coordination.k8s.io" || p == "/apis/coordination.k8s.io/") {
    SendJson(resp, 200,
             R"({"kind":"APIGroup","apiVersion":"v1","name":"coordination.k8s.io",)"
             R"("versions":[{"groupVersion":"coordination.k8s.io/v1","version":"v1"}],)"
             R"("preferredVersion":{"groupVersion":"coordination.k8s.io/v1","version":"v1"}})");
    return true;
  }
  if (p == "/api/v1" || p == "/api/v1/") {
    std::vector<const ResourceInfo*> infos;
    for (const auto& r : kResources) {
      if (r.group[0] == '\0') infos.push_back(&r);
    }
    SendJson(resp, 200, ResourceListJson("v1", infos));
    return true;
  }
  if (p == "/apis/coordination.k8s.io/v1" || p == "/apis/coordination.k8s.io/v1/") {
    SendJson(resp, 200,
             ResourceListJson("coordination.k8s.io/v1", {FindResource("coordination.k8s.io",
                                                                       "leases")}));
    return true;
  }
  return false;
}

void FakeKubeApiServer::State::HandleNamespaces(const HttpTestRequest& req,
                                                const std::string& name, HttpTestResponse& resp) {
  (void)req;
  // Every namespace exists (kubectl asks after a NotFound to word its error).
  if (!name.empty()) {
    SendJson(resp, 200, NamespaceJson(name));
    return;
  }
  std::set<std::string> names = {"default", "kube-system", "kube-public"};
  int64_t at;
  {
    absl::MutexLock l(&mu);
    for (const auto& [key, obj] : objects) names.insert(std::get<1>(key));
    at = rv;
  }
  std::vector<std::string> items;
  for (const auto& n : names) items.push_back(NamespaceJson(n));
  SendJson(resp, 200,
           absl::StrCat(R"({"kind":"NamespaceList","apiVersion":"v1","metadata":{"resourceVersion":")",
                        at, R"("},"items":[)", absl::StrJoin(items, ","), "]}"));
}

void FakeKubeApiServer::State::Handle(const HttpTestRequest& req, HttpTestResponse& resp) {
  int fail = 0;
  bool unauthorized = false;
  {
    absl::MutexLock l(&mu);
    request_log.push_back(absl::StrCat(req.method, " ", req.target));
    if (fail_count > 0) {
      --fail_count;
      fail = fail_status;
    } else if (!token.empty() &&
               req.Header("authorization") != absl::StrCat("Bearer ", token)) {
      unauthorized = true;
    }
  }
  if (fail != 0) {
    HttpTestResponse::Headers extra;
    if (fail == 429 || fail == 503) extra.emplace_back("Retry-After", "1");
    SendJson(resp, fail, StatusJson(fail, ReasonFor(fail), "injected failure"), extra);
    return;
  }
  if (unauthorized) {
    SendStatus(resp, 401, "Unauthorized");
    return;
  }
  if ((req.method == "GET" || req.method == "HEAD") && HandleDiscovery(req, resp)) return;

  // /api/v1/... or /apis/GROUP/VERSION/...
  std::vector<std::string> seg = absl::StrSplit(req.path, '/', absl::SkipEmpty());
  std::string group;
  size_t i;
  if (seg.size() >= 2 && seg[0] == "api" && seg[1] == "v1") {
    i = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis" && seg[2] == "v1") {
    group = seg[1];
    i = 3;
  } else {
    SendStatus(resp, 404, "the server could not find the requested resource");
    return;
  }
  ResourceRequest rr;
  if (group.empty() && seg.size() <= 4 && seg.size() >= 3 && seg[2] == "namespaces" &&
      req.method == "GET" && req.Param("watch").empty()) {
    HandleNamespaces(req, seg.size() == 4 ? seg[3] : "", resp);
    return;
  }
  if (i < seg.size() && seg[i] == "watch") {  // legacy /api/v1/watch/... paths
    rr.watch = true;
    ++i;
  }
  if (i + 1 < seg.size() && seg[i] == "namespaces") {
    rr.ns = seg[i + 1];
    i += 2;
  }
  if (i >= seg.size()) {
    SendStatus(resp, 404, "the server could not find the requested resource");
    return;
  }
  rr.info = FindResource(group, seg[i]);
  if (rr.info == nullptr) {
    SendStatus(resp, 404, "the server could not find the requested resource");
    return;
  }
  if (i + 1 < seg.size()) rr.name = seg[i + 1];
  if (i + 2 < seg.size()) {  // subresources (status, ...) are not served
    SendStatus(resp, 404, "the server could not find the requested resource");
    return;
  }
  std::string w = req.Param("watch");
  if (w == "1" || w == "true") rr.watch = true;
  HandleResource(req, rr, resp);
}

void FakeKubeApiServer::State::HandleResource(const HttpTestRequest& req,
                                              const ResourceRequest& rr,
                                              HttpTestResponse& resp) {
  const ResourceInfo& info = *rr.info;
  if (req.method == "GET" && (rr.name.empty() || rr.watch)) {
    if (rr.watch) {
      ResourceRequest w = rr;
      HandleWatch(req, w, resp);
    } else {
      HandleList(req, rr, resp);
    }
    return;
  }
  if (rr.ns.empty()) {
    SendStatus(resp, 405, "the server does not allow this method on the requested resource");
    return;
  }
  const ObjKey key{info.resource, rr.ns, rr.name};

  if (req.method == "GET") {
    std::string body;
    {
      absl::MutexLock l(&mu);
      auto it = objects.find(key);
      if (it != objects.end()) body = it->second.json;
    }
    if (body.empty()) {
      SendStatus(resp, 404, absl::StrCat(info.resource, " \"", rr.name, "\" not found"), rr.name,
                 info.resource);
    } else {
      SendJson(resp, 200, body);
    }
    return;
  }

  if (req.method == "POST") {
    if (!rr.name.empty()) {
      SendStatus(resp, 405, "the server does not allow this method on the requested resource");
      return;
    }
    Document obj;
    obj.Parse(req.body.data(), req.body.size());
    if (obj.HasParseError() || !obj.IsObject()) {
      SendStatus(resp, 400, "the request body is not a JSON object");
      return;
    }
    auto& a = obj.GetAllocator();
    Value& md = EnsureObject(obj, "metadata", a);
    std::string ns = GetString(md, "namespace");
    if (!ns.empty() && ns != rr.ns) {
      SendStatus(resp, 400, "the namespace of the provided object does not match the namespace "
                            "sent on the request");
      return;
    }
    int code = 0;
    std::string body;
    std::string name = GetString(md, "name");
    {
      absl::MutexLock l(&mu);
      if (name.empty() && !GetString(md, "generateName").empty()) {
        static constexpr char kAlnum[] = "bcdfghjklmnpqrstvwxz2456789";
        name = GetString(md, "generateName");
        for (int k = 0; k < 5; ++k) name.push_back(kAlnum[rng() % (sizeof(kAlnum) - 1)]);
      }
      ObjKey new_key{info.resource, rr.ns, name};
      if (name.empty()) {
        code = 422;
        body = StatusJson(422, "Invalid",
                          absl::StrCat(info.kind, " \"\" is invalid: metadata.name: Required value: "
                                                  "name or generateName is required"),
                          "", info.resource);
      } else if (objects.count(new_key) > 0) {
        code = 409;
        body = StatusJson(409, "AlreadyExists",
                          absl::StrCat(info.resource, " \"", name, "\" already exists"), name,
                          info.resource);
      } else {
        PrepareNew(info, rr.ns, name, obj);
        EnsureObject(obj, "metadata", a).RemoveMember("resourceVersion");
        code = 201;
        body = CommitLocked(new_key, obj);
        LogWriteLocked(req, new_key, body);
      }
    }
    SendJson(resp, code, body);
    return;
  }

  if (req.method == "PUT" || req.method == "PATCH") {
    Document patch;
    patch.Parse(req.body.data(), req.body.size());
    if (patch.HasParseError() || !patch.IsObject()) {
      SendStatus(resp, 400, "the request body is not a JSON object");
      return;
    }
    if (req.method == "PATCH") {
      std::string ct = absl::AsciiStrToLower(req.Header("content-type"));
      ct = ct.substr(0, ct.find(';'));
      if (ct != "application/merge-patch+json" && ct != "application/strategic-merge-patch+json") {
        SendStatus(resp, 415, absl::StrCat("the body of the request was in an unknown format - "
                                           "accepted media types include: "
                                           "application/merge-patch+json, "
                                           "application/strategic-merge-patch+json; got ",
                                           ct));
        return;
      }
    }
    int code = 0;
    std::string body;
    {
      absl::MutexLock l(&mu);
      auto it = objects.find(key);
      std::string want_rv = patch.HasMember("metadata") ? GetString(patch["metadata"],
                                                                    "resourceVersion")
                                                        : "";
      if (it == objects.end()) {
        code = 404;
        body = StatusJson(404, "NotFound",
                          absl::StrCat(info.resource, " \"", rr.name, "\" not found"), rr.name,
                          info.resource);
      } else {
        Document old;
        old.Parse(it->second.json.data(), it->second.json.size());
        std::string have_rv = GetString(old["metadata"], "resourceVersion");
        std::string body_name =
            patch.HasMember("metadata") ? GetString(patch["metadata"], "name") : "";
        if (!body_name.empty() && body_name != rr.name) {
          code = 400;
          body = StatusJson(400, "BadRequest",
                            "the name of the object does not match the name on the URL");
        } else if (!want_rv.empty() && want_rv != have_rv) {
          code = 409;
          body = StatusJson(
              409, "Conflict",
              absl::StrCat("Operation cannot be fulfilled on ", info.resource, " \"", rr.name,
                           "\": the object has been modified; please apply your changes to "
                           "the latest version and try again"),
              rr.name, info.resource);
        } else {
          Document obj;
          if (req.method == "PUT") {
            obj.CopyFrom(patch, obj.GetAllocator());
          } else {
            obj.CopyFrom(old, obj.GetAllocator());
            MergePatch(obj, patch, obj.GetAllocator());
          }
          CarryOver(info, rr.ns, rr.name, old, obj);
          code = 200;
          const int64_t before = rv;
          body = CommitLocked(key, obj);
          if (rv != before) LogWriteLocked(req, key, body);
        }
      }
    }
    SendJson(resp, code, body);
    return;
  }

  if (req.method == "DELETE") {
    Document opts;
    std::string want_rv, want_uid;
    if (!req.body.empty()) {
      opts.Parse(req.body.data(), req.body.size());
      if (!opts.HasParseError() && opts.IsObject() && opts.HasMember("preconditions")) {
        want_rv = GetString(opts["preconditions"], "resourceVersion");
        want_uid = GetString(opts["preconditions"], "uid");
      }
    }
    int code = 0;
    std::string body;
    {
      absl::MutexLock l(&mu);
      auto it = objects.find(key);
      if (it == objects.end()) {
        code = 404;
        body = StatusJson(404, "NotFound",
                          absl::StrCat(info.resource, " \"", rr.name, "\" not found"), rr.name,
                          info.resource);
      } else {
        Document old;
        old.Parse(it->second.json.data(), it->second.json.size());
        if ((!want_rv.empty() && want_rv != GetString(old["metadata"], "resourceVersion")) ||
            (!want_uid.empty() && want_uid != GetString(old["metadata"], "uid"))) {
          code = 409;
          body = StatusJson(409, "Conflict",
                            absl::StrCat("Operation cannot be fulfilled on ", info.resource, " \"",
                                         rr.name, "\": precondition failed"),
                            rr.name, info.resource);
        } else {
          std::string uid = GetString(old["metadata"], "uid");
          DeleteLocked(key);
          LogWriteLocked(req, key, "");
          code = 200;
          Document d;
          d.Parse(StatusJson(200, "", "", rr.name, info.resource).c_str());
          SetString(d["details"], "uid", uid, d.GetAllocator());
          if (info.group[0] != '\0') SetString(d["details"], "group", info.group, d.GetAllocator());
          body = ToJson(d);
        }
      }
    }
    SendJson(resp, code, body);
    return;
  }
  SendStatus(resp, 405, "the server does not allow this method on the requested resource");
}

void FakeKubeApiServer::State::HandleList(const HttpTestRequest& req, const ResourceRequest& rr,
                                          HttpTestResponse& resp) {
  const ResourceInfo& info = *rr.info;
  auto selector = LabelSelector::Parse(req.Param("labelSelector"));
  if (!selector.ok()) {
    SendStatus(resp, 400, std::string(selector.status().message()));
    return;
  }
  auto fields = ParseFieldSelector(req.Param("fieldSelector"));
  if (!fields.ok()) {
    SendStatus(resp, 400, std::string(fields.status().message()));
    return;
  }
  int64_t limit = 0;
  if (req.HasParam("limit") && !absl::SimpleAtoi(req.Param("limit"), &limit)) {
    SendStatus(resp, 400, "limit must be an integer");
    return;
  }
  std::string rv_param = req.Param("resourceVersion");
  std::string match = req.Param("resourceVersionMatch");
  std::string cont = req.Param("continue");
  int64_t want_rv = 0;
  if (!rv_param.empty() && !absl::SimpleAtoi(rv_param, &want_rv)) {
    SendStatus(resp, 400, absl::StrCat("invalid resource version: ", rv_param));
    return;
  }
  if (!match.empty() && rv_param.empty()) {
    SendStatus(resp, 422, "resourceVersionMatch is forbidden unless resourceVersion is provided",
               "", "", "Invalid");
    return;
  }
  if (!cont.empty() && !rv_param.empty()) {
    SendStatus(resp, 400, "specifying resource version is not allowed when using continue");
    return;
  }

  int code = 200;
  std::string error_body;
  std::string list_body;
  Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  {
    absl::MutexLock l(&mu);
    int64_t at = rv;
    std::string start_after;
    if (!cont.empty()) {
      ContinueToken t;
      if (!DecodeContinue(cont, &t)) {
        code = 400;
        error_body = StatusJson(400, "BadRequest", "continue key is not valid");
      } else if (t.rv < history_floor || t.rv > rv) {
        code = 410;
        error_body = StatusJson(
            410, "Expired",
            "The provided continue parameter is too old to display a consistent list result. "
            "You can start a new list without the continue parameter.");
      } else {
        at = t.rv;
        start_after = t.start_after;
      }
    } else if (want_rv > rv) {
      // The real apiserver waits ~3 s for the cache to catch up, then 504s.
      code = 504;
      error_body = StatusJson(504, "Timeout",
                              absl::StrCat("Too large resource version: ", want_rv,
                                           ", current: ", rv));
    } else if (match == "Exact") {
      if (want_rv < history_floor) {
        code = 410;
        error_body = StatusJson(410, "Expired",
                                absl::StrCat("too old resource version: ", want_rv, " (",
                                             history_floor, ")"));
      } else {
        at = want_rv;
      }
    }
    if (code == 200) {
      std::map<ObjKey, StoredObject> snap =
          at == rv ? std::map<ObjKey, StoredObject>() : SnapshotLocked(info.resource, at);
      const std::map<ObjKey, StoredObject>& src = at == rv ? objects : snap;
      // Items are spliced in as stored (the real apiserver serializes its
      // cached objects; re-parsing them here would make the fake the
      // bottleneck of list benchmarks).
      std::string items = "[";
      int64_t count = 0;
      std::string last_key;
      int64_t remaining = 0;
      bool more = false;
      auto it = src.lower_bound({info.resource, rr.ns, ""});
      for (; it != src.end() && std::get<0>(it->first) == info.resource; ++it) {
        const auto& [res, ns, name] = it->first;
        if (!rr.ns.empty() && ns != rr.ns) break;
        std::string k = absl::StrCat(ns, "/", name);
        if (!start_after.empty() && k <= start_after) continue;
        if (!selector->Matches(it->second.labels) || !FieldsMatch(*fields, it->first)) continue;
        if (limit > 0 && count >= limit) {
          more = true;
          ++remaining;
          continue;
        }
        if (count++ > 0) items.push_back(',');
        items.append(it->second.json);
        last_key = k;
      }
      items.push_back(']');
      SetString(d, "kind", absl::StrCat(info.kind, "List"), a);
      SetString(d, "apiVersion", ApiVersion(info), a);
      Value md(rapidjson::kObjectType);
      SetString(md, "resourceVersion", absl::StrCat(at), a);
      if (more) {
        SetString(md, "continue", EncodeContinue({at, last_key}), a);
        md.AddMember("remainingItemCount", remaining, a);
      }
      d.AddMember("metadata", md, a);
      // {"kind":...,"metadata":{...},"items":[...]}
      std::string head = ToJson(d);
      head.pop_back();
      list_body = absl::StrCat(head, ",\"items\":", items, "}");
    }
  }
  SendJson(resp, code, code == 200 ? list_body : error_body);
}

void FakeKubeApiServer::State::HandleWatch(const HttpTestRequest& req, const ResourceRequest& rr,
                                           HttpTestResponse& resp) {
  const ResourceInfo& info = *rr.info;
  auto selector = LabelSelector::Parse(req.Param("labelSelector"));
  if (!selector.ok()) {
    SendStatus(resp, 400, std::string(selector.status().message()));
    return;
  }
  auto fields = ParseFieldSelector(req.Param("fieldSelector"));
  if (!fields.ok()) {
    SendStatus(resp, 400, std::string(fields.status().message()));
    return;
  }
  std::vector<std::tuple<std::string, bool, std::string>> field_reqs = *fields;
  if (!rr.name.empty()) field_reqs.emplace_back("metadata.name", true, rr.name);
  std::string rv_param = req.Param("resourceVersion");
  int64_t from = 0;
  if (!rv_param.empty() && !absl::SimpleAtoi(rv_param, &from)) {
    SendStatus(resp, 400, absl::StrCat("invalid resource version: ", rv_param));
    return;
  }
  std::string bm = req.Param("allowWatchBookmarks");
  bool bookmarks = bm == "true" || bm == "1";
  std::string sie = req.Param("sendInitialEvents");
  bool send_initial = sie == "true" || sie == "1";
  if (send_initial && !bookmarks) {
    SendStatus(resp, 422, "sendInitialEvents requires allowWatchBookmarks=true", "", "",
               "Invalid");
    return;
  }
  int64_t timeout_s = 1800;
  if (req.HasParam("timeoutSeconds") &&
      !absl::SimpleAtoi(req.Param("timeoutSeconds"), &timeout_s)) {
    SendStatus(resp, 400, "timeoutSeconds must be an integer");
    return;
  }
  if (timeout_s <= 0) timeout_s = 1800;  // 0 = the server's own limit
  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_s);
  const absl::Duration interval = options.bookmark_interval;
  absl::Time next_bookmark = absl::Now() + interval;
  const std::string ns = rr.ns;
  auto in_scope = [&](const ObjKey& k) {
    return std::get<0>(k) == info.resource && (ns.empty() || std::get<1>(k) == ns) &&
           FieldsMatch(field_reqs, k);
  };
  auto line = [](absl::string_view type, absl::string_view object_json) {
    return absl::StrCat(R"({"type":")", type, R"(","object":)", object_json, "}\n");
  };
  auto bookmark_line = [&](int64_t at, bool initial_end) {
    std::string annotations =
        initial_end ? R"(,"annotations":{"k8s.io/initial-events-end":"true"})" : "";
    return line("BOOKMARK", absl::StrCat(R"({"kind":")", info.kind, R"(","apiVersion":")",
                                         ApiVersion(info), R"(","metadata":{"resourceVersion":")",
                                         at, R"(")", annotations, "}}"));
  };
  auto expired_line = [&](int64_t at, int64_t floor) {
    return line("ERROR", StatusJson(410, "Expired",
                                    absl::StrCat("too old resource version: ", at, " (", floor,
                                                 ")")));
  };

  std::vector<std::string> out;
  int64_t sent = 0;
  int64_t my_drop, my_stall;
  bool expired = false;
  {
    absl::MutexLock l(&mu);
    my_drop = drop_generation;
    my_stall = stall_generation;
    if (from == 0 || send_initial) {
      // Synthetic ADDED events for the current state, then changes.
      for (auto it = objects.lower_bound({info.resource, ns, ""});
           it != objects.end() && std::get<0>(it->first) == info.resource &&
           (ns.empty() || std::get<1>(it->first) == ns);
           ++it) {
        if (FieldsMatch(field_reqs, it->first) && selector->Matches(it->second.labels)) {
          out.push_back(line("ADDED", it->second.json));
        }
      }
      sent = rv;
      if (send_initial) out.push_back(bookmark_line(rv, true));
    } else if (from < history_floor || from > rv) {
      // Older than the history window, or "from the future" after Restart():
      // 410 Expired makes clients re-list (the real apiserver 504s on the latter).
      expired = true;
      out.push_back(expired_line(from, history_floor));
    } else {
      sent = from;
    }
  }
  if (!resp.StartChunked(200, "application/json")) return;
  for (const auto& s : out) {
    if (!resp.WriteChunk(s)) return;
  }
  if (expired) {
    resp.EndChunked();
    return;
  }

  for (;;) {
    out.clear();
    bool drop = false, stall = false;
    {
      absl::MutexLock l(&mu);
      absl::Time wake = std::min(deadline, absl::Now() + absl::Milliseconds(100));
      if (bookmarks) wake = std::min(wake, next_bookmark);
      auto ready = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return rv > sent || drop_generation != my_drop || stall_generation != my_stall;
      };
      mu.AwaitWithDeadline(absl::Condition(&ready), wake);
      drop = drop_generation != my_drop;
      stall = stall_generation != my_stall;
      if (!drop && !stall && rv > sent) {
        if (sent < history_floor) {
          out.push_back(expired_line(sent, history_floor));
          expired = true;
        } else {
          auto it = std::upper_bound(
              history.begin(), history.end(), sent,
              [](int64_t v, const HistoryEvent& e) { return v < e.rv; });
          for (; it != history.end(); ++it) {
            if (!in_scope(it->key)) continue;
            bool now_match = it->type != "DELETED" && selector->Matches(it->object.labels);
            bool was_match = it->prev.has_value() && selector->Matches(it->prev->labels);
            if (it->type == "DELETED") {
              if (was_match) out.push_back(line("DELETED", it->object.json));
            } else if (now_match && was_match) {
              out.push_back(line("MODIFIED", it->object.json));
            } else if (now_match) {
              out.push_back(line("ADDED", it->object.json));
            } else if (was_match) {
              // Labels stopped matching: the previous state, at this RV.
              Document d;
              d.Parse(it->prev->json.data(), it->prev->json.size());
              SetString(EnsureObject(d, "metadata", d.GetAllocator()), "resourceVersion",
                        absl::StrCat(it->rv), d.GetAllocator());
              out.push_back(line("DELETED", ToJson(d)));
            }
          }
          sent = rv;
        }
      }
    }
    if (drop || server->stopping()) {
      resp.Abort();
      return;
    }
    if (stall) {
      // Silent but open, until dropped, the peer leaves, or the server stops.
      for (int i = 0; i < 36000; ++i) {
        {
          absl::MutexLock l(&mu);
          if (drop_generation != my_drop) break;
        }
        if (server->stopping() || resp.PeerClosed()) break;
        absl::SleepFor(absl::Milliseconds(50));
      }
      resp.Abort();
      return;
    }
    for (const auto& s : out) {
      if (!resp.WriteChunk(s)) return;
    }
    if (expired) {
      resp.EndChunked();
      return;
    }
    absl::Time now = absl::Now();
    if (now >= deadline) {
      resp.EndChunked();
      return;
    }
    if (bookmarks && now >= next_bookmark) {
      if (!resp.WriteChunk(bookmark_line(sent, false))) return;
      next_bookmark = now + interval;
    }
    if (resp.PeerClosed()) return;
  }
}

// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<FakeKubeApiServer>> FakeKubeApiServer::Start(
    const Options& options) {
  std::unique_ptr<FakeKubeApiServer> s(new FakeKubeApiServer());
  s->state_ = std::make_unique<State>();
  State* st = s->state_.get();
  st->options = options;
  {
    absl::MutexLock l(&st->mu);
    st->token = options.token;
  }
  HttpTestServer::Options http;
  http.port = options.port;
  if (options.tls) {
    ASSIGN_OR_RETURN(st->certs, MakeTestCertificates({"localhost"}, {"127.0.0.1", "::1"}));
    http.cert_pem = st->certs.cert_pem;
    http.key_pem = st->certs.key_pem;
  }
  st->server = std::make_unique<HttpTestServer>(http);
  st->server->Route("", "/", [st](const HttpTestRequest& req, HttpTestResponse& resp) {
    st->Handle(req, resp);
  });
  RETURN_IF_ERROR(st->server->Start());
  return s;
}

FakeKubeApiServer::~FakeKubeApiServer() {
  if (state_ && state_->server) state_->server->Stop();
}

std::string FakeKubeApiServer::url() const { return state_->server->url(); }
std::string FakeKubeApiServer::ca_pem() const { return state_->certs.ca_pem; }
int FakeKubeApiServer::port() const { return state_->server->port(); }

absl::Status FakeKubeApiServer::WriteKubeconfig(const std::string& path) const {
  std::string token;
  {
    absl::MutexLock l(&state_->mu);
    token = state_->token;
  }
  std::string cluster = absl::StrCat("    server: ", url(), "\n");
  if (state_->options.tls) {
    absl::StrAppend(&cluster, "    certificate-authority-data: ",
                    absl::Base64Escape(state_->certs.ca_pem), "\n");
  }
  std::string user = token.empty() ? "  user: {}\n" : absl::StrCat("  user:\n    token: ", token,
                                                                  "\n");
  std::string text = absl::StrCat(
      "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n", cluster,
      "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
      "    namespace: default\ncurrent-context: fake\nusers:\n- name: fake\n",
      user, "preferences: {}\n");
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f) return absl::InternalError(absl::StrCat("cannot write kubeconfig ", path));
  return absl::OkStatus();
}

void FakeKubeApiServer::SetToken(const std::string& token) {
  absl::MutexLock l(&state_->mu);
  state_->token = token;
}

namespace {

Value StringMap(const std::map<std::string, std::string>& m, Document::AllocatorType& a,
                bool base64) {
  Value v(rapidjson::kObjectType);
  for (const auto& [k, val] : m) {
    std::string s = base64 ? absl::Base64Escape(val) : val;
    v.AddMember(Value(k.c_str(), static_cast<rapidjson::SizeType>(k.size()), a),
                Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a), a);
  }
  return v;
}

}  // namespace

absl::Status FakeKubeApiServer::ApplyConfigMap(const std::string& ns, const std::string& name,
                                               const std::map<std::string, std::string>& labels,
                                               const std::map<std::string, std::string>& data,
                                               const std::map<std::string, std::string>& binary) {
  const ResourceInfo& info = *FindResource("", "configmaps");
  State* st = state_.get();
  absl::MutexLock l(&st->mu);
  ObjKey key{"configmaps", ns, name};
  Document obj(rapidjson::kObjectType);
  auto& a = obj.GetAllocator();
  Value md(rapidjson::kObjectType);
  if (!labels.empty()) md.AddMember("labels", StringMap(labels, a, false), a);
  obj.AddMember("metadata", md, a);
  if (!data.empty()) obj.AddMember("data", StringMap(data, a, false), a);
  if (!binary.empty()) obj.AddMember("binaryData", StringMap(binary, a, true), a);
  auto it = st->objects.find(key);
  if (it == st->objects.end()) {
    st->PrepareNew(info, ns, name, obj);
  } else {
    Document old;
    old.Parse(it->second.json.data(), it->second.json.size());
    State::CarryOver(info, ns, name, old, obj);
    // Keep annotations (e.g. kubectl's last-applied) as an update would not.
    if (old["metadata"].HasMember("annotations")) {
      obj["metadata"].AddMember("annotations", Value(old["metadata"]["annotations"], a), a);
    }
  }
  st->CommitLocked(key, obj);
  return absl::OkStatus();
}

absl::Status FakeKubeApiServer::DeleteConfigMap(const std::string& ns, const std::string& name) {
  absl::MutexLock l(&state_->mu);
  ObjKey key{"configmaps", ns, name};
  if (state_->objects.count(key) == 0) {
    return absl::NotFoundError(absl::StrCat("configmap ", ns, "/", name, " not found"));
  }
  state_->DeleteLocked(key);
  return absl::OkStatus();
}

absl::Status FakeKubeApiServer::ApplySecret(const std::string& ns, const std::string& name,
                                            const std::map<std::string, std::string>& labels,
                                            const std::map<std::string, std::string>& data) {
  const ResourceInfo& info = *FindResource("", "secrets");
  State* st = state_.get();
  absl::MutexLock l(&st->mu);
  ObjKey key{"secrets", ns, name};
  Document obj(rapidjson::kObjectType);
  auto& a = obj.GetAllocator();
  Value md(rapidjson::kObjectType);
  if (!labels.empty()) md.AddMember("labels", StringMap(labels, a, false), a);
  obj.AddMember("metadata", md, a);
  if (!data.empty()) obj.AddMember("data", StringMap(data, a, true), a);
  obj.AddMember("type", "Opaque", a);
  auto it = st->objects.find(key);
  if (it == st->objects.end()) {
    st->PrepareNew(info, ns, name, obj);
  } else {
    Document old;
    old.Parse(it->second.json.data(), it->second.json.size());
    State::CarryOver(info, ns, name, old, obj);
  }
  st->CommitLocked(key, obj);
  return absl::OkStatus();
}

absl::Status FakeKubeApiServer::DeleteSecret(const std::string& ns, const std::string& name) {
  absl::MutexLock l(&state_->mu);
  ObjKey key{"secrets", ns, name};
  if (state_->objects.count(key) == 0) {
    return absl::NotFoundError(absl::StrCat("secret ", ns, "/", name, " not found"));
  }
  state_->DeleteLocked(key);
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeKubeApiServer::GetObjectJson(const std::string& resource,
                                                             const std::string& ns,
                                                             const std::string& name) const {
  absl::MutexLock l(&state_->mu);
  auto it = state_->objects.find({resource, ns, name});
  if (it == state_->objects.end()) {
    return absl::NotFoundError(absl::StrCat(resource, " ", ns, "/", name, " not found"));
  }
  return it->second.json;
}

std::vector<std::string> FakeKubeApiServer::EventsJson() const {
  absl::MutexLock l(&state_->mu);
  std::vector<std::string> out;
  for (auto it = state_->objects.lower_bound({"events", "", ""});
       it != state_->objects.end() && std::get<0>(it->first) == "events"; ++it) {
    out.push_back(it->second.json);
  }
  return out;
}

int64_t FakeKubeApiServer::resource_version() const {
  absl::MutexLock l(&state_->mu);
  return state_->rv;
}

void FakeKubeApiServer::DropWatches() {
  absl::MutexLock l(&state_->mu);
  ++state_->drop_generation;
}

void FakeKubeApiServer::StallWatches() {
  absl::MutexLock l(&state_->mu);
  ++state_->stall_generation;
}

void FakeKubeApiServer::ExpireHistory() {
  absl::MutexLock l(&state_->mu);
  state_->history.clear();
  state_->history_floor = state_->rv;
}

void FakeKubeApiServer::FailNextRequests(int http_status, int count) {
  absl::MutexLock l(&state_->mu);
  state_->fail_status = http_status;
  state_->fail_count = count;
}

void FakeKubeApiServer::SplitWrites(int max_bytes) { state_->server->SplitWrites(max_bytes); }

absl::Status FakeKubeApiServer::Restart() {
  State* st = state_.get();
  st->server->Stop();
  {
    absl::MutexLock l(&st->mu);
    st->history.clear();
    st->rv = 1;
    // Objects keep their content; resourceVersions start over.
    for (auto& [key, obj] : st->objects) {
      Document d;
      d.Parse(obj.json.data(), obj.json.size());
      ++st->rv;
      SetString(EnsureObject(d, "metadata", d.GetAllocator()), "resourceVersion",
                absl::StrCat(st->rv), d.GetAllocator());
      obj.json = ToJson(d);
    }
    st->history_floor = st->rv;
  }
  // The port may take a moment to be free again.
  absl::Status s;
  for (int i = 0; i < 50; ++i) {
    s = st->server->Start();
    if (s.ok()) return s;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return s;
}

std::vector<FakeKubeApiServer::WriteRecord> FakeKubeApiServer::WriteLog() const {
  absl::MutexLock l(&state_->mu);
  return state_->write_log;
}

std::vector<std::string> FakeKubeApiServer::RequestLog() const {
  absl::MutexLock l(&state_->mu);
  return state_->request_log;
}

}  // namespace promconf
