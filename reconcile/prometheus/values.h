#pragma once

// The scalar grammars of Prometheus' config, as its Go code reads them:
// model.ParseDuration (prometheus/common), units.ParseBase2Bytes
// (alecthomas/units), net/url.Parse, and go-yaml v2's YAML 1.1 booleans and
// integers. Each returns an error message in the words Prometheus uses, or
// an empty string when the text is valid.
//
// Pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace promconf::prom {

// model.ParseDuration: "0", or units in order y w d h m s ms, each at most
// once, integers only; more than 2^63-1 ns is "duration out of range".
// *nanos (optional) receives the value.
std::string CheckDuration(absl::string_view text, int64_t* nanos = nullptr);

// units.ParseBase2Bytes: "0", or [+-]? (digits[.digits] unit)+ with units
// B KB MB GB TB PB EB / KiB MiB GiB TiB PiB EiB (all base 2; "kB" rejected).
std::string CheckBase2Bytes(absl::string_view text);

// What net/url.Parse rejects: control characters, a missing scheme before
// ':', a colon in the first path segment, bad ports, bad host characters and
// bad %-escapes. *scheme and *host (optional) receive the parts.
std::string CheckGoUrl(absl::string_view text, std::string* scheme = nullptr,
                       std::string* host = nullptr);

// go-yaml v2 (YAML 1.1) plain scalars: y/yes/true/on ..., n/no/false/off ...
std::optional<bool> ParseYaml11Bool(absl::string_view plain);
// go-yaml v2 integers: [-+]?(0b..|0o?..|0x..|decimal) with '_' separators.
// std::nullopt when not an integer or out of int64/uint64 range; *negative
// says the sign.
std::optional<uint64_t> ParseYaml11Int(absl::string_view plain, bool* negative);
// go-yaml v2 floats (decimal, exponent, .inf, .nan).
bool IsYaml11Float(absl::string_view plain);

}  // namespace promconf::prom
