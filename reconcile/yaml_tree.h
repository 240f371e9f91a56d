#pragma once

// The one YAML reader of promconf: text -> YamlSubsetNode, bounded for
// hostile input. Every check and every output works on the tree it returns
// (what promconf validated is what it writes).
//
// ParseYamlSubset (the fast path) answers when it is sure; everything else
// goes through yaml-cpp's event parser, and the tree is built from the
// events without recursion, resolving anchors and aliases here so that their
// expanded size is charged to a budget BEFORE anything is copied:
//
// - Input: valid UTF-8 of YAML 1.1 printable characters only (go-yaml, which
//   Prometheus uses, rejects the rest), a byte order mark only in front.
// - Nesting: checked on the text before yaml-cpp (whose parser recurses)
//   sees it, then exactly on the tree (at most `max_depth` collections).
// - Size: the tree's cost (each node's scalar and key bytes, plus 16, plus
//   2 per level of depth: about what emitting it costs) may not exceed
//   `max_cost`, by default 16 bytes per input byte + 64 KiB. Without aliases
//   no document comes near; "billion laughs" is refused when the alias that
//   would cross the budget is met, before it is copied.
// - Keys: scalars only (a null, a mapping or a sequence as a key is refused),
//   unique (Prometheus decodes with UnmarshalStrict).
// - Merge keys (plain "<<", YAML 1.1 as go-yaml v2 reads them): a mapping or
//   a list of mappings (aliases or inline) whose entries join the mapping,
//   explicit keys winning, earlier sources winning over later ones; the
//   merged entries take the place of the "<<" entry. No alias and no merge
//   key survive into the tree.
// - Tags: none but "!!str" (a string, like a quoted scalar).
// - One document at most.
// - yaml-cpp exceptions and std::bad_alloc become an error with the line.
//
// Errors name the line and the key path (built only for the error).
// Pure functions; thread-safe.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "reconcile/yaml_subset.h"

namespace promconf {

struct YamlParseOptions {
  // 0: 16 * text.size() + 64 KiB (see above).
  uint64_t max_cost = 0;
  // Collections nested inside each other, the root included.
  int max_depth = 64;
  // false: yaml-cpp only (tests compare the two paths).
  bool fast_path = true;
};

struct YamlParseError {
  int line = 0;     // 1-based; 0 when not about a line
  std::string key;  // "groups[0].rules"; empty when about the document
  std::string reason;
};

// The document's root (kNull for an empty stream), or InvalidArgument
// "line N: key \"K\": reason" with *error filled when given.
absl::StatusOr<YamlSubsetNode> ParseYaml(absl::string_view text, const YamlParseOptions& options = {},
                                         YamlParseError* error = nullptr);

// The cost ParseYaml charges for `node` placed at `depth` (the root: 0).
uint64_t YamlTreeCost(const YamlSubsetNode& node, int depth = 0);

// Nesting of collections in the tree (a scalar or null: 0).
int YamlTreeDepth(const YamlSubsetNode& node);

// IsValidUtf8: util/json.h.

}  // namespace promconf
