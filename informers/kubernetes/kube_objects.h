#pragma once

// The few parts of Kubernetes JSON the source reads (ConfigMaps, Secrets,
// lists, watch events, Status), parsed with simdjson's DOM API.
// KubeJsonParser reuses its buffers: one per thread.
//
// Why DOM and not on-demand: simdjson's on-demand kernel is compiled for the
// build's target ISA (generic x86-64 here, so its slow "fallback"
// implementation), while dom::parser in libsimdjson.so picks haswell/icelake
// at run time. We must not build with -march, so DOM is the fast path.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "simdjson.h"

namespace promconf::kube {

struct KubeObject {
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string resource_version;
  // "data" as sent (a Secret's values are still base64) and a ConfigMap's
  // "binaryData" (base64), in document order.
  std::vector<std::pair<std::string, std::string>> data;
  std::vector<std::pair<std::string, std::string>> binary_data;
  // kind Status (a watch ERROR event or an error response body).
  int64_t code = 0;
  std::string reason;
  std::string message;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  KubeObject object;
};

struct KubeList {
  std::string resource_version;
  std::string continue_token;
  std::vector<KubeObject> items;
};

class KubeJsonParser {
 public:
  // One watch event object ({"type":...,"object":{...}}).
  absl::Status ParseWatchEvent(absl::string_view json, WatchEvent* out);
  // A list response (kind ...List).
  absl::Status ParseList(absl::string_view json, KubeList* out);
  // Any single object (a Status body, a ConfigMap).
  absl::Status ParseObject(absl::string_view json, KubeObject* out);
  // Frees the buffers sized for the largest document so far (a list page
  // of 500 objects costs simdjson ~13x its size); after a list, watch
  // events need far less.
  void ReleaseMemory();

 private:
  // Copies `json` into buffer_ with SIMDJSON_PADDING spare bytes and parses
  // it; the returned element lives until the next call.
  simdjson::simdjson_result<simdjson::dom::element> Parse(absl::string_view json);

  simdjson::dom::parser parser_;
  std::string buffer_;
};

}  // namespace promconf::kube
