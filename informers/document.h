#pragma once

#include <cstdint>
#include <string>

namespace promconf {

// What every source yields: a name and bytes (SPEC "Documents and fragments").
// The name's suffix says what the document is (.rules.yml, .scrape.yml,
// .targets.json, ...); the reconciler decides, sources never interpret data.
struct Document {
  // The ConfigMap's "<namespace>/<configmap>/<key>", the KV key below the
  // prefix, the znode path below a watched path, the file path below a
  // watched directory.
  std::string name;
  std::string data;
  // Where a human finds it, for error messages: a file path, an etcd key, a
  // ConfigMap's namespace/name. Empty means `name` says it.
  std::string origin;
  // Target sources (ZooKeeper serversets, Consul services) set `job`: `data`
  // is then a file_sd JSON list of target groups for that job.
  std::string job;
  // Non-zero when the source refused to read a document this large (a file
  // over max_fragment_bytes): `data` is empty and the reconciler rejects it
  // naming the size.
  uint64_t oversized_bytes = 0;

  bool operator==(const Document&) const = default;
};

}  // namespace promconf
