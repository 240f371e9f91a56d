#pragma once

// A fast, deliberately partial YAML parser for the block YAML that rule files
// are written in (block mappings and sequences, plain and quoted one-line
// scalars, multi-line plain scalars, literal and folded block scalars,
// one-line flow collections, comments, a leading "---").
//
// yaml-cpp needs ~150 us to parse a 2 KiB rule file (13 MB/s), which makes an
// initial sync of 30,000 fragments take seconds. This parser is the fast path
// in front of it: it either yields the tree exactly as a conforming parser
// would, or says "not sure" (std::nullopt) and the caller falls back to
// yaml-cpp, which then also produces the precise error. Anything it does not
// fully understand (anchors, aliases, tags, complex keys, directives, tabs,
// CRs, invalid UTF-8, multi-line quoted or flow scalars, duplicate keys,
// several documents, explicit block indentation, nesting over 64) is
// "not sure", never a guess.
//
// Pure functions; thread-safe.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace promconf {

struct YamlSubsetEntry;

struct YamlSubsetNode {
  enum class Kind { kNull, kScalar, kMap, kSeq };
  Kind kind = Kind::kNull;
  // kScalar: quoted ('...' or "...") or block (| or >) in the input, so a
  // string whatever it looks like (yaml-cpp gives these the tag "!").
  bool quoted = false;
  int line = 0;  // 1-based line where the node starts
  // The value of a map entry: the 1-based line of its key (errors about a
  // key, such as "unknown key", point there). 0 elsewhere.
  int key_line = 0;
  std::string scalar;
  // kMap, in document order; keys are scalars and unique.
  std::vector<YamlSubsetEntry> map;
  // kSeq.
  std::vector<YamlSubsetNode> seq;

  bool IsNull() const { return kind == Kind::kNull; }
  bool IsScalar() const { return kind == Kind::kScalar; }
  bool IsMap() const { return kind == Kind::kMap; }
  bool IsSeq() const { return kind == Kind::kSeq; }
  // kMap: the value of `key`, or nullptr when absent.
  const YamlSubsetNode* Find(absl::string_view key) const;
};

// One key of a map. A named struct, not std::pair: a vector may hold an
// incomplete type, a pair may not (clang with libstdc++ rejects it).
struct YamlSubsetEntry {
  std::string key;
  YamlSubsetNode value;
};

// The document's root (kNull for an empty document), or std::nullopt when
// the text is outside the subset (or is not valid YAML).
std::optional<YamlSubsetNode> ParseYamlSubset(absl::string_view text);

}  // namespace promconf
