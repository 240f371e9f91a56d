#pragma once

// Consul's HTTP API as promconf uses it (PROTOCOLS.md "Consul"): blocking
// queries and their index rules, KV lists, and health entries turned into
// file_sd target groups with the labels Prometheus' consul_sd gives.
// Pure functions: consul_source.cc does the I/O.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace promconf::consul {

// The index rules of a blocking query loop (Consul's "Blocking Queries"):
// the next request waits on the index the last response carried; an index
// that went backwards (a snapshot restore, a new leader with other state)
// resets to 0 so that the next request answers at once instead of blocking
// until the old index is reached again; an index below 1 becomes 1, so a
// server that sends none never makes the client loop on index 0.
class ConsulIndex {
 public:
  // The index to send next; 0 means "answer at once" (no index parameter).
  uint64_t next() const { return next_; }
  // After a response carrying X-Consul-Index `header` ("" when absent).
  // Returns true when the index went backwards (and was reset).
  bool Observe(absl::string_view header);
  // After an error: keep waiting on the same index.

 private:
  uint64_t next_ = 0;
};

// "?recurse=true&index=N&wait=5000ms&dc=..." style query (leading '?'
// included). `index` 0 is left out; empty values are left out.
std::string ConsulQuery(const std::vector<std::pair<std::string, std::string>>& params,
                        uint64_t index, absl::Duration wait);

struct ConsulKeyValue {
  std::string key;
  std::string value;  // base64-decoded
  uint64_t modify_index = 0;
  uint64_t size = 0;  // decoded length
};

// GET /v1/kv/PREFIX?recurse's body (a JSON array). `max_value_bytes`: values
// longer than this keep only their size.
absl::StatusOr<std::vector<ConsulKeyValue>> ParseConsulKvList(absl::string_view body,
                                                              uint64_t max_value_bytes);

struct ConsulServiceEntry {
  std::string node, node_address, datacenter;
  std::map<std::string, std::string> node_meta, tagged_addresses;
  std::string service_id, service, service_address;
  int port = 0;
  std::vector<std::string> tags;
  std::map<std::string, std::string> service_meta;
  // The checks' aggregate: maintenance > critical > warning > passing.
  std::string health = "passing";
};

// GET /v1/health/service/NAME's body (a JSON array).
absl::StatusOr<std::vector<ConsulServiceEntry>> ParseConsulHealth(absl::string_view body);

// A file_sd JSON list, one target group per instance in the order given
// (sorted by node, then service id, for stable bytes), with consul_sd's
// labels: __meta_consul_address, _dc, _health, _node, _service,
// _service_address, _service_id, _service_port, _tags (",a,b,"),
// _metadata_KEY, _service_metadata_KEY, _tagged_address_KEY. The address is
// the service's address, or the node's when the service has none.
// `datacenter` fills _dc when the entry does not say.
std::string ConsulTargetGroups(std::vector<ConsulServiceEntry> entries,
                               absl::string_view datacenter);

}  // namespace promconf::consul
