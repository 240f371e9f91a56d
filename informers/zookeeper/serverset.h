#pragma once

// Members of a ZooKeeper serverset as Prometheus' own zookeeper discovery
// sees them (discovery/zookeeper in Prometheus), turned into file_sd target
// groups so that promconf's output gives the same labels.
//
//   serverset: {"serviceEndpoint":{"host","port"},
//               "additionalEndpoints":{NAME:{"host","port"}},"status","shard"}
//     -> __meta_serverset_path, _endpoint_host, _endpoint_port,
//        _endpoint_host_NAME, _endpoint_port_NAME, _status, _shard
//   nerve:     {"host","port","name"}
//     -> __meta_nerve_path, _endpoint_host, _endpoint_port, _endpoint_name
//
// A member that does not parse, or has no host or a port outside 1..65535,
// is skipped (Prometheus would scrape "host:0").

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace promconf::zk {

enum class ServersetFormat { kServerset, kNerve };

struct ServersetMember {
  std::string path;  // the member's znode path
  std::string data;
};

// A file_sd JSON list with one target group per member that parses, in the
// order given (callers pass members sorted by path, so the bytes are
// deterministic). `skipped` (optional) counts the members left out and
// `skipped_paths` (optional) names them, in order, so that the log can say
// which znodes to fix.
std::string ServersetTargetGroups(ServersetFormat format,
                                  const std::vector<ServersetMember>& members,
                                  int* skipped = nullptr,
                                  std::vector<std::string>* skipped_paths = nullptr);

}  // namespace promconf::zk
