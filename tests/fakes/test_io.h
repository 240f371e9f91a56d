#pragma once

// Small I/O helpers the integration tests, the soak and the benchmarks share.

#include <filesystem>
#include <string>

#include "absl/time/time.h"

namespace promconf {

// Writes `data` to `path` (creating its folder) through a hidden temp file in
// the same folder and a rename, as an editor or the kubelet would: a watcher
// never sees half a file.
void WriteFileAtomically(const std::filesystem::path& path, const std::string& data);

// GETs `url` (loopback). With `status`, the body whatever the status code and
// the code in *status; without, the body of a 200 and "" for anything else.
// "" when the request failed.
std::string HttpGetBody(const std::string& url, long* status = nullptr,
                        absl::Duration timeout = absl::Seconds(5));

}  // namespace promconf
