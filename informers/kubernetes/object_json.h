#pragma once

// The JSON body of an object promconf writes to the API server (a
// ConfigMap, a Lease): apiVersion, kind and the metadata that names it,
// written in one place. Not thread-safe; one object per writer.

#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace promconf::kube {

class ObjectJsonWriter {
 public:
  // Opens the object and its metadata with name, namespace and (unless
  // empty) resourceVersion. The caller adds metadata members, then
  // EndMetadata(), then the object's own members, then Finish().
  ObjectJsonWriter(absl::string_view api_version, absl::string_view kind, absl::string_view name,
                   absl::string_view ns, absl::string_view resource_version)
      : w_(buf_) {
    w_.StartObject();
    Key("apiVersion");
    String(api_version);
    Key("kind");
    String(kind);
    Key("metadata");
    w_.StartObject();
    Key("name");
    String(name);
    Key("namespace");
    String(ns);
    if (!resource_version.empty()) {
      Key("resourceVersion");
      String(resource_version);
    }
  }

  void Key(absl::string_view k) { w_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
  void String(absl::string_view s) {
    w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  }
  void Int64(int64_t v) { w_.Int64(v); }
  // A member that is an object of strings (labels, data).
  void StringMap(absl::string_view key, const std::map<std::string, std::string>& m) {
    Key(key);
    w_.StartObject();
    for (const auto& [k, v] : m) {
      Key(k);
      String(v);
    }
    w_.EndObject();
  }
  void StartObject(absl::string_view key) {
    Key(key);
    w_.StartObject();
  }
  void EndObject() { w_.EndObject(); }
  void EndMetadata() { w_.EndObject(); }

  // Closes the object; the writer is done.
  std::string Finish() {
    w_.EndObject();
    return std::string(buf_.GetString(), buf_.GetSize());
  }

 private:
  rapidjson::StringBuffer buf_;
  rapidjson::Writer<rapidjson::StringBuffer> w_;
};

}  // namespace promconf::kube
