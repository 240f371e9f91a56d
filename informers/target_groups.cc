#include "informers/target_groups.h"

#include "absl/strings/str_cat.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace promconf {

std::string TargetGroupsJson(const std::vector<TargetGroup>& groups) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartArray();
  for (const TargetGroup& g : groups) {
    w.StartObject();
    w.Key("targets");
    w.StartArray();
    w.String(g.address.data(), g.address.size());
    w.EndArray();
    w.Key("labels");
    w.StartObject();
    for (const auto& [k, v] : g.labels) {
      w.Key(k.data(), k.size());
      w.String(v.data(), v.size());
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string SanitizeLabelName(absl::string_view name) {
  std::string out(name);
  for (char& c : out) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) c = '_';
  }
  return out;
}

std::string JoinHostPort(absl::string_view host, absl::string_view port) {
  if (host.find(':') != absl::string_view::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

}  // namespace promconf
