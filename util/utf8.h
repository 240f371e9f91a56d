#pragma once

// The one UTF-8 decoder and encoder (YAML reader and emitter, PromQL and Go
// template lexers, the JSON escaper).

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace promconf {

// Decodes the UTF-8 sequence at the start of `s`: its length (1 to 4) with
// its code point in *cp, or 0 when the bytes there are not a well-formed
// sequence (Unicode Table 3-7: no overlong form, no surrogate, nothing past
// U+10FFFF, not truncated; an empty `s`). Go's utf8.DecodeRuneInString
// agrees: where this returns 0 it returns (RuneError, 1).
int DecodeUtf8(absl::string_view s, uint32_t* cp);

// Appends the encoding of `cp` (< 0x110000; the caller rules out what it
// must not write, such as surrogates).
void AppendUtf8(uint32_t cp, std::string* out);

}  // namespace promconf
