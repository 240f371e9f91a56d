#pragma once

// The one emitter of promconf's outputs: block-style YAML and JSON from a
// YamlSubsetNode tree, never spliced text (SPEC "Outputs").
//
// A scalar is written plain only when it is provably plain for YAML 1.1
// (go-yaml v2: Prometheus' config) and YAML 1.2 (go-yaml v3: rule files)
// readers alike and reads back as the same type:
// - a scalar that was plain in the input stays plain when its characters are
//   safe (so a plain int stays an int, a duration stays as written);
// - a scalar that was quoted (or a block scalar) stays quoted: a string;
// - a string promconf makes (job names, paths, stamped labels) is plain only
//   when no reader could take it for anything but that string (not a number,
//   bool (1.1's yes/no/on/off/y/n too), null, timestamp, "<<" or "=").
// Safe characters: printable ASCII and the printable non-ASCII code points
// other than U+0085, U+2028, U+2029, U+FEFF and the non-characters.
// A multi-line string of safe characters may be a literal block ("|" or
// "|-") when it reads back exactly (PromQL and annotations stay readable).
// Everything else is double-quoted; inside quotes every C0/C1 control, DEL,
// U+0085, U+2028, U+2029, U+FEFF, non-character and non-printable code point
// is escaped (\uXXXX or \UXXXXXXXX), as is any byte of invalid UTF-8 (as
// U+FFFD: YAML cannot carry it).
//
// Thread-safe.

#include <string>

#include "absl/strings/string_view.h"
#include "reconcile/yaml_subset.h"

namespace promconf {

// Appends `node` as a block at `indent` spaces. For a map or a sequence each
// line is indented; `inline_first` means the cursor already sits where the
// first line's content goes (after "- ").
void EmitYamlBlock(const YamlSubsetNode& node, int indent, bool inline_first, std::string* out);

// Appends one scalar (or "null", "{}", "[]" for empty collections).
void EmitYamlScalar(const YamlSubsetNode& node, std::string* out);

// Appends a YAML double-quoted string (escapes as above).
void AppendQuoted(absl::string_view s, std::string* out);

// Appends a string promconf makes: plain when unambiguous, else quoted.
void AppendYamlString(absl::string_view s, std::string* out);

// A string scalar node for `s` (quoted unless plain is unambiguous), for
// values promconf adds to a tree.
YamlSubsetNode YamlStringNode(absl::string_view s);

// Whether `s` may be written plain and read back as the same characters by
// YAML 1.1 and 1.2 readers (not whether it reads back as a string).
bool IsPlainSafe(absl::string_view s);

// Whether a plain `s` reads back as a string (not a number, bool, null,
// timestamp, merge or value key) in YAML 1.1 and 1.2.
bool IsUnambiguousString(absl::string_view s);

}  // namespace promconf
