#pragma once

// Reading the small files a config names (tokens, passwords, CAs,
// kubeconfigs) whole.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace promconf {

// The file's bytes, or FailedPrecondition "<prefix>cannot read <what> <path>".
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, absl::string_view what,
                                          absl::string_view prefix = "");

}  // namespace promconf
