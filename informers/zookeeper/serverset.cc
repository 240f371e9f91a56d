#include "informers/zookeeper/serverset.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "informers/target_groups.h"
#include "rapidjson/document.h"

namespace promconf::zk {
namespace {

using Labels = std::map<std::string, std::string>;

// host and port of {"host": "...", "port": N}; false when either is missing
// or the port is outside 1..65535.
bool ReadEndpoint(const rapidjson::Value& v, std::string* host, std::string* port) {
  if (!v.IsObject()) return false;
  auto h = v.FindMember("host");
  auto p = v.FindMember("port");
  if (h == v.MemberEnd() || p == v.MemberEnd()) return false;
  if (!h->value.IsString() || h->value.GetStringLength() == 0) return false;
  if (!p->value.IsInt() || p->value.GetInt() < 1 || p->value.GetInt() > 65535) return false;
  host->assign(h->value.GetString(), h->value.GetStringLength());
  *port = absl::StrCat(p->value.GetInt());
  return true;
}

std::string StringOr(const rapidjson::Value& o, const char* key, const char* fallback) {
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || !it->value.IsString()) return fallback;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

bool ParseServerset(const rapidjson::Value& o, const std::string& path, std::string* address,
                    Labels* labels) {
  auto main = o.FindMember("serviceEndpoint");
  std::string host, port;
  if (main == o.MemberEnd() || !ReadEndpoint(main->value, &host, &port)) return false;
  *address = JoinHostPort(host, port);
  (*labels)["__meta_serverset_path"] = path;
  (*labels)["__meta_serverset_endpoint_host"] = host;
  (*labels)["__meta_serverset_endpoint_port"] = port;
  auto extra = o.FindMember("additionalEndpoints");
  if (extra != o.MemberEnd() && extra->value.IsObject()) {
    for (const auto& e : extra->value.GetObject()) {
      std::string h, p;
      if (!ReadEndpoint(e.value, &h, &p)) return false;
      std::string name =
          SanitizeLabelName(absl::string_view(e.name.GetString(), e.name.GetStringLength()));
      (*labels)["__meta_serverset_endpoint_host_" + name] = h;
      (*labels)["__meta_serverset_endpoint_port_" + name] = p;
    }
  }
  (*labels)["__meta_serverset_status"] = StringOr(o, "status", "");
  int shard = 0;
  auto s = o.FindMember("shard");
  if (s != o.MemberEnd()) {
    if (!s->value.IsInt()) return false;
    shard = s->value.GetInt();
  }
  (*labels)["__meta_serverset_shard"] = absl::StrCat(shard);
  return true;
}

bool ParseNerve(const rapidjson::Value& o, const std::string& path, std::string* address,
                Labels* labels) {
  std::string host, port;
  if (!ReadEndpoint(o, &host, &port)) return false;
  *address = JoinHostPort(host, port);
  (*labels)["__meta_nerve_path"] = path;
  (*labels)["__meta_nerve_endpoint_host"] = host;
  (*labels)["__meta_nerve_endpoint_port"] = port;
  (*labels)["__meta_nerve_endpoint_name"] = StringOr(o, "name", "");
  return true;
}

// One member's target group; false when its data is not a member. The parse
// is iterative: member data is tenant input, and a recursive parse of 1 MB of
// '[' overflows the stack (the member stays, so every start would crash).
bool ParseMember(ServersetFormat format, const ServersetMember& m, TargetGroup* g) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(m.data.data(), m.data.size());
  return !doc.HasParseError() && doc.IsObject() &&
         (format == ServersetFormat::kServerset ? ParseServerset(doc, m.path, &g->address, &g->labels)
                                               : ParseNerve(doc, m.path, &g->address, &g->labels));
}

}  // namespace

std::string ServersetTargetGroups(ServersetFormat format,
                                  const std::vector<ServersetMember>& members, int* skipped,
                                  std::vector<std::string>* skipped_paths) {
  if (skipped_paths != nullptr) skipped_paths->clear();
  std::vector<TargetGroup> groups;
  int left_out = 0;
  for (const ServersetMember& m : members) {
    TargetGroup g;
    bool ok = false;
    // Whatever one member holds (std::bad_alloc included) skips that member
    // only; the caller logs and counts the skipped ones.
    try {
      ok = ParseMember(format, m, &g);
    } catch (...) {
      ok = false;
    }
    if (!ok) {
      ++left_out;
      if (skipped_paths != nullptr) skipped_paths->push_back(m.path);
      continue;
    }
    groups.push_back(std::move(g));
  }
  if (skipped != nullptr) *skipped = left_out;
  return TargetGroupsJson(groups);
}

}  // namespace promconf::zk
