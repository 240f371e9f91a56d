#pragma once

// Deterministic block-style YAML emission of yaml-cpp nodes, and JSON string
// quoting. Scalars that were quoted in the input stay quoted (so "true" stays
// a string), plain scalars stay plain when that is safe. Thread-safe.

#include <string>

#include "absl/strings/string_view.h"
#include "yaml-cpp/yaml.h"

namespace promconf {

// Appends `node` as a block at `indent` spaces. For a map or a sequence each
// line is indented; `inline_first` means the cursor already sits where the
// first line's content goes (after "- ").
void EmitYamlBlock(const YAML::Node& node, int indent, bool inline_first, std::string* out);

// Appends one scalar (or "null", "{}", "[]" for empty collections).
void EmitYamlScalar(const YAML::Node& node, std::string* out);

// Appends a YAML double-quoted string (also valid JSON).
void AppendQuoted(absl::string_view s, std::string* out);

// Appends a plain scalar when safe, otherwise a quoted one.
void AppendYamlString(absl::string_view s, std::string* out);

}  // namespace promconf
