#pragma once

// What target sources (ZooKeeper serversets, Consul services) share: one
// file_sd target group per discovered instance, with the `__meta_*` labels
// Prometheus' own discovery would give, as the JSON promconf stores in a
// job's target document.

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace promconf {

struct TargetGroup {
  std::string address;                        // "host:port"
  std::map<std::string, std::string> labels;  // sorted: stable bytes
};

// A file_sd JSON list, in the order given.
std::string TargetGroupsJson(const std::vector<TargetGroup>& groups);

// Prometheus' strutil.SanitizeLabelName: every byte outside [A-Za-z0-9_]
// becomes '_'.
std::string SanitizeLabelName(absl::string_view name);

// Go's net.JoinHostPort: IPv6 literals get brackets.
std::string JoinHostPort(absl::string_view host, absl::string_view port);

}  // namespace promconf
