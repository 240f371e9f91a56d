#include "informers/zookeeper/serverset.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace promconf {
namespace {

using Labels = std::map<std::string, std::string>;  // sorted: stable bytes

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

// Go's net.JoinHostPort: IPv6 literals get brackets.
std::string JoinHostPort(const std::string& host, const std::string& port) {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
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

}  // namespace

std::string SanitizeLabelName(absl::string_view name) {
  std::string out(name);
  for (char& c : out) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) c = '_';
  }
  return out;
}

std::string ServersetTargetGroups(ServersetFormat format,
                                  const std::vector<ServersetMember>& members, int* skipped) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  int left_out = 0;
  w.StartArray();
  for (const ServersetMember& m : members) {
    rapidjson::Document doc;
    doc.Parse(m.data.data(), m.data.size());
    std::string address;
    Labels labels;
    bool ok =
        !doc.HasParseError() && doc.IsObject() &&
        (format == ServersetFormat::kServerset ? ParseServerset(doc, m.path, &address, &labels)
                                               : ParseNerve(doc, m.path, &address, &labels));
    if (!ok) {
      ++left_out;
      continue;
    }
    w.StartObject();
    w.Key("targets");
    w.StartArray();
    w.String(address.data(), address.size());
    w.EndArray();
    w.Key("labels");
    w.StartObject();
    for (const auto& [k, v] : labels) {
      w.Key(k.data(), k.size());
      w.String(v.data(), v.size());
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  if (skipped != nullptr) *skipped = left_out;
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace promconf
