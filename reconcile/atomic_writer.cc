#include "reconcile/atomic_writer.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "absl/hash/hash.h"
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

AtomicFileWriter::Fingerprint AtomicFileWriter::FingerprintOf(absl::string_view data) {
  // absl::Hash is seeded per process, which is fine: fingerprints never
  // leave it. Size plus a 64-bit hash: an accidental match is ~2^-64.
  return Fingerprint{data.size(), absl::Hash<absl::string_view>{}(data)};
}

absl::StatusOr<bool> AtomicFileWriter::Holds(absl::string_view rel, absl::string_view data) {
  auto it = known_.find(rel);
  if (it == known_.end()) {
    if (on_disk_ != nullptr && on_disk_->find(rel) == on_disk_->end()) return false;
    absl::StatusOr<std::string> existing = fs_->ReadFile(Join(rel));
    if (existing.ok()) {
      it = known_.emplace(std::string(rel), FingerprintOf(*existing)).first;
    } else if (!absl::IsNotFound(existing.status())) {
      return existing.status();
    }
  }
  return it != known_.end() && it->second == FingerprintOf(data);
}

std::string AtomicFileWriter::TempPath(const std::string& dir, const std::string& base) {
  static thread_local absl::BitGen gen;
  // Never ends in .yml/.json: the random hex suffix comes last.
  std::string temp_name = absl::StrFormat("%s%s-%d-%08x", kTempFilePrefix,
                                          absl::string_view(base).substr(0, 100), getpid(),
                                          absl::Uniform<uint32_t>(gen) ^ static_cast<uint32_t>(temp_counter_++));
  return dir.empty() ? Join(temp_name) : Join(absl::StrCat(dir, "/", temp_name));
}

absl::StatusOr<bool> AtomicFileWriter::Write(absl::string_view rel, absl::string_view data) {
  if (!IsSafeRelativePath(rel)) {
    return absl::InvalidArgumentError(absl::StrCat("refusing to write unsafe output path \"",
                                                   absl::CHexEscape(rel), "\""));
  }
  std::map<std::string, absl::string_view> one;
  one.emplace(std::string(rel), data);
  ASSIGN_OR_RETURN(int written, WriteAll(one));
  return written > 0;
}

absl::StatusOr<int> AtomicFileWriter::WriteAll(
    const std::map<std::string, absl::string_view>& files, std::set<std::string>* changed_dirs) {
  struct Pending {
    const std::string* rel;
    const absl::string_view* data;
    std::string dir;
    std::string temp;
    bool top;
    bool renamed = false;
  };
  std::vector<Pending> todo;
  for (const auto& [rel, data] : files) {
    if (!IsSafeRelativePath(rel)) {
      return absl::InvalidArgumentError(absl::StrCat("refusing to write unsafe output path \"",
                                                     absl::CHexEscape(rel), "\""));
    }
    ASSIGN_OR_RETURN(bool same, Holds(rel, data));
    if (same) continue;
    auto [dir, base] = SplitDir(rel);
    todo.push_back(Pending{&rel, &data, dir, TempPath(dir, base), dir.empty(), false});
  }
  if (todo.empty()) return 0;
  // Subdirectory files first, top-level files (prometheus.yml) last.
  std::stable_partition(todo.begin(), todo.end(), [](const Pending& p) { return !p.top; });

  // Any failure before a file's rename leaves its old bytes untouched; try to
  // remove the temp files (a crash leaves them for CleanTempFiles).
  auto fail = [&](absl::Status st) {
    for (const Pending& p : todo) {
      if (!p.renamed) {
        fs_->Unlink(p.temp).IgnoreError();
        known_.erase(*p.rel);
      }
    }
    return st;
  };
  std::vector<std::string> dirs;  // in first-touched order: subdirs, then ""
  for (const Pending& p : todo) {
    if (std::find(dirs.begin(), dirs.end(), p.dir) != dirs.end()) continue;
    dirs.push_back(p.dir);
    absl::Status st = fs_->MkDirs(Join(p.dir));
    if (!st.ok()) return fail(st);
  }
  for (const Pending& p : todo) {
    absl::Status st = fs_->WriteFile(p.temp, *p.data);
    if (!st.ok()) return fail(st);
  }
  if (todo.size() <= kPerFileSyncMax) {
    for (const Pending& p : todo) {
      absl::Status st = fs_->SyncFile(p.temp);
      if (!st.ok()) return fail(st);
    }
  } else {
    absl::Status st = fs_->SyncFilesystem(root_);
    if (!st.ok()) return fail(st);
  }
  // Rename each group, then make its directories durable, before the next.
  int written = 0;
  for (bool top : {false, true}) {
    std::vector<std::string> group_dirs;
    for (Pending& p : todo) {
      if (p.top != top) continue;
      absl::Status st = fs_->Rename(p.temp, Join(*p.rel));
      if (!st.ok()) return fail(st);
      p.renamed = true;
      ++writes_;
      ++written;
      known_[*p.rel] = FingerprintOf(*p.data);
      if (changed_dirs != nullptr) changed_dirs->insert(p.dir);
      if (std::find(group_dirs.begin(), group_dirs.end(), p.dir) == group_dirs.end()) {
        group_dirs.push_back(p.dir);
      }
    }
    for (const std::string& dir : group_dirs) {
      absl::Status st = fs_->SyncDir(Join(dir));
      if (!st.ok()) return fail(st);
    }
  }
  return written;
}

absl::Status AtomicFileWriter::RemoveAll(const std::vector<std::string>& rels) {
  std::vector<std::string> dirs;
  for (const std::string& rel : rels) {
    absl::Status st = fs_->Unlink(Join(rel));
    if (!st.ok() && !absl::IsNotFound(st)) return st;
    known_.erase(rel);
    std::string dir = SplitDir(rel).first;
    if (st.ok() && std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
  }
  for (const std::string& dir : dirs) RETURN_IF_ERROR(fs_->SyncDir(Join(dir)));
  return absl::OkStatus();
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
    const std::map<std::string, absl::string_view>& files,
    const std::vector<std::string>& managed_dirs,
    const std::function<bool(absl::string_view dir, absl::string_view name)>& owned) {
  SyncResult result;
  // Stale files: on the first sync whatever is on disk, later what we know.
  std::set<std::string> stale;
  if (!scanned_) {
    std::vector<std::string> dirs = managed_dirs;
    dirs.push_back("");
    RETURN_IF_ERROR(CleanTempFiles(dirs));
    RETURN_IF_ERROR(fs_->MkDirs(root_));
    std::set<std::string, std::less<>> on_disk;
    for (const std::string& dir : dirs) {
      absl::StatusOr<std::vector<std::string>> names = fs_->ListDir(Join(dir));
      if (absl::IsNotFound(names.status())) continue;
      if (!names.ok()) return names.status();
      for (const std::string& name : *names) {
        std::string rel = dir.empty() ? name : absl::StrCat(dir, "/", name);
        if (!dir.empty() && !files.count(rel) && IsSafeRelativePath(rel) && owned(dir, name)) {
          stale.insert(rel);
        }
        on_disk.insert(std::move(rel));
      }
    }
    // Subdirectory files first, top-level files (prometheus.yml) last.
    on_disk_ = &on_disk;
    absl::StatusOr<int> written = WriteAll(files, &result.dirs);
    on_disk_ = nullptr;
    if (!written.ok()) return written.status();
    result.written = *written;
  } else {
    ASSIGN_OR_RETURN(result.written, WriteAll(files, &result.dirs));
  }
  for (const auto& [rel, data] : known_) {
    if (files.count(rel)) continue;
    auto [dir, name] = SplitDir(rel);
    bool managed = false;
    for (const std::string& d : managed_dirs) managed |= d == dir;
    if (managed && owned(dir, name)) stale.insert(rel);
  }
  RETURN_IF_ERROR(RemoveAll(std::vector<std::string>(stale.begin(), stale.end())));
  result.removed = static_cast<int>(stale.size());
  for (const std::string& rel : stale) result.dirs.insert(SplitDir(rel).first);
  scanned_ = true;
  return result;
}

}  // namespace promconf
