#pragma once

#include "absl/strings/string_view.h"
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace promconf {

// Parses a Prometheus duration: units y w d h m s ms in that order, each at
// most once, e.g. "1h30m", "500ms", "0". Returns InvalidArgument naming the
// text otherwise (Go-style "1.5s" is not a Prometheus duration).
absl::StatusOr<absl::Duration> ParsePrometheusDuration(absl::string_view text);

// Formats the way Prometheus does: "1h30m", "500ms", "0s".
std::string FormatPrometheusDuration(absl::Duration d);

}  // namespace promconf
