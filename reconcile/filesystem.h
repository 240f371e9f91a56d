#pragma once

// The few filesystem operations the output writer needs, behind an interface
// so tests can inject a failure ("crash") at any step (LevelDB's Env).
// Implementations must be thread-safe; RealFilesystem() is.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace promconf {

class Filesystem {
 public:
  virtual ~Filesystem() = default;
  // Creates or truncates `path` and writes `data` (no fsync).
  virtual absl::Status WriteFile(const std::string& path, absl::string_view data) = 0;
  // fsync(2) of a regular file's contents.
  virtual absl::Status SyncFile(const std::string& path) = 0;
  // syncfs(2) on the filesystem holding `path` (a directory): one call
  // makes every file written before it durable, instead of one fsync each.
  virtual absl::Status SyncFilesystem(const std::string& path) = 0;
  // rename(2): atomic replacement of `to`.
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // fsync(2) of a directory, making renames and unlinks in it durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  // NotFound when missing.
  virtual absl::Status Unlink(const std::string& path) = 0;
  // Entry names (not paths) of regular files in `dir`; NotFound when missing.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // NotFound when missing.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // mkdir -p; OK when it exists.
  virtual absl::Status MkDirs(const std::string& path) = 0;
};

// The process-wide POSIX implementation.
Filesystem* RealFilesystem();

}  // namespace promconf
