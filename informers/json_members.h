#pragma once

// Reading members of a parsed rapidjson object the lenient way the
// backends' answers need (Kubernetes, Consul): a missing member or one of
// another type reads as empty, never as an error.

#include <map>
#include <string>

#include "rapidjson/document.h"

namespace promconf {

// obj[key] as a string; "" when obj is not an object or the member is
// missing or not a string.
inline std::string JsonStringMember(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// obj[key] as a map of its string members (others skipped; a repeated name:
// the last wins, as Go's encoding/json does); empty when obj is not an
// object or the member is missing or not an object.
inline std::map<std::string, std::string> JsonStringMapMember(const rapidjson::Value& obj,
                                                              const char* key) {
  std::map<std::string, std::string> out;
  if (!obj.IsObject()) return out;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsObject()) return out;
  for (const auto& m : it->value.GetObject()) {
    if (!m.value.IsString()) continue;
    out[std::string(m.name.GetString(), m.name.GetStringLength())] =
        std::string(m.value.GetString(), m.value.GetStringLength());
  }
  return out;
}

}  // namespace promconf
