#include "informers/target_groups.h"

#include "absl/strings/str_cat.h"
#include "util/json.h"

namespace promconf {

std::string TargetGroupsJson(const std::vector<TargetGroup>& groups) {
  // Addresses and labels come from tenants' znodes and catalog entries: the
  // shared escaper keeps the file valid UTF-8 JSON whatever their bytes.
  std::string out = "[";
  for (size_t i = 0; i < groups.size(); ++i) {
    const TargetGroup& g = groups[i];
    if (i > 0) out.push_back(',');
    out.append("{\"targets\":[");
    AppendJsonString(&out, g.address);
    out.append("],\"labels\":{");
    bool first = true;
    for (const auto& [k, v] : g.labels) {
      if (!first) out.push_back(',');
      first = false;
      AppendJsonString(&out, k);
      out.push_back(':');
      AppendJsonString(&out, v);
    }
    out.append("}}");
  }
  out.push_back(']');
  return out;
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
