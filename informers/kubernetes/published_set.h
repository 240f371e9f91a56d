#pragma once

// The format of a published output: promconf's files (prometheus.yml,
// rules/*.yml, targets/*.json) laid out over ConfigMaps `name`, `name-1`, ...
// of at most ~900 KiB each (a ConfigMap is at most 1 MiB), and read back.
//
// - Keys: a file's path with '/' as "__" (rules/a.yml -> rules__a.yml), a
//   valid ConfigMap key ([-._a-zA-Z0-9]+, <= 253). A path that does not map
//   to a valid, unused key gets "file-N<ext>". A file larger than what is left
//   in a ConfigMap is cut (at UTF-8 character boundaries, so every value stays
//   a valid string) into parts "<key>.part-0", "<key>.part-1", ...
// - Index: key "promconf-index.json" of ConfigMap `name` (written last),
//   listing every file's path, size, SHA-256 and parts (ConfigMap, key), the
//   ConfigMaps of the set, and a hash of the whole set. A reader writes the
//   files only when every part is present and every file's SHA-256 matches:
//   a set caught half-written (or with a stale part) is never written out.
//
// Pure functions: no I/O. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace promconf::kube {

inline constexpr char kPublishedIndexKey[] = "promconf-index.json";
inline constexpr size_t kPublishedConfigMapBytes = 900 * 1024;
// Labels every published ConfigMap carries: how the publisher finds (and
// deletes) its stale ones and how a sidecar's source selects them.
inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "promconf";
inline constexpr char kOutputLabel[] = "promconf.io/output";
inline constexpr char kShardLabel[] = "promconf.io/shard";

struct PublishedSetId {
  std::string output;  // output.configmap.name
  int shard = 0;
  int shards = 1;
  // The first ConfigMap's name: `output` with one shard, else
  // "<output>-shard-<k>".
  std::string SetName() const;
  // The labels of every ConfigMap of this set.
  std::map<std::string, std::string> Labels() const;
  // "app.kubernetes.io/managed-by=promconf,promconf.io/output=...,promconf.io/shard=k"
  std::string LabelSelector() const;
};

struct PublishedConfigMap {
  std::string name;
  std::map<std::string, std::string> data;
};

// Lays `files` (relative path -> bytes) out as ConfigMaps; the first holds the
// index. InvalidArgument when a ConfigMap cannot hold even the index.
absl::StatusOr<std::vector<PublishedConfigMap>> LayoutPublishedSet(
    const std::map<std::string, std::string>& files, const PublishedSetId& id,
    size_t max_configmap_bytes = kPublishedConfigMapBytes);

// What an index says about its set.
struct PublishedIndex {
  std::string output;
  int shard = 0;
  int shards = 1;
  std::string hash;
  std::vector<std::string> configmaps;
};
absl::StatusOr<PublishedIndex> ParsePublishedIndex(absl::string_view json);

// Reassembles the files from an index and a lookup of (ConfigMap, key) ->
// value (nullopt when absent). FailedPrecondition when the set is incomplete
// or inconsistent (a part missing, a SHA-256 mismatch: the writer is half
// way); InvalidArgument when the index is malformed or names a path outside
// prometheus.yml, rules/ and targets/ (an index is input, and input may be
// hostile).
using PublishedValueLookup =
    std::function<std::optional<absl::string_view>(const std::string& configmap,
                                                    const std::string& key)>;
absl::StatusOr<std::map<std::string, std::string>> AssemblePublishedSet(
    absl::string_view index_json, const PublishedValueLookup& lookup);

// Lower-case hex SHA-256.
std::string Sha256Hex(absl::string_view data);

}  // namespace promconf::kube
