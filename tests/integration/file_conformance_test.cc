// The Source conformance suite over the file source, on a real directory.
// Files cannot be disconnected, expired or stalled, and there is no backend to
// restart: those hooks stay Unimplemented and their tests skip.

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "informers/file/file_source.h"
#include "tests/conformance/source_conformance.h"

namespace promconf {
namespace {

class FileHarness : public SourceHarness {
 public:
  absl::Status SetUp() override {
    char tmpl[] = "/tmp/promconf-file-conformance-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return absl::ErrnoToStatus(errno, "mkdtemp");
    dir_ = tmpl;
    return absl::OkStatus();
  }

  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  absl::StatusOr<std::unique_ptr<Source>> NewSource(const SourceContext& context) override {
    FileSourceConfig config;
    config.paths = {dir_};
    return file::NewFileSource(context, config);
  }

  // Atomically, as every sane writer does: the source never sees half a file.
  absl::Status Put(const std::string& name, const std::string& data) override {
    const std::filesystem::path path = std::filesystem::path(dir_) / name;
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) return absl::InternalError(absl::StrCat("mkdir ", path.string(), ": ", ec.message()));
    const std::filesystem::path tmp =
        path.parent_path() / absl::StrCat(".", path.filename().string(), ".tmp");
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << data;
      if (!out.good()) return absl::InternalError(absl::StrCat("write ", tmp.string()));
    }
    if (rename(tmp.c_str(), path.c_str()) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("rename ", path.string()));
    }
    return absl::OkStatus();
  }

  absl::Status Delete(const std::string& name) override {
    const std::string path = absl::StrCat(dir_, "/", name);
    if (unlink(path.c_str()) != 0) return absl::ErrnoToStatus(errno, "unlink " + path);
    return absl::OkStatus();
  }

  absl::Duration ConvergeTimeout() const override { return absl::Seconds(10); }

 private:
  std::string dir_;
};

INSTANTIATE_TEST_SUITE_P(File, SourceConformanceTest,
                         testing::Values(HarnessFactory{
                             "file", [] { return std::make_unique<FileHarness>(); }}),
                         HarnessFactoryName);

}  // namespace
}  // namespace promconf
