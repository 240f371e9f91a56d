#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

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

// The name suffixes that make a document a fragment (SPEC "Documents and
// fragments"). Sources drop every other name before reading its bytes, and
// the reconciler classifies by the same table.
enum class FragmentSuffixKind { kRules, kScrape, kTargets };
struct FragmentSuffix {
  absl::string_view text;
  FragmentSuffixKind kind;
};
inline constexpr FragmentSuffix kFragmentSuffixes[] = {
    {".rules.yml", FragmentSuffixKind::kRules},      {".rules.yaml", FragmentSuffixKind::kRules},
    {".scrape.yml", FragmentSuffixKind::kScrape},    {".scrape.yaml", FragmentSuffixKind::kScrape},
    {".targets.json", FragmentSuffixKind::kTargets}, {".targets.yml", FragmentSuffixKind::kTargets},
    {".targets.yaml", FragmentSuffixKind::kTargets},
};

// The suffix `name` ends with, or nullptr when `name` is not a fragment's.
inline const FragmentSuffix* FragmentSuffixOf(absl::string_view name) {
  for (const FragmentSuffix& s : kFragmentSuffixes) {
    if (absl::EndsWith(name, s.text)) return &s;
  }
  return nullptr;
}

inline bool IsFragmentName(absl::string_view name) { return FragmentSuffixOf(name) != nullptr; }

}  // namespace promconf
