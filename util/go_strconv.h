#pragma once

// Pieces of Go's strconv that promconf's Go-faithful parsers (PromQL, Go
// templates) share.

#include "absl/strings/string_view.h"

namespace promconf {

// strconv's underscoreOK: in a number literal with underscores, each one
// sits between digits or right after a base prefix ("0x_1f", "1_000"; not
// "_1", "1__0", "1_").
bool GoUnderscoreOk(absl::string_view s);

}  // namespace promconf
