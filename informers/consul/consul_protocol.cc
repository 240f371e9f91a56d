#include "informers/consul/consul_protocol.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "informers/json_members.h"
#include "informers/target_groups.h"
#include "rapidjson/document.h"
#include "util/dropped.h"
#include "util/http_client.h"  // UrlEncode
#include "util/log.h"

namespace promconf::consul {
namespace {

// Iterative: Consul's answers carry tenants' keys, tags and meta, and a
// recursive parse of deeply nested input overflows the stack. Any exception
// (std::bad_alloc) fails this response only.
bool ParseJsonArray(absl::string_view body, rapidjson::Document* d) {
  try {
    d->Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  } catch (...) {
    return false;
  }
  return !d->HasParseError() && d->IsArray();
}

int HealthRank(absl::string_view status) {
  if (status == "maintenance") return 3;
  if (status == "critical") return 2;
  if (status == "warning") return 1;
  return 0;
}

}  // namespace

bool ConsulIndex::Observe(absl::string_view header) {
  uint64_t index = 0;
  if (!absl::SimpleAtoi(header, &index) || index < 1) index = 1;
  const bool backwards = index < next_;
  next_ = backwards ? 0 : index;
  return backwards;
}

std::string ConsulQuery(const std::vector<std::pair<std::string, std::string>>& params,
                        uint64_t index, absl::Duration wait) {
  std::string q;
  auto add = [&q](absl::string_view k, absl::string_view v) {
    absl::StrAppend(&q, q.empty() ? "?" : "&", k, "=", UrlEncode(v));
  };
  for (const auto& [k, v] : params) {
    if (!v.empty()) add(k, v);
  }
  if (index > 0) {
    add("index", absl::StrCat(index));
    add("wait", absl::StrCat(absl::ToInt64Milliseconds(wait), "ms"));
  }
  return q;
}

absl::StatusOr<std::vector<ConsulKeyValue>> ParseConsulKvList(absl::string_view body,
                                                              uint64_t max_value_bytes) {
  rapidjson::Document d;
  if (!ParseJsonArray(body, &d)) {
    return absl::InvalidArgumentError("consul kv: response is not a JSON array");
  }
  std::vector<ConsulKeyValue> out;
  out.reserve(d.Size());
  for (const auto& e : d.GetArray()) {
    ConsulKeyValue kv;
    kv.key = JsonStringMember(e, "Key");
    if (kv.key.empty()) return absl::InvalidArgumentError("consul kv: entry without Key");
    auto mi = e.FindMember("ModifyIndex");
    if (mi != e.MemberEnd() && mi->value.IsUint64()) kv.modify_index = mi->value.GetUint64();
    auto v = e.FindMember("Value");
    if (v != e.MemberEnd() && v->value.IsString()) {
      absl::string_view b64(v->value.GetString(), v->value.GetStringLength());
      std::string decoded;
      if (!absl::Base64Unescape(b64, &decoded)) {
        return absl::InvalidArgumentError(
            absl::StrCat("consul kv: ", kv.key, ": bad base64 value"));
      }
      kv.size = decoded.size();
      if (kv.size <= max_value_bytes) kv.value = std::move(decoded);
    }
    out.push_back(std::move(kv));
  }
  return out;
}

absl::StatusOr<std::vector<ConsulServiceEntry>> ParseConsulHealth(absl::string_view body) {
  rapidjson::Document d;
  if (!ParseJsonArray(body, &d)) {
    return absl::InvalidArgumentError("consul health: response is not a JSON array");
  }
  std::vector<ConsulServiceEntry> out;
  for (const auto& e : d.GetArray()) {
    if (!e.IsObject()) {
      LOG_WARN("consul health: entry is not an object; skipped");
      CountDropped(kDroppedServices);
      continue;
    }
    auto node = e.FindMember("Node");
    auto svc = e.FindMember("Service");
    if (node == e.MemberEnd() || svc == e.MemberEnd() || !node->value.IsObject() ||
        !svc->value.IsObject()) {
      return absl::InvalidArgumentError("consul health: entry without Node or Service");
    }
    ConsulServiceEntry s;
    const rapidjson::Value& n = node->value;
    const rapidjson::Value& v = svc->value;
    s.node = JsonStringMember(n, "Node");
    s.node_address = JsonStringMember(n, "Address");
    s.datacenter = JsonStringMember(n, "Datacenter");
    s.node_meta = JsonStringMapMember(n, "Meta");
    s.tagged_addresses = JsonStringMapMember(n, "TaggedAddresses");
    s.service_id = JsonStringMember(v, "ID");
    s.service = JsonStringMember(v, "Service");
    s.service_address = JsonStringMember(v, "Address");
    s.service_meta = JsonStringMapMember(v, "Meta");
    auto port = v.FindMember("Port");
    if (port != v.MemberEnd() && port->value.IsInt()) s.port = port->value.GetInt();
    auto tags = v.FindMember("Tags");
    if (tags != v.MemberEnd() && tags->value.IsArray()) {
      for (const auto& t : tags->value.GetArray()) {
        if (t.IsString()) s.tags.emplace_back(t.GetString(), t.GetStringLength());
      }
    }
    auto checks = e.FindMember("Checks");
    if (checks != e.MemberEnd() && checks->value.IsArray()) {
      for (const auto& c : checks->value.GetArray()) {
        std::string status = JsonStringMember(c, "Status");
        if (HealthRank(status) > HealthRank(s.health)) s.health = status;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string ConsulTargetGroups(std::vector<ConsulServiceEntry> entries,
                               absl::string_view datacenter) {
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::tie(a.node, a.service_id) < std::tie(b.node, b.service_id);
  });
  std::vector<TargetGroup> groups;
  groups.reserve(entries.size());
  for (const ConsulServiceEntry& e : entries) {
    TargetGroup g;
    const std::string port = absl::StrCat(e.port);
    g.address = JoinHostPort(e.service_address.empty() ? e.node_address : e.service_address, port);
    auto& labels = g.labels;
    labels["__meta_consul_address"] = e.node_address;
    labels["__meta_consul_dc"] = e.datacenter.empty() ? std::string(datacenter) : e.datacenter;
    labels["__meta_consul_health"] = e.health;
    labels["__meta_consul_node"] = e.node;
    labels["__meta_consul_service"] = e.service;
    labels["__meta_consul_service_address"] = e.service_address;
    labels["__meta_consul_service_id"] = e.service_id;
    labels["__meta_consul_service_port"] = port;
    // consul_sd wraps the tags in the separator: ",a,b," (",," for none).
    labels["__meta_consul_tags"] = absl::StrCat(",", absl::StrJoin(e.tags, ","), ",");
    for (const auto& [k, v] : e.node_meta) {
      labels["__meta_consul_metadata_" + SanitizeLabelName(k)] = v;
    }
    for (const auto& [k, v] : e.service_meta) {
      labels["__meta_consul_service_metadata_" + SanitizeLabelName(k)] = v;
    }
    for (const auto& [k, v] : e.tagged_addresses) {
      labels["__meta_consul_tagged_address_" + SanitizeLabelName(k)] = v;
    }
    groups.push_back(std::move(g));
  }
  return TargetGroupsJson(groups);
}

}  // namespace promconf::consul
