#pragma once

// A fresh directory under the system temp dir for one test, removed with
// everything in it when the object goes away.

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "absl/strings/string_view.h"

namespace promconf {

class TempDir {
 public:
  explicit TempDir(absl::string_view prefix = "promconf-test") {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / (std::string(prefix) + ".XXXXXX")).string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace promconf
