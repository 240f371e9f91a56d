#include "util/file.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace promconf {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, absl::string_view what,
                                          absl::string_view prefix) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(prefix, "cannot read ", what, " ", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace promconf
