#pragma once

// The one JSON string escaper (logs, etcd request bodies, /debug/fragments,
// target files). Whatever the input bytes, the output is valid UTF-8 JSON:
// names and keys come from tenants and may hold any byte.

#include <string>

#include "absl/strings/string_view.h"

namespace promconf {

// Appends `s` as a JSON string literal, quotes included.
// - `"`, `\` and C0 controls are escaped (\n, \r, \t, \b, \f short forms; the
//   rest as \u00XX); DEL as \u007f.
// - Every byte that does not belong to a well-formed UTF-8 sequence (Unicode
//   Table 3-7: no overlong forms, no surrogates, nothing past U+10FFFF, no
//   truncated sequence) becomes \ufffd, one per byte. This is what Go's
//   encoding/json does, so etcd's gateway and Prometheus read the same string.
// - U+0085, U+2028, U+2029 and U+FEFF are escaped (\u0085, ...): JavaScript
//   and YAML 1.1 readers (go-yaml v2) take the first three as line breaks.
void AppendJsonString(std::string* out, absl::string_view s);

// AppendJsonString into a new string.
std::string JsonString(absl::string_view s);

// True when `s` is well-formed UTF-8 (same rules as above).
bool IsValidUtf8(absl::string_view s);

}  // namespace promconf
