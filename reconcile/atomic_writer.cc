#include "reconcile/atomic_writer.h"

#include <unistd.h>

#include <set>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "util/status_macros.h"

namespace promconf {

bool IsSafeRelativePath(absl::string_view rel) {
  if (rel.empty() || rel.size() > 1024) return false;
  for (absl::string_view part : absl::StrSplit(rel, '/')) {
    if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
    for (char c : part) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-';
      if (!ok) return false;
    }
  }
  return true;
}

namespace {

std::pair<std::string, std::string> SplitDir(absl::string_view rel) {
  size_t slash = rel.rfind('/');
  if (slash == absl::string_view::npos) return {"", std::string(rel)};
  return {std::string(rel.substr(0, slash)), std::string(rel.substr(slash + 1))};
}

}  // namespace

namespace {
std::string TrimSlashes(std::string root) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}
}  // namespace

AtomicFileWriter::AtomicFileWriter(Filesystem* fs, std::string root)
    : fs_(fs), root_(TrimSlashes(std::move(root))) {}

std::string AtomicFileWriter::Join(absl::string_view rel) const {
  return rel.empty() ? root_ : absl::StrCat(root_, "/", rel);
}

absl::StatusOr<bool> AtomicFileWriter::Write(absl::string_view rel, absl::string_view data) {
  if (!IsSafeRelativePath(rel)) {
    return absl::InvalidArgumentError(absl::StrCat("refusing to write unsafe output path \"",
                                                   absl::CHexEscape(rel), "\""));
  }
  auto it = known_.find(rel);
  if (it == known_.end()) {
    absl::StatusOr<std::string> existing = fs_->ReadFile(Join(rel));
    if (existing.ok()) {
      it = known_.emplace(std::string(rel), *std::move(existing)).first;
    } else if (!absl::IsNotFound(existing.status())) {
      return existing.status();
    }
  }
  if (it != known_.end() && it->second == data) return false;

  auto [dir, base] = SplitDir(rel);
  RETURN_IF_ERROR(fs_->MkDirs(Join(dir)));
  static thread_local absl::BitGen gen;
  // Never ends in .yml/.json: the random hex suffix comes last.
  std::string temp_name = absl::StrFormat("%s%s-%d-%08x", kTempFilePrefix,
                                          absl::string_view(base).substr(0, 100), getpid(),
                                          absl::Uniform<uint32_t>(gen) ^ static_cast<uint32_t>(temp_counter_++));
  std::string temp = dir.empty() ? Join(temp_name) : Join(absl::StrCat(dir, "/", temp_name));
  std::string target = Join(rel);
  // Any failure before the rename leaves the old file untouched; try to
  // remove the temp file (a crash leaves it for CleanTempFiles).
  absl::Status st = fs_->WriteFile(temp, data);
  if (st.ok()) st = fs_->SyncFile(temp);
  if (st.ok()) st = fs_->Rename(temp, target);
  if (!st.ok()) {
    fs_->Unlink(temp).IgnoreError();
    known_.erase(std::string(rel));
    return st;
  }
  ++writes_;
  known_[std::string(rel)] = std::string(data);
  RETURN_IF_ERROR(fs_->SyncDir(Join(dir)));
  return true;
}

absl::Status AtomicFileWriter::Remove(absl::string_view rel) {
  if (!IsSafeRelativePath(rel)) {
    return absl::InvalidArgumentError(absl::StrCat("refusing to remove unsafe output path \"",
                                                   absl::CHexEscape(rel), "\""));
  }
  absl::Status st = fs_->Unlink(Join(rel));
  if (!st.ok() && !absl::IsNotFound(st)) return st;
  known_.erase(std::string(rel));
  if (st.ok()) RETURN_IF_ERROR(fs_->SyncDir(Join(SplitDir(rel).first)));
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::CleanTempFiles(const std::vector<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    if (!dir.empty() && !IsSafeRelativePath(dir)) {
      return absl::InvalidArgumentError(absl::StrCat("unsafe output directory ", dir));
    }
    absl::StatusOr<std::vector<std::string>> names = fs_->ListDir(Join(dir));
    if (absl::IsNotFound(names.status())) continue;
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      if (!absl::StartsWith(name, kTempFilePrefix)) continue;
      absl::Status st = fs_->Unlink(Join(dir.empty() ? name : absl::StrCat(dir, "/", name)));
      if (!st.ok() && !absl::IsNotFound(st)) return st;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<AtomicFileWriter::SyncResult> AtomicFileWriter::SyncTree(
    const std::map<std::string, std::string>& files, const std::vector<std::string>& managed_dirs,
    const std::function<bool(absl::string_view dir, absl::string_view name)>& owned) {
  SyncResult result;
  if (!scanned_) {
    std::vector<std::string> dirs = managed_dirs;
    dirs.push_back("");
    RETURN_IF_ERROR(CleanTempFiles(dirs));
    RETURN_IF_ERROR(fs_->MkDirs(root_));
  }
  // Subdirectory files first, top-level files (prometheus.yml) last.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [rel, data] : files) {
      bool top = rel.find('/') == std::string::npos;
      if (top != (pass == 1)) continue;
      ASSIGN_OR_RETURN(bool wrote, Write(rel, data));
      if (wrote) ++result.written;
    }
  }
  // Stale files: on the first sync whatever is on disk, later what we know.
  std::set<std::string> stale;
  if (!scanned_) {
    for (const std::string& dir : managed_dirs) {
      absl::StatusOr<std::vector<std::string>> names = fs_->ListDir(Join(dir));
      if (absl::IsNotFound(names.status())) continue;
      if (!names.ok()) return names.status();
      for (const std::string& name : *names) {
        std::string rel = absl::StrCat(dir, "/", name);
        if (!files.count(rel) && IsSafeRelativePath(rel) && owned(dir, name)) stale.insert(rel);
      }
    }
  }
  for (const auto& [rel, data] : known_) {
    if (files.count(rel)) continue;
    auto [dir, name] = SplitDir(rel);
    bool managed = false;
    for (const std::string& d : managed_dirs) managed |= d == dir;
    if (managed && owned(dir, name)) stale.insert(rel);
  }
  for (const std::string& rel : stale) {
    RETURN_IF_ERROR(Remove(rel));
    ++result.removed;
  }
  scanned_ = true;
  return result;
}

}  // namespace promconf
