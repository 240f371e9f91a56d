#include "tests/fakes/consul_server.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <random>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/fakes/http_test_server.h"
#include "util/status_macros.h"

namespace promconf {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;
using ServiceInstance = FakeConsulServer::ServiceInstance;

// Consul's limits (agent/structs, agent/consul/rpc.go).
constexpr size_t kMaxKvValueBytes = 512 * 1024;
constexpr absl::Duration kDefaultQueryTime = absl::Minutes(5);
constexpr absl::Duration kMaxQueryTime = absl::Minutes(10);
constexpr int kJitterFraction = 16;
constexpr size_t kRequestLogSize = 10000;
// How often a blocked handler looks for a client that hung up: abandoned
// requests must not pin connection threads for the whole wait.
constexpr absl::Duration kPeerPoll = absl::Milliseconds(50);

void Str(JsonWriter& w, absl::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void StrMap(JsonWriter& w, const std::map<std::string, std::string>& m) {
  w.StartObject();
  for (const auto& [k, v] : m) {
    Str(w, k);
    Str(w, v);
  }
  w.EndObject();
}

void StrList(JsonWriter& w, const std::vector<std::string>& v) {
  w.StartArray();
  for (const auto& s : v) Str(w, s);
  w.EndArray();
}

bool ValidStatus(absl::string_view s) {
  return s == "passing" || s == "warning" || s == "critical";
}

// Go's time.ParseDuration: "300ms", "1.5h", "2h45m", "0". Units ns, us (µs,
// μs), ms, s, m, h; a number without a unit is an error except "0".
bool ParseGoDuration(absl::string_view s, absl::Duration* out) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") {
    *out = absl::ZeroDuration();
    return true;
  }
  if (s.empty()) return false;
  absl::Duration total = absl::ZeroDuration();
  while (!s.empty()) {
    size_t i = 0;
    bool digits = false;
    while (i < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
      ++i;
      digits = true;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
        ++i;
        digits = true;
      }
    }
    if (!digits) return false;
    double number = std::strtod(std::string(s.substr(0, i)).c_str(), nullptr);
    size_t j = i;
    while (j < s.size() && s[j] != '.' && !absl::ascii_isdigit(static_cast<unsigned char>(s[j]))) {
      ++j;
    }
    absl::string_view unit = s.substr(i, j - i);
    absl::Duration scale;
    if (unit == "ns") {
      scale = absl::Nanoseconds(1);
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      scale = absl::Microseconds(1);
    } else if (unit == "ms") {
      scale = absl::Milliseconds(1);
    } else if (unit == "s") {
      scale = absl::Seconds(1);
    } else if (unit == "m") {
      scale = absl::Minutes(1);
    } else if (unit == "h") {
      scale = absl::Hours(1);
    } else {
      return false;
    }
    total += scale * number;
    s.remove_prefix(j);
  }
  *out = negative ? -total : total;
  return true;
}

// Go's strconv.ParseBool, with "" meaning true (a bare "?passing").
bool ParseGoBool(absl::string_view s, bool* out) {
  for (absl::string_view t : {"", "1", "t", "T", "TRUE", "true", "True"}) {
    if (s == t) {
      *out = true;
      return true;
    }
  }
  for (absl::string_view f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (s == f) {
      *out = false;
      return true;
    }
  }
  return false;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Query-string decoding: %XX and '+' for space.
std::string QueryDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 && HexDigit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2])));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Every value of a repeatable query parameter (HttpTestRequest::params keeps
// only the last one; Consul's ?tag= is repeatable).
std::vector<std::string> QueryValues(absl::string_view query, absl::string_view name) {
  std::vector<std::string> out;
  for (absl::string_view kv : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    size_t eq = kv.find('=');
    if (QueryDecode(kv.substr(0, eq)) != name) continue;
    out.push_back(eq == absl::string_view::npos ? "" : QueryDecode(kv.substr(eq + 1)));
  }
  return out;
}

// A stable UUID-shaped node ID (agents generate one at first start).
std::string NodeId(absl::string_view node) {
  auto fnv = [&](uint64_t h) {
    for (char c : node) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    return h;
  };
  uint64_t a = fnv(14695981039346656037ULL), b = fnv(a ^ 0x9e3779b97f4a7c15ULL);
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xffff,
                         b >> 48, b & 0xffffffffffffULL);
}

// The body of an injected failure, as Consul words them.
std::string FailureBody(int status) {
  switch (status) {
    case 429:
      return "rate limit exceeded, try again later";
    case 500:
      return "rpc error making call: No cluster leader";
    case 503:
      return "rpc error making call: rpc error: No known Consul servers";
    default:
      return absl::StrCat("injected failure ", status);
  }
}

struct KvEntry {
  std::string value;
  uint64_t flags = 0;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
};

struct NodeRecord {
  std::string id, address;
  std::map<std::string, std::string> meta;
  uint64_t create_index = 0, modify_index = 0;
  std::string serf_status = "passing";  // the node-level serfHealth check
  uint64_t serf_create_index = 0, serf_modify_index = 0;
};

struct ServiceRecord {
  ServiceInstance instance;  // instance.status is the service check's
  uint64_t create_index = 0, modify_index = 0;
  bool has_check = true;  // the "consul" service itself has none
  uint64_t check_create_index = 0, check_modify_index = 0;
};

bool SameService(const ServiceInstance& a, const ServiceInstance& b) {
  return std::tie(a.name, a.tags, a.address, a.port, a.meta) ==
         std::tie(b.name, b.tags, b.address, b.port, b.meta);
}

// One read endpoint with its parameters, re-run whenever a blocked query
// must look again.
struct ReadQuery {
  enum class Kind { kKvGet, kKvList, kKvKeys, kHealth, kCatalogServices };
  Kind kind = Kind::kKvGet;
  std::string key;  // KV key or prefix
  std::string separator;
  bool raw = false;
  std::string service;
  bool passing = false;
  std::vector<std::string> tags;
};

struct ReadResult {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  uint64_t index = 1;
  // The ACL hid part of the answer: X-Consul-Results-Filtered-By-ACLs: true.
  bool filtered = false;
};

}  // namespace

struct FakeConsulServer::State {
  // Constant after Start().
  Options options;
  TestCertificates certs;
  std::unique_ptr<HttpTestServer> server;

  mutable absl::Mutex mu;
  // The Raft index: the last applied write.
  uint64_t raft_index ABSL_GUARDED_BY(mu) = 0;
  std::map<std::string, KvEntry> kv ABSL_GUARDED_BY(mu);
  // Deleted keys (and recursively deleted prefixes) -> deletion index. Consul
  // reaps them after a TTL; a fake run is shorter than that.
  std::map<std::string, uint64_t> tombstones ABSL_GUARDED_BY(mu);
  // Table indexes: the Raft index of each table's last change.
  uint64_t kvs_index ABSL_GUARDED_BY(mu) = 0;
  uint64_t tombstones_index ABSL_GUARDED_BY(mu) = 0;
  uint64_t nodes_index ABSL_GUARDED_BY(mu) = 0;
  uint64_t services_index ABSL_GUARDED_BY(mu) = 0;
  uint64_t checks_index ABSL_GUARDED_BY(mu) = 0;
  std::map<std::string, NodeRecord> nodes ABSL_GUARDED_BY(mu);
  // (node, service ID): the order health answers come in.
  std::map<std::pair<std::string, std::string>, ServiceRecord> services ABSL_GUARDED_BY(mu);
  // Service name -> last change; erased when the last instance goes.
  std::map<std::string, uint64_t> service_index ABSL_GUARDED_BY(mu);
  // When some service last lost its last instance.
  uint64_t extinction_index ABSL_GUARDED_BY(mu) = 0;

  // Blocked queries wait on these (read inside absl::Condition lambdas).
  uint64_t change_generation ABSL_GUARDED_BY(mu) = 0;  // any write
  uint64_t wake_generation ABSL_GUARDED_BY(mu) = 0;    // answer now, as is
  uint64_t drop_generation ABSL_GUARDED_BY(mu) = 0;    // abort the connection
  bool stopping ABSL_GUARDED_BY(mu) = false;

  int fail_count ABSL_GUARDED_BY(mu) = 0;
  int fail_status ABSL_GUARDED_BY(mu) = 500;
  int stall_count ABSL_GUARDED_BY(mu) = 0;
  std::map<std::string, int> path_counts ABSL_GUARDED_BY(mu);
  std::map<std::string, int> index_zero_counts ABSL_GUARDED_BY(mu);
  std::set<int> connections ABSL_GUARDED_BY(mu);
  std::deque<std::string> request_log ABSL_GUARDED_BY(mu);
  std::mt19937_64 rng ABSL_GUARDED_BY(mu){std::random_device{}()};
  // What the token's policy may not read (RestrictToken).
  std::vector<std::string> hidden_key_prefixes ABSL_GUARDED_BY(mu);
  std::set<std::string> hidden_services ABSL_GUARDED_BY(mu);

  bool KeyHidden(const std::string& key) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (const std::string& p : hidden_key_prefixes) {
      if (absl::StartsWith(key, p)) return true;
    }
    return false;
  }

  // --- writes ------------------------------------------------------------------
  // Every write is one Raft log entry, whether or not it changes anything.
  uint64_t BeginWrite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++change_generation;
    return ++raft_index;
  }

  void KvSet(uint64_t idx, const std::string& key, const std::string& value, uint64_t flags)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    // Consul has no no-op detection for KV: an identical PUT moves ModifyIndex.
    KvEntry& e = kv[key];
    if (e.create_index == 0) e.create_index = idx;
    e.modify_index = idx;
    e.value = value;
    e.flags = flags;
    kvs_index = idx;
  }

  bool KvDelete(uint64_t idx, const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (kv.erase(key) == 0) return false;
    tombstones[key] = idx;
    kvs_index = tombstones_index = idx;
    return true;
  }

  bool KvDeleteTree(uint64_t idx, const std::string& prefix) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto begin = kv.lower_bound(prefix);
    auto end = begin;
    while (end != kv.end() && absl::StartsWith(end->first, prefix)) ++end;
    if (begin == end) return false;
    kv.erase(begin, end);
    // One tombstone for the whole prefix, as Consul's kvsDeleteTreeTxn does:
    // a list of a narrower prefix then falls back to the table index.
    tombstones[prefix] = idx;
    kvs_index = tombstones_index = idx;
    return true;
  }

  // Consul's kvsListTxn/kvsKeysTxn index: the highest ModifyIndex under the
  // prefix or tombstone under it; if none, the KV tables' index; never 0.
  uint64_t KvListIndex(const std::string& prefix) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    uint64_t table = std::max(kvs_index, tombstones_index);
    uint64_t idx = 0;
    if (prefix.empty()) {
      idx = table;
    } else {
      for (auto it = kv.lower_bound(prefix); it != kv.end() && absl::StartsWith(it->first, prefix);
           ++it) {
        idx = std::max(idx, it->second.modify_index);
      }
      for (auto it = tombstones.lower_bound(prefix);
           it != tombstones.end() && absl::StartsWith(it->first, prefix); ++it) {
        idx = std::max(idx, it->second);
      }
      if (idx == 0) idx = table;
    }
    return std::max<uint64_t>(idx, 1);
  }

  void TouchService(uint64_t idx, const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    service_index[name] = idx;
  }

  void TouchServicesOnNode(uint64_t idx, const std::string& node)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (auto it = services.lower_bound({node, ""});
         it != services.end() && it->first.first == node; ++it) {
      TouchService(idx, it->second.instance.name);
    }
  }

  bool ServiceExists(const std::string& name) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (const auto& [key, rec] : services) {
      if (rec.instance.name == name) return true;
    }
    return false;
  }

  // After an instance of `name` went away at idx.
  void ServiceRemoved(uint64_t idx, const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (ServiceExists(name)) {
      TouchService(idx, name);
    } else {
      service_index.erase(name);
      extinction_index = idx;
    }
  }

  void EnsureNode(uint64_t idx, const std::string& name, const std::string& address,
                  const std::map<std::string, std::string>& meta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = nodes.find(name);
    if (it == nodes.end()) {
      NodeRecord n;
      n.id = NodeId(name);
      n.address = address;
      n.meta = meta;
      n.create_index = n.modify_index = idx;
      n.serf_create_index = n.serf_modify_index = idx;
      nodes.emplace(name, std::move(n));
      nodes_index = checks_index = idx;
      return;
    }
    if (it->second.address == address && it->second.meta == meta) return;
    it->second.address = address;
    it->second.meta = meta;
    it->second.modify_index = idx;
    nodes_index = idx;
    TouchServicesOnNode(idx, name);
  }

  void Register(uint64_t idx, const ServiceInstance& inst, bool has_check)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    EnsureNode(idx, inst.node, inst.node_address, inst.node_meta);
    auto key = std::make_pair(inst.node, inst.id);
    auto it = services.find(key);
    if (it == services.end()) {
      ServiceRecord rec;
      rec.instance = inst;
      rec.create_index = rec.modify_index = idx;
      rec.has_check = has_check;
      rec.check_create_index = rec.check_modify_index = idx;
      services.emplace(key, std::move(rec));
      services_index = idx;
      if (has_check) checks_index = idx;
      TouchService(idx, inst.name);
      return;
    }
    ServiceRecord& rec = it->second;
    // Consul skips identical re-registrations (agent anti-entropy would
    // otherwise churn every index once a minute).
    if (!SameService(rec.instance, inst)) {
      std::string old_name = rec.instance.name;
      std::string status = rec.instance.status;
      rec.instance = inst;
      rec.instance.status = status;
      rec.modify_index = idx;
      services_index = idx;
      TouchService(idx, inst.name);
      if (old_name != inst.name) ServiceRemoved(idx, old_name);
    }
    if (rec.instance.status != inst.status) {
      rec.instance.status = inst.status;
      rec.check_modify_index = idx;
      checks_index = idx;
      TouchService(idx, inst.name);
    }
  }

  // Renumbers every stored index in order so that the highest becomes `to`.
  void RenumberIndexes(uint64_t to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<uint64_t*> refs = {&raft_index,     &kvs_index,    &tombstones_index, &nodes_index,
                                   &services_index, &checks_index, &extinction_index};
    for (auto& [k, e] : kv) {
      refs.push_back(&e.create_index);
      refs.push_back(&e.modify_index);
    }
    for (auto& [k, v] : tombstones) refs.push_back(&v);
    for (auto& [k, n] : nodes) {
      refs.insert(refs.end(),
                  {&n.create_index, &n.modify_index, &n.serf_create_index, &n.serf_modify_index});
    }
    for (auto& [k, s] : services) {
      refs.insert(refs.end(),
                  {&s.create_index, &s.modify_index, &s.check_create_index, &s.check_modify_index});
    }
    for (auto& [k, v] : service_index) refs.push_back(&v);
    std::vector<uint64_t> values;
    for (uint64_t* r : refs) {
      if (*r != 0) values.push_back(*r);
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    for (uint64_t* r : refs) {
      if (*r == 0) continue;
      uint64_t from_top = static_cast<uint64_t>(values.end() - 1 -
                                                std::lower_bound(values.begin(), values.end(), *r));
      *r = to > from_top ? to - from_top : 1;
    }
    raft_index = std::max<uint64_t>(to, 1);
  }

  // --- reads -------------------------------------------------------------------
  ReadResult RunRead(const ReadQuery& q) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  ReadResult KvGet(const ReadQuery& q) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  ReadResult KvList(const ReadQuery& q) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  ReadResult KvKeys(const ReadQuery& q) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  ReadResult Health(const ReadQuery& q) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  ReadResult CatalogServices() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void WriteHealthEntry(JsonWriter& w, const ServiceRecord& rec) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // --- HTTP --------------------------------------------------------------------
  void Handle(const HttpTestRequest& req, HttpTestResponse& resp);
  void HandleKv(const HttpTestRequest& req, HttpTestResponse& resp);
  // Answers a read, blocking as the query's index/wait ask.
  void ServeRead(const HttpTestRequest& req, HttpTestResponse& resp, const ReadQuery& q);
  // Parses ?dc, ?index and ?wait and checks the datacenter and the ACL token;
  // on a problem answers it and returns false.
  bool Preflight(const HttpTestRequest& req, HttpTestResponse& resp);
  bool CheckToken(const HttpTestRequest& req, HttpTestResponse& resp);
};

namespace {

void SendError(HttpTestResponse& resp, int status, absl::string_view message,
               const HttpTestResponse::Headers& headers = {}) {
  resp.Send(status, "text/plain; charset=utf-8", message, headers);
}

void WriteKvEntry(JsonWriter& w, const std::string& key, const KvEntry& e) {
  w.StartObject();
  w.Key("LockIndex");
  w.Uint64(0);
  w.Key("Key");
  Str(w, key);
  w.Key("Flags");
  w.Uint64(e.flags);
  w.Key("Value");
  // encoding/json writes a []byte as standard base64, and a nil one as null.
  if (e.value.empty()) {
    w.Null();
  } else {
    Str(w, absl::Base64Escape(e.value));
  }
  w.Key("CreateIndex");
  w.Uint64(e.create_index);
  w.Key("ModifyIndex");
  w.Uint64(e.modify_index);
  w.EndObject();
}

// Consul's ?tag= filter compares case-insensitively (serviceTagFilter).
bool HasTag(const std::vector<std::string>& tags, const std::string& want) {
  for (const auto& t : tags) {
    if (absl::EqualsIgnoreCase(t, want)) return true;
  }
  return false;
}

}  // namespace

ReadResult FakeConsulServer::State::RunRead(const ReadQuery& q) const {
  switch (q.kind) {
    case ReadQuery::Kind::kKvGet:
      return KvGet(q);
    case ReadQuery::Kind::kKvList:
      return KvList(q);
    case ReadQuery::Kind::kKvKeys:
      return KvKeys(q);
    case ReadQuery::Kind::kHealth:
      return Health(q);
    case ReadQuery::Kind::kCatalogServices:
      return CatalogServices();
  }
  return {};
}

ReadResult FakeConsulServer::State::KvGet(const ReadQuery& q) const {
  ReadResult r;
  if (KeyHidden(q.key)) {  // key:read denied: 403, index or not
    r.status = 403;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "Permission denied";
    return r;
  }
  auto it = kv.find(q.key);
  if (it == kv.end()) {
    // A missing key blocks on the KV tables' index (kvs_endpoint.go Get).
    r.status = 404;
    r.content_type = "";
    r.index = std::max<uint64_t>(std::max(kvs_index, tombstones_index), 1);
    return r;
  }
  r.index = it->second.modify_index;
  if (q.raw) {
    r.content_type = "text/plain; charset=utf-8";
    r.body = it->second.value;
    return r;
  }
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartArray();
  WriteKvEntry(w, it->first, it->second);
  w.EndArray();
  r.body.assign(sb.GetString(), sb.GetSize());
  return r;
}

ReadResult FakeConsulServer::State::KvList(const ReadQuery& q) const {
  ReadResult r;
  r.index = KvListIndex(q.key);
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartArray();
  int n = 0;
  for (auto it = kv.lower_bound(q.key); it != kv.end() && absl::StartsWith(it->first, q.key);
       ++it) {
    // Keys the token may not read are left out, and the answer says so
    // (Consul 1.11+); the index is still the whole prefix's.
    if (KeyHidden(it->first)) {
      r.filtered = true;
      continue;
    }
    WriteKvEntry(w, it->first, it->second);
    ++n;
  }
  w.EndArray();
  if (n == 0) {
    // Empty is 404 with no body, not an error: clients must not treat it as
    // one. Everything filtered out looks the same, but for the header.
    r.status = 404;
    r.content_type = "";
    return r;
  }
  r.body.assign(sb.GetString(), sb.GetSize());
  return r;
}

ReadResult FakeConsulServer::State::KvKeys(const ReadQuery& q) const {
  ReadResult r;
  r.index = KvListIndex(q.key);
  std::vector<std::string> keys;
  for (auto it = kv.lower_bound(q.key); it != kv.end() && absl::StartsWith(it->first, q.key);
       ++it) {
    if (KeyHidden(it->first)) {
      r.filtered = true;
      continue;
    }
    std::string k = it->first;
    if (!q.separator.empty()) {
      size_t sep = k.find(q.separator, q.key.size());
      if (sep != std::string::npos) k.resize(sep + q.separator.size());
    }
    if (keys.empty() || keys.back() != k) keys.push_back(std::move(k));
  }
  if (keys.empty()) {
    r.status = 404;
    r.content_type = "";
    return r;
  }
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  StrList(w, keys);
  r.body.assign(sb.GetString(), sb.GetSize());
  return r;
}

void FakeConsulServer::State::WriteHealthEntry(JsonWriter& w, const ServiceRecord& rec) const {
  const ServiceInstance& s = rec.instance;
  const NodeRecord& n = nodes.at(s.node);
  w.StartObject();
  w.Key("Node");
  w.StartObject();
  w.Key("ID");
  Str(w, n.id);
  w.Key("Node");
  Str(w, s.node);
  w.Key("Address");
  Str(w, n.address);
  w.Key("Datacenter");
  Str(w, options.datacenter);
  // What an agent registers for itself (Prometheus: __meta_consul_tagged_address_*).
  w.Key("TaggedAddresses");
  StrMap(
      w,
      {{"lan", n.address}, {"lan_ipv4", n.address}, {"wan", n.address}, {"wan_ipv4", n.address}});
  w.Key("Meta");
  // Agents always add consul-network-segment (Prometheus shows it as
  // __meta_consul_metadata_consul_network_segment="").
  std::map<std::string, std::string> meta = {{"consul-network-segment", ""}};
  for (const auto& [k, v] : n.meta) meta[k] = v;
  StrMap(w, meta);
  w.Key("CreateIndex");
  w.Uint64(n.create_index);
  w.Key("ModifyIndex");
  w.Uint64(n.modify_index);
  w.EndObject();

  w.Key("Service");
  w.StartObject();
  w.Key("ID");
  Str(w, s.id);
  w.Key("Service");
  Str(w, s.name);
  w.Key("Tags");
  StrList(w, s.tags);
  w.Key("Address");
  Str(w, s.address);
  w.Key("Meta");
  StrMap(w, s.meta);
  w.Key("Port");
  w.Int(s.port);
  w.Key("Weights");
  w.StartObject();
  w.Key("Passing");
  w.Int(1);
  w.Key("Warning");
  w.Int(1);
  w.EndObject();
  w.Key("EnableTagOverride");
  w.Bool(false);
  w.Key("CreateIndex");
  w.Uint64(rec.create_index);
  w.Key("ModifyIndex");
  w.Uint64(rec.modify_index);
  w.EndObject();

  // Node checks first, then the service's: Consul orders by CheckID and
  // "serfHealth" < "service:...".
  w.Key("Checks");
  w.StartArray();
  auto check = [&](absl::string_view id, absl::string_view name, absl::string_view status,
                   absl::string_view output, absl::string_view service_id,
                   absl::string_view service_name, const std::vector<std::string>& tags,
                   absl::string_view type, uint64_t create, uint64_t modify) {
    w.StartObject();
    w.Key("Node");
    Str(w, s.node);
    w.Key("CheckID");
    Str(w, id);
    w.Key("Name");
    Str(w, name);
    w.Key("Status");
    Str(w, status);
    w.Key("Notes");
    Str(w, "");
    w.Key("Output");
    Str(w, output);
    w.Key("ServiceID");
    Str(w, service_id);
    w.Key("ServiceName");
    Str(w, service_name);
    w.Key("ServiceTags");
    StrList(w, tags);
    w.Key("Type");
    Str(w, type);
    w.Key("CreateIndex");
    w.Uint64(create);
    w.Key("ModifyIndex");
    w.Uint64(modify);
    w.EndObject();
  };
  check("serfHealth", "Serf Health Status", n.serf_status,
        n.serf_status == "passing" ? "Agent alive and reachable" : "Agent not live or unreachable",
        "", "", {}, "", n.serf_create_index, n.serf_modify_index);
  if (rec.has_check) {
    check(absl::StrCat("service:", s.id), absl::StrCat("Service '", s.name, "' check"), s.status,
          "", s.id, s.name, s.tags, "ttl", rec.check_create_index, rec.check_modify_index);
  }
  w.EndArray();
  w.EndObject();
}

ReadResult FakeConsulServer::State::Health(const ReadQuery& q) const {
  ReadResult r;
  // maxIndexForService: the service's own index while it has instances;
  // otherwise the last extinction, else the whole catalog's.
  auto si = service_index.find(q.service);
  if (si != service_index.end()) {
    r.index = si->second;
  } else if (extinction_index != 0) {
    r.index = extinction_index;
  } else {
    r.index = std::max({nodes_index, services_index, checks_index});
  }
  r.index = std::max<uint64_t>(r.index, 1);
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartArray();
  for (const auto& [key, rec] : services) {
    const ServiceInstance& s = rec.instance;
    if (s.name != q.service) continue;
    bool tags_ok = true;
    for (const auto& t : q.tags) tags_ok = tags_ok && HasTag(s.tags, t);
    if (!tags_ok) continue;
    if (q.passing) {
      if (nodes.at(s.node).serf_status != "passing") continue;
      if (rec.has_check && s.status != "passing") continue;
    }
    if (hidden_services.count(s.name) > 0) {
      r.filtered = true;
      continue;
    }
    WriteHealthEntry(w, rec);
  }
  w.EndArray();
  r.body.assign(sb.GetString(), sb.GetSize());
  return r;
}

ReadResult FakeConsulServer::State::CatalogServices() const {
  ReadResult r;
  // catalogMaxIndex without checks: health changes do not move this list.
  r.index = std::max<uint64_t>(std::max(nodes_index, services_index), 1);
  std::map<std::string, std::set<std::string>> tags;
  for (const auto& [key, rec] : services) {
    if (hidden_services.count(rec.instance.name) > 0) {
      r.filtered = true;
      continue;
    }
    auto& set = tags[rec.instance.name];
    set.insert(rec.instance.tags.begin(), rec.instance.tags.end());
  }
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  for (const auto& [name, set] : tags) {
    Str(w, name);
    StrList(w, std::vector<std::string>(set.begin(), set.end()));
  }
  w.EndObject();
  r.body.assign(sb.GetString(), sb.GetSize());
  return r;
}

// ---------------------------------------------------------------------------

bool FakeConsulServer::State::CheckToken(const HttpTestRequest& req, HttpTestResponse& resp) {
  if (options.acl_token.empty()) return true;
  // Consul's precedence: ?token, then X-Consul-Token, then Authorization: Bearer.
  std::string token;
  if (req.HasParam("token")) {
    token = req.Param("token");
  } else if (!req.Header("x-consul-token").empty()) {
    token = std::string(req.Header("x-consul-token"));
  } else if (absl::StartsWithIgnoreCase(req.Header("authorization"), "bearer ")) {
    token = std::string(req.Header("authorization").substr(7));
  }
  if (token == options.acl_token) return true;
  // No token is the anonymous token, which the default-deny policy refuses;
  // a token the server does not know is "ACL not found".
  SendError(resp, 403, token.empty() ? "Permission denied" : "ACL not found");
  return false;
}

bool FakeConsulServer::State::Preflight(const HttpTestRequest& req, HttpTestResponse& resp) {
  if (req.method == "GET") {
    if (!req.Param("wait").empty()) {
      absl::Duration d;
      if (!ParseGoDuration(req.Param("wait"), &d)) {
        SendError(resp, 400, "Invalid wait time");
        return false;
      }
    }
    uint64_t index;
    if (!req.Param("index").empty() && !absl::SimpleAtoi(req.Param("index"), &index)) {
      SendError(resp, 400, "Invalid index");
      return false;
    }
  }
  // Consul routes to the datacenter before it resolves the token.
  std::string dc = req.Param("dc");
  if (!dc.empty() && dc != options.datacenter) {
    SendError(resp, 500, "No path to datacenter");
    return false;
  }
  return CheckToken(req, resp);
}

void FakeConsulServer::State::Handle(const HttpTestRequest& req, HttpTestResponse& resp) {
  int fail = 0;
  {
    absl::MutexLock l(&mu);
    ++path_counts[req.path];
    uint64_t index = 0;
    if (req.method == "GET" && (req.Param("index").empty() ||
                                (absl::SimpleAtoi(req.Param("index"), &index) && index == 0))) {
      ++index_zero_counts[req.path];
    }
    connections.insert(req.connection_id);
    request_log.push_back(absl::StrCat(req.method, " ", req.target));
    if (request_log.size() > kRequestLogSize) request_log.pop_front();
    if (fail_count > 0) {
      --fail_count;
      fail = fail_status;
    }
  }
  if (fail != 0) {
    SendError(resp, fail, FailureBody(fail));
    return;
  }

  const std::string& path = req.path;
  if (absl::StartsWith(path, "/v1/kv/")) {
    HandleKv(req, resp);
  } else if (absl::StartsWith(path, "/v1/health/service/")) {
    if (req.method != "GET") {
      SendError(resp, 405, absl::StrCat("method ", req.method, " not allowed"), {{"Allow", "GET"}});
      return;
    }
    ReadQuery q;
    q.kind = ReadQuery::Kind::kHealth;
    q.service = path.substr(std::string("/v1/health/service/").size());
    if (q.service.empty()) {
      SendError(resp, 400, "Missing service name");
      return;
    }
    if (req.HasParam("passing") && !ParseGoBool(req.Param("passing"), &q.passing)) {
      SendError(resp, 400, "Invalid value for ?passing");
      return;
    }
    q.tags = QueryValues(req.query, "tag");
    if (!Preflight(req, resp)) return;
    ServeRead(req, resp, q);
  } else if (path == "/v1/catalog/services") {
    if (req.method != "GET") {
      SendError(resp, 405, absl::StrCat("method ", req.method, " not allowed"), {{"Allow", "GET"}});
      return;
    }
    if (!Preflight(req, resp)) return;
    ReadQuery q;
    q.kind = ReadQuery::Kind::kCatalogServices;
    ServeRead(req, resp, q);
  } else if (path == "/v1/status/leader") {
    if (!CheckToken(req, resp)) return;
    resp.Send(200, "application/json", "\"127.0.0.1:8300\"");
  } else if (path == "/v1/agent/self") {
    // Clients (Prometheus' consul_sd) ask the agent for its datacenter.
    if (!CheckToken(req, resp)) return;
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("Config");
    w.StartObject();
    w.Key("Datacenter");
    Str(w, options.datacenter);
    w.Key("PrimaryDatacenter");
    Str(w, options.datacenter);
    w.Key("NodeName");
    Str(w, options.node_name);
    w.Key("NodeID");
    Str(w, NodeId(options.node_name));
    w.Key("Server");
    w.Bool(true);
    w.Key("Version");
    Str(w, "1.17.0");
    w.EndObject();
    w.Key("Member");
    w.StartObject();
    w.Key("Name");
    Str(w, options.node_name);
    w.Key("Addr");
    Str(w, "127.0.0.1");
    w.Key("Port");
    w.Int(8301);
    w.Key("Status");
    w.Int(1);
    w.EndObject();
    w.EndObject();
    resp.Send(200, "application/json", absl::string_view(sb.GetString(), sb.GetSize()));
  } else {
    SendError(resp, 404, "404 page not found\n");
  }
}

void FakeConsulServer::State::HandleKv(const HttpTestRequest& req, HttpTestResponse& resp) {
  // Keys are taken verbatim after the prefix (kvs_endpoint.go).
  std::string key = req.path.substr(std::string("/v1/kv/").size());
  bool recurse = req.HasParam("recurse");  // presence, whatever the value
  if (req.method == "GET") {
    ReadQuery q;
    q.key = key;
    if (req.HasParam("keys")) {
      q.kind = ReadQuery::Kind::kKvKeys;
      q.separator = req.Param("separator");
    } else if (recurse) {
      q.kind = ReadQuery::Kind::kKvList;
    } else {
      q.kind = ReadQuery::Kind::kKvGet;
      q.raw = req.HasParam("raw");
    }
    if (!Preflight(req, resp)) return;
    ServeRead(req, resp, q);
    return;
  }
  if (req.method != "PUT" && req.method != "DELETE") {
    SendError(resp, 405, absl::StrCat("method ", req.method, " not allowed"),
              {{"Allow", "GET, PUT, DELETE"}});
    return;
  }
  uint64_t flags = 0, cas = 0;
  bool has_cas = req.HasParam("cas");
  if (has_cas && !absl::SimpleAtoi(req.Param("cas"), &cas)) {
    SendError(resp, 400, "Invalid cas index");
    return;
  }
  if (req.method == "PUT") {
    if (key.empty()) {
      SendError(resp, 400, "Missing key name");
      return;
    }
    if (req.HasParam("flags") && !absl::SimpleAtoi(req.Param("flags"), &flags)) {
      SendError(resp, 400, "Invalid flags");
      return;
    }
    if (req.body.size() > kMaxKvValueBytes) {
      SendError(resp, 413, absl::StrCat("Value exceeds ", kMaxKvValueBytes, " byte limit"));
      return;
    }
  } else if (key.empty() && !recurse) {
    SendError(resp, 400, "Missing key name");
    return;
  }
  if (!Preflight(req, resp)) return;
  bool ok = true;
  {
    absl::MutexLock l(&mu);
    uint64_t idx = BeginWrite();
    auto it = kv.find(key);
    // cas=0 means "only if absent"; cas=N "only if ModifyIndex is N".
    if (has_cas && !recurse) {
      ok = cas == 0 ? it == kv.end() : (it != kv.end() && it->second.modify_index == cas);
    }
    if (ok) {
      if (req.method == "PUT") {
        KvSet(idx, key, req.body, flags);
      } else if (recurse) {
        KvDeleteTree(idx, key);
      } else {
        KvDelete(idx, key);
      }
    }
  }
  resp.Send(200, "application/json", ok ? "true" : "false");
}

void FakeConsulServer::State::ServeRead(const HttpTestRequest& req, HttpTestResponse& resp,
                                        const ReadQuery& q) {
  // Already validated by Preflight.
  uint64_t min_index = 0;
  if (!req.Param("index").empty()) (void)absl::SimpleAtoi(req.Param("index"), &min_index);
  absl::Duration wait = kDefaultQueryTime;
  if (!req.Param("wait").empty()) (void)ParseGoDuration(req.Param("wait"), &wait);
  if (wait <= absl::ZeroDuration()) wait = kDefaultQueryTime;
  wait = std::min(wait, kMaxQueryTime);

  ReadResult r;
  bool abort = false;
  {
    absl::MutexLock l(&mu);
    const uint64_t my_wake = wake_generation;
    const uint64_t my_drop = drop_generation;
    auto cut_off = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return stopping || drop_generation != my_drop;
    };
    if (min_index > 0 && stall_count > 0) {
      // A dead peer: never answer, never close, until someone gives up.
      --stall_count;
      while (!mu.AwaitWithTimeout(absl::Condition(&cut_off), kPeerPoll) && !resp.PeerClosed()) {
      }
      abort = true;
    } else {
      r = RunRead(q);
      if (min_index > 0 && r.index <= min_index) {
        // RandomStagger(wait / 16), like Consul, so that many clients that
        // started together do not all come back in the same instant.
        int64_t jitter_ns = absl::ToInt64Nanoseconds(wait) / kJitterFraction;
        if (jitter_ns > 0) wait += absl::Nanoseconds(static_cast<int64_t>(rng() % jitter_ns));
        const absl::Time deadline = absl::Now() + wait;
        uint64_t seen = change_generation;
        auto woken = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return change_generation != seen || wake_generation != my_wake || cut_off();
        };
        for (;;) {
          absl::Time slice = std::min(deadline, absl::Now() + kPeerPoll);
          if (!mu.AwaitWithDeadline(absl::Condition(&woken), slice)) {
            if (absl::Now() >= deadline) break;  // answer as is, same index
            if (resp.PeerClosed()) {
              abort = true;
              break;
            }
            continue;
          }
          if (cut_off()) {
            abort = true;
            break;
          }
          // Some write happened; like Consul's blockingQuery, look again and
          // keep waiting unless this query's own index moved.
          seen = change_generation;
          r = RunRead(q);
          if (r.index > min_index || wake_generation != my_wake) break;
        }
      }
    }
  }
  if (abort) {
    resp.Abort();
    return;
  }
  std::vector<std::pair<std::string, std::string>> headers = {
      {"X-Consul-Index", absl::StrCat(r.index)},
      {"X-Consul-KnownLeader", "true"},
      {"X-Consul-LastContact", "0"}};
  if (r.filtered) headers.emplace_back("X-Consul-Results-Filtered-By-ACLs", "true");
  resp.Send(r.status, r.content_type, r.body, headers);
}

// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<FakeConsulServer>> FakeConsulServer::Start(const Options& options) {
  std::unique_ptr<FakeConsulServer> s(new FakeConsulServer());
  s->state_ = std::make_unique<State>();
  State* st = s->state_.get();
  st->options = options;
  {
    absl::MutexLock l(&st->mu);
    uint64_t first = std::max<uint64_t>(options.initial_index, 2);
    if (options.register_self) {
      // The server's own catalog entry is the write that makes initial_index.
      st->raft_index = first - 1;
      ServiceInstance self;
      self.node = options.node_name;
      self.node_address = "127.0.0.1";
      self.id = "consul";
      self.name = "consul";
      self.port = 8300;
      self.meta = {{"non_voter", "false"},     {"raft_version", "3"},
                   {"read_replica", "false"},  {"serf_protocol_current", "2"},
                   {"serf_protocol_max", "5"}, {"serf_protocol_min", "1"},
                   {"version", "1.17.0"}};
      st->Register(st->BeginWrite(), self, /*has_check=*/false);
    } else {
      st->raft_index = first;
    }
  }
  HttpTestServer::Options http;
  http.port = options.port;
  // Every blocked query holds a connection; real agents allow hundreds.
  http.max_connections = 512;
  if (options.tls) {
    ASSIGN_OR_RETURN(st->certs, MakeTestCertificates({"localhost"}, {"127.0.0.1", "::1"}));
    http.cert_pem = st->certs.cert_pem;
    http.key_pem = st->certs.key_pem;
  }
  st->server = std::make_unique<HttpTestServer>(http);
  st->server->Route(
      "", "/", [st](const HttpTestRequest& req, HttpTestResponse& resp) { st->Handle(req, resp); });
  RETURN_IF_ERROR(st->server->Start());
  return s;
}

FakeConsulServer::~FakeConsulServer() {
  if (!state_) return;
  {
    // Releases blocked and stalled handlers, so Stop() does not wait out
    // their waits.
    absl::MutexLock l(&state_->mu);
    state_->stopping = true;
  }
  if (state_->server) state_->server->Stop();
}

std::string FakeConsulServer::address() const { return state_->server->url(); }
int FakeConsulServer::port() const { return state_->server->port(); }
std::string FakeConsulServer::ca_pem() const { return state_->certs.ca_pem; }

uint64_t FakeConsulServer::PutKV(const std::string& key, const std::string& value) {
  absl::MutexLock l(&state_->mu);
  uint64_t idx = state_->BeginWrite();
  state_->KvSet(idx, key, value, 0);
  return idx;
}

uint64_t FakeConsulServer::DeleteKV(const std::string& key, bool recurse) {
  absl::MutexLock l(&state_->mu);
  uint64_t idx = state_->BeginWrite();
  if (recurse) {
    state_->KvDeleteTree(idx, key);
  } else {
    state_->KvDelete(idx, key);
  }
  return idx;
}

absl::Status FakeConsulServer::RegisterService(const ServiceInstance& instance) {
  if (instance.node.empty() || instance.id.empty() || instance.name.empty()) {
    return absl::InvalidArgumentError("service instance needs node, id and name");
  }
  if (!ValidStatus(instance.status)) {
    return absl::InvalidArgumentError(absl::StrCat("bad check status: ", instance.status));
  }
  absl::MutexLock l(&state_->mu);
  state_->Register(state_->BeginWrite(), instance, /*has_check=*/true);
  return absl::OkStatus();
}

absl::Status FakeConsulServer::DeregisterService(const std::string& id) {
  State* st = state_.get();
  absl::MutexLock l(&st->mu);
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& [key, rec] : st->services) {
    if (key.second == id) keys.push_back(key);
  }
  if (keys.empty()) return absl::NotFoundError(absl::StrCat("unknown service ID: ", id));
  uint64_t idx = st->BeginWrite();
  for (const auto& key : keys) {
    auto it = st->services.find(key);
    std::string name = it->second.instance.name;
    if (it->second.has_check) st->checks_index = idx;
    st->services.erase(it);
    st->services_index = idx;
    st->ServiceRemoved(idx, name);
  }
  return absl::OkStatus();
}

absl::Status FakeConsulServer::SetHealth(const std::string& id, const std::string& status) {
  if (!ValidStatus(status)) return absl::InvalidArgumentError(absl::StrCat("bad status: ", status));
  State* st = state_.get();
  absl::MutexLock l(&st->mu);
  bool found = false;
  for (const auto& [key, rec] : st->services) found = found || (key.second == id && rec.has_check);
  if (!found) return absl::NotFoundError(absl::StrCat("unknown service ID: ", id));
  uint64_t idx = st->BeginWrite();
  for (auto& [key, rec] : st->services) {
    if (key.second != id || !rec.has_check || rec.instance.status == status) continue;
    rec.instance.status = status;
    rec.check_modify_index = idx;
    st->checks_index = idx;
    st->TouchService(idx, rec.instance.name);
  }
  return absl::OkStatus();
}

absl::Status FakeConsulServer::SetNodeHealth(const std::string& node, const std::string& status) {
  if (!ValidStatus(status)) return absl::InvalidArgumentError(absl::StrCat("bad status: ", status));
  State* st = state_.get();
  absl::MutexLock l(&st->mu);
  auto it = st->nodes.find(node);
  if (it == st->nodes.end()) return absl::NotFoundError(absl::StrCat("unknown node: ", node));
  uint64_t idx = st->BeginWrite();
  if (it->second.serf_status != status) {
    it->second.serf_status = status;
    it->second.serf_modify_index = idx;
    st->checks_index = idx;
    st->TouchServicesOnNode(idx, node);
  }
  return absl::OkStatus();
}

uint64_t FakeConsulServer::Index() const {
  absl::MutexLock l(&state_->mu);
  return state_->raft_index;
}

void FakeConsulServer::FailNext(int n, int status) {
  absl::MutexLock l(&state_->mu);
  state_->fail_count = n;
  state_->fail_status = status;
}

void FakeConsulServer::ResetIndex(uint64_t to) {
  absl::MutexLock l(&state_->mu);
  state_->RenumberIndexes(to);
  // A restore abandons the old state store: every blocked query returns.
  ++state_->change_generation;
  ++state_->wake_generation;
}

void FakeConsulServer::WakeBlockingQueries() {
  absl::MutexLock l(&state_->mu);
  ++state_->wake_generation;
}

void FakeConsulServer::RestrictToken(std::vector<std::string> hidden_key_prefixes,
                                     std::vector<std::string> hidden_services) {
  absl::MutexLock l(&state_->mu);
  state_->hidden_key_prefixes = std::move(hidden_key_prefixes);
  state_->hidden_services =
      std::set<std::string>(hidden_services.begin(), hidden_services.end());
  ++state_->wake_generation;
}

void FakeConsulServer::StallNext(int n) {
  absl::MutexLock l(&state_->mu);
  state_->stall_count = n;
}

void FakeConsulServer::DropConnections() {
  {
    absl::MutexLock l(&state_->mu);
    ++state_->drop_generation;
  }
  state_->server->CloseAllConnections();
}

int FakeConsulServer::RequestCount(const std::string& path_prefix) const {
  absl::MutexLock l(&state_->mu);
  int n = 0;
  for (const auto& [path, count] : state_->path_counts) {
    if (absl::StartsWith(path, path_prefix)) n += count;
  }
  return n;
}

int FakeConsulServer::RequestsWithIndexZero(const std::string& path_prefix) const {
  absl::MutexLock l(&state_->mu);
  int n = 0;
  for (const auto& [path, count] : state_->index_zero_counts) {
    if (absl::StartsWith(path, path_prefix)) n += count;
  }
  return n;
}

int FakeConsulServer::ConnectionsSeen() const {
  absl::MutexLock l(&state_->mu);
  return static_cast<int>(state_->connections.size());
}

std::vector<std::string> FakeConsulServer::RequestLog() const {
  absl::MutexLock l(&state_->mu);
  return {state_->request_log.begin(), state_->request_log.end()};
}

}  // namespace promconf
