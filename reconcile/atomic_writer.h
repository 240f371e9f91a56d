#pragma once

// AtomicFileWriter: writes promconf's output tree so that a crash at any point
// leaves every file holding either its old or its new bytes (SPEC "Outputs"):
// temp file in the same directory (named so no Prometheus glob such as *.yml
// or *.json matches it), fsync, rename, fsync of the directory.
//
// Many files at once (WriteAll, SyncTree) are written in batch: every temp
// file first, then one syncfs(2) of the output filesystem (or one fsync per
// temp file when there are at most kPerFileSyncMax), then every rename, then
// one fsync per touched directory. The guarantee is unchanged: a target is
// only ever replaced by a rename of a temp file already durable.
//
// Not thread-safe: one reconciler owns one writer.

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "reconcile/filesystem.h"

namespace promconf {

// Every temp file starts with this; leftovers from a crash are removed at the
// next sync.
inline constexpr absl::string_view kTempFilePrefix = ".promconf-tmp-";

// True when `rel` is a relative path of components made of [A-Za-z0-9._-],
// none of them "." or "..", none empty: it cannot leave the output dir.
bool IsSafeRelativePath(absl::string_view rel);

// Batches of at most this many files fsync each temp file; larger ones use a
// single syncfs(2).
inline constexpr size_t kPerFileSyncMax = 8;

class AtomicFileWriter {
 public:
  AtomicFileWriter(Filesystem* fs, std::string root);

  const std::string& root() const { return root_; }

  // Writes root/rel atomically unless it already holds exactly `data`.
  // Returns true when the file was (re)written. InvalidArgument for an unsafe
  // path; the filesystem's error otherwise (the old file is then intact).
  absl::StatusOr<bool> Write(absl::string_view rel, absl::string_view data);

  // Writes every changed file of `files` (relative path -> bytes) in one
  // batch: files in subdirectories are renamed into place and their
  // directories fsynced before top-level ones (prometheus.yml), so a config
  // never names a file that is not there yet. Returns how many were written.
  // On error, files not yet renamed keep their old bytes. `changed_dirs`
  // (optional) gets the directory ("" for the root) of every file written.
  absl::StatusOr<int> WriteAll(const std::map<std::string, absl::string_view>& files,
                               std::set<std::string>* changed_dirs = nullptr);

  // Removes root/rel; OK when it is already gone.
  absl::Status Remove(absl::string_view rel);

  // Removes leftover temp files in root/dir for each dir ("" is root).
  absl::Status CleanTempFiles(const std::vector<std::string>& dirs);

  struct SyncResult {
    int written = 0;
    int removed = 0;
    // The directory ("" for the root) of every file written or removed.
    std::set<std::string> dirs;
    bool changed() const { return written + removed > 0; }
  };
  // Makes the tree hold exactly `files` (relative path -> bytes) among the
  // files `owned(dir, name)` claims in `managed_dirs`: writes changed files
  // (those in subdirectories first, then top-level ones, so a config never
  // names a file that is not there yet), then removes owned files that are no
  // longer produced. Leftover temp files are cleaned on the first call.
  absl::StatusOr<SyncResult> SyncTree(
      const std::map<std::string, absl::string_view>& files,
      const std::vector<std::string>& managed_dirs,
      const std::function<bool(absl::string_view dir, absl::string_view name)>& owned);

  // Files renamed into place since construction.
  uint64_t writes() const { return writes_; }

 private:
  std::string Join(absl::string_view rel) const;
  // Whether root/rel is known (or read back) to hold `data`.
  absl::StatusOr<bool> Holds(absl::string_view rel, absl::string_view data);
  std::string TempPath(const std::string& dir, const std::string& base);
  // Removes `rels` (already validated), then fsyncs each directory once.
  absl::Status RemoveAll(const std::vector<std::string>& rels);

  Filesystem* const fs_;
  const std::string root_;
  // What each file is known to hold (written by us or read back), so an
  // unchanged tree costs no I/O: its size and hash, not its bytes (those
  // would double what the store already holds).
  struct Fingerprint {
    size_t size = 0;
    size_t hash = 0;
    bool operator==(const Fingerprint&) const = default;
  };
  static Fingerprint FingerprintOf(absl::string_view data);
  std::map<std::string, Fingerprint, std::less<>> known_;
  // During the first SyncTree: the files that exist in the managed dirs, so
  // Holds() reads only those (on a fresh start most do not exist yet).
  const std::set<std::string, std::less<>>* on_disk_ = nullptr;
  bool scanned_ = false;
  uint64_t writes_ = 0;
  uint64_t temp_counter_ = 0;
};

}  // namespace promconf
