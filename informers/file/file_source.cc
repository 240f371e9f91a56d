#include "informers/file/file_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "informers/informer_thread.h"
#include "util/dropped.h"
#include "util/log.h"

namespace promconf::file {
namespace {

// How long a path's events must be quiet before it is read: coalesces the
// bursts of an editor's save or an atomic writer's temp-then-rename.
constexpr absl::Duration kDebounce = absl::Milliseconds(30);
// A file that was created or modified but whose writer has not closed it yet
// (no IN_CLOSE_WRITE): read it anyway once it has been quiet this long (mmap
// writers, hard links, writers that keep the file open).
constexpr absl::Duration kWriteGrace = absl::Seconds(2);
// A path that never goes quiet (a writer appending every few hundred ms) is
// still read this long after its first unread event.
constexpr absl::Duration kMaxCoalesce = absl::Seconds(5);
// How often a configured path that does not exist is looked for again.
constexpr absl::Duration kRootRetry = absl::Seconds(1);
// poll() sleeps in real time while deadlines are kept by the context clock (a
// fake one in tests): while a deadline is pending, look at the clock at least
// this often.
constexpr absl::Duration kMaxPollWait = absl::Milliseconds(50);

// One watch per directory. IN_ONLYDIR refuses to watch a file that replaced
// the directory; IN_DONT_FOLLOW is added below the configured paths so that a
// symlink swapped in for a subdirectory is never followed out of the tree.
constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE |
                                IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
                                IN_ATTRIB | IN_ONLYDIR;

// The kubelet's atomic writer (pkg/volume/util/atomic_writer.go) swaps this
// symlink to publish a new version of every key of a mounted ConfigMap.
constexpr absl::string_view kKubeletDataLink = "..data";

// Hidden names (the kubelet's "..data" and "..2024_..." dirs, ".git", atomic
// writers' ".x.tmp") and editor droppings (backup "x~", vim's swap files and
// its "4913" write probe; emacs' ".#x" locks are hidden).
bool IsSkippedName(absl::string_view name) {
  return name.empty() || name[0] == '.' || absl::EndsWith(name, "~") ||
         absl::EndsWith(name, ".swp") || absl::EndsWith(name, ".swx") || name == "4913";
}

// Errors that mean "the file is not there (any more)".
bool IsGone(int err) { return err == ENOENT || err == ENOTDIR || err == ELOOP; }

std::string JoinPath(const std::string& dir, absl::string_view name) {
  if (dir == "/") return absl::StrCat("/", name);
  return absl::StrCat(dir, "/", name);
}

std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) { return path.substr(path.rfind('/') + 1); }

bool IsUnder(const std::string& path, const std::string& dir) {
  if (dir == "/") return path.size() > 1 && path[0] == '/';
  return path.size() > dir.size() + 1 && absl::StartsWith(path, dir) && path[dir.size()] == '/';
}

// Absolute and lexically clean ("a/./b//c/" -> "/cwd/a/b/c"), like Go's
// filepath.Abs: origins and error messages show the full path.
std::string AbsolutePath(const std::string& path) {
  std::string full = path;
  if (full.empty() || full[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) != nullptr) full = absl::StrCat(cwd, "/", path);
  }
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(full, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.emplace_back(part);
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

class FileSource final : public Source {
 public:
  FileSource(const SourceContext& context, const std::vector<std::string>& paths)
      : context_(context),
        clock_(context.clock != nullptr ? context.clock : Clock::Real()),
        runtime_(context.name, clock_, {}, nullptr, [this] { WakePoll(); }) {
    for (const std::string& path : paths) {
      Root root;
      root.path = AbsolutePath(path);
      roots_.push_back(std::move(root));
    }
  }

  ~FileSource() override {
    Stop();
    if (inotify_fd_ >= 0) close(inotify_fd_);
    if (stop_fd_ >= 0) close(stop_fd_);
  }

  absl::Status Start(SourceCallbacks* callbacks) override;
  void Stop() override;

  // A file source has no stream that can stall: when nothing changes nothing
  // arrives, and that is health, not a dead peer. What can go wrong (a
  // configured path vanishing, an unreadable file, a watch limit, a queue
  // overflow) is reported through OnError or repaired by a rescan as it
  // happens, so /healthz has no deadline to enforce.
  absl::Duration progress_deadline() const override { return absl::InfiniteDuration(); }

 private:
  // One configured path.
  struct Root {
    std::string path;      // absolute
    bool present = false;  // exists and is watched
    bool is_file = false;  // a single file: its parent directory is watched
    std::string dir;       // the watched directory: `path`, or its parent
    std::string real_dir;  // `dir` with every symlink resolved (realpath)
    std::string base;      // a single file's base name (its document name)
  };
  struct DirWatch {
    std::string path;
    std::set<size_t> roots;  // indexes into roots_ that see this directory
  };
  // What was last reported for a document.
  struct KnownDoc {
    size_t root = 0;
    std::string path;
    Document doc;
  };
  struct Pending {
    std::string name;
    absl::Time first;  // the first event not read yet
    absl::Time due;
  };
  using PendingKey = std::pair<size_t, std::string>;  // root, absolute path

  void Run(InformerContext& ctx);
  // Stop()'s cancel hook: poll() waits on the stop eventfd.
  void WakePoll();
  bool stopping() const { return ctx_->stopping(); }
  void InitialSync();
  void RetryRoots();
  absl::Status Establish(size_t r);
  void RootGone(size_t r, const absl::Status& why);
  void FullRescan();
  int PollTimeoutMs() const;
  void ReadEvents();
  void HandleEvent(const inotify_event& ev, const std::string& name);
  void HandleChildEvent(size_t r, const std::string& dir, const std::string& name, uint32_t mask);
  void MarkDirty(size_t r, const std::string& path, const std::string& name, uint32_t mask);
  void ProcessDue();
  void Apply(size_t r, const std::string& path, const std::string& name);
  absl::StatusOr<std::optional<Document>> ReadDoc(size_t r, const std::string& path,
                                                  const std::string& name) const;
  bool Walk(size_t r, const std::string& dir, bool follow, std::vector<std::string>* files,
            std::set<int>* wds);
  int AddWatch(size_t r, const std::string& dir, bool follow);
  void DropWatch(std::map<int, DirWatch>::iterator it);
  void DropWatches(size_t r, const std::string& dir, bool subtree);
  void AddTree(size_t r, const std::string& dir);
  void DropTree(size_t r, const std::string& dir);
  void RescanDir(size_t r, const std::string& dir);
  bool ParentWatched(size_t r, const std::string& path) const;
  bool InsideWatchedFolder(const std::string& real_path) const;
  std::string DocName(size_t r, const std::string& path) const;
  void ReportError(const absl::Status& status);

  // Constant after construction.
  const SourceContext context_;
  Clock* const clock_;

  // Set by Start before the worker starts, closed by the destructor.
  int inotify_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd that Stop writes

  // Owned by the worker thread: only Run and the helpers it calls touch them
  // (the roots are filled in by the constructor, before the thread exists).
  InformerContext* ctx_ = nullptr;        // stopping() lets a long scan give up early
  SourceCallbacks* callbacks_ = nullptr;  // the runtime's: serialised
  std::vector<Root> roots_;
  std::map<int, DirWatch> watches_;
  std::map<std::string, int> wd_by_path_;
  std::map<std::string, KnownDoc> known_;  // by document name
  std::map<PendingKey, Pending> pending_;
  bool synced_ = false;  // the first snapshot went out
  absl::Time next_retry_ = absl::InfiniteFuture();
  std::vector<char> event_buffer_ = std::vector<char>(64 * 1024);

  // Last: stopped and joined before the members its loop uses go.
  InformerThread runtime_;
};

absl::Status FileSource::Start(SourceCallbacks* callbacks) {
  // A second Start finds the descriptors made and is refused by the runtime.
  if (inotify_fd_ >= 0) return runtime_.Start(callbacks, {});
  inotify_fd_ = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (inotify_fd_ < 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("file source ", context_.name,
                            ": inotify_init1 (see fs.inotify.max_user_instances)"));
  }
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("file source ", context_.name, ": eventfd"));
  }
  return runtime_.Start(callbacks, {[this](InformerContext& ctx) { Run(ctx); }});
}

void FileSource::Stop() { runtime_.StopAndJoin(); }

void FileSource::WakePoll() {
  if (stop_fd_ < 0) return;
  const uint64_t one = 1;
  // An eventfd write of 1 cannot fail short of overflowing the counter.
  (void)!write(stop_fd_, &one, sizeof one);
}

void FileSource::ReportError(const absl::Status& status) { callbacks_->OnError(status); }

void FileSource::Run(InformerContext& ctx) {
  ctx_ = &ctx;
  callbacks_ = &ctx.callbacks();
  InitialSync();
  while (!stopping()) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int n = poll(fds, 2, PollTimeoutMs());
    if (n < 0 && errno != EINTR) {
      // Cannot happen with two valid fds; do not spin if it does.
      LOG_ERROR("file source: poll failed", {{"source", context_.name}, {"errno", errno}});
      pollfd stop = {stop_fd_, POLLIN, 0};
      poll(&stop, 1, 1000);
      continue;
    }
    if (fds[1].revents != 0) break;
    if (fds[0].revents & POLLIN) ReadEvents();
    ProcessDue();
    if (clock_->Now() >= next_retry_) RetryRoots();
  }
}

void FileSource::InitialSync() {
  bool all_present = true;
  for (size_t r = 0; r < roots_.size(); ++r) {
    absl::Status status = Establish(r);
    if (!status.ok()) {
      all_present = false;
      LOG_WARN("file source: configured path missing; retrying every second",
               {{"source", context_.name}, {"path", roots_[r].path}, {"err", status.message()}});
      ReportError(status);
    }
  }
  if (all_present) {
    FullRescan();
  } else {
    next_retry_ = clock_->Now() + kRootRetry;
  }
}

void FileSource::RetryRoots() {
  next_retry_ = absl::InfiniteFuture();
  bool appeared = false, all_present = true;
  for (size_t r = 0; r < roots_.size(); ++r) {
    if (roots_[r].present) continue;
    absl::Status status = Establish(r);
    if (status.ok()) {
      appeared = true;
      LOG_INFO("file source: configured path appeared",
               {{"source", context_.name}, {"path", roots_[r].path}});
    } else {
      all_present = false;
      // Repeated on every retry: another path's events must not make the
      // source look healthy while this one is missing.
      ReportError(status);
    }
  }
  if (!all_present) next_retry_ = clock_->Now() + kRootRetry;
  // Before the first snapshot, wait for every path: an early snapshot would
  // delete the documents of the missing ones.
  if (appeared && (synced_ || all_present)) FullRescan();
}

absl::Status FileSource::Establish(size_t r) {
  Root& root = roots_[r];
  struct stat st;
  if (stat(root.path.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("file source ", context_.name, ": ", root.path));
  }
  if (S_ISDIR(st.st_mode)) {
    root.is_file = false;
    root.dir = root.path;
    root.base.clear();
  } else if (S_ISREG(st.st_mode)) {
    root.is_file = true;
    root.dir = ParentOf(root.path);
    root.base = BaseName(root.path);
  } else {
    return absl::FailedPreconditionError(absl::StrCat("file source ", context_.name, ": ",
                                                      root.path,
                                                      " is neither a directory nor a file"));
  }
  char real[PATH_MAX];
  if (realpath(root.dir.c_str(), real) == nullptr) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("file source ", context_.name, ": ", root.dir));
  }
  root.real_dir = real;
  root.present = true;
  return absl::OkStatus();
}

void FileSource::RootGone(size_t r, const absl::Status& why) {
  Root& root = roots_[r];
  if (!root.present) return;
  root.present = false;
  DropWatches(r, root.dir, /*subtree=*/true);
  for (auto it = pending_.begin(); it != pending_.end();) {
    it = it->first.first == r ? pending_.erase(it) : std::next(it);
  }
  next_retry_ = std::min(next_retry_, clock_->Now() + kRootRetry);
  LOG_WARN("file source: configured path gone; keeping its documents, retrying every second",
           {{"source", context_.name}, {"path", root.path}, {"err", why.message()}});
  ReportError(why);
}

void FileSource::FullRescan() {
  pending_.clear();
  std::map<std::string, KnownDoc> fresh;
  auto keep_known = [&](size_t r) {
    for (const auto& [name, kd] : known_) {
      if (kd.root == r) fresh.emplace(name, kd);
    }
  };
  for (size_t r = 0; r < roots_.size(); ++r) {
    if (!roots_[r].present) {
      keep_known(r);
      continue;
    }
    std::vector<std::string> files;
    std::set<int> wds;
    bool ok;
    if (roots_[r].is_file) {
      const int wd = AddWatch(r, roots_[r].dir, /*follow=*/true);
      ok = wd >= 0;
      if (ok) wds.insert(wd);
      files.push_back(roots_[r].path);
    } else {
      ok = Walk(r, roots_[r].dir, /*follow=*/true, &files, &wds);
    }
    if (stopping()) return;
    if (!ok) {
      RootGone(r, absl::NotFoundError(absl::StrCat("file source ", context_.name, ": ",
                                                   roots_[r].path, " cannot be watched")));
      keep_known(r);
      continue;
    }
    // Directories that went away while events were lost.
    for (auto it = watches_.begin(); it != watches_.end();) {
      auto next = std::next(it);
      if (it->second.roots.count(r) != 0 && wds.count(it->first) == 0) {
        it->second.roots.erase(r);
        if (it->second.roots.empty()) DropWatch(it);
      }
      it = next;
    }
    for (const std::string& file : files) {
      if (stopping()) return;
      const std::string name = roots_[r].is_file ? roots_[r].base : DocName(r, file);
      absl::StatusOr<std::optional<Document>> doc = ReadDoc(r, file, name);
      if (!doc.ok()) {
        ReportError(doc.status());
        auto old = known_.find(name);
        if (old != known_.end()) fresh.emplace(name, old->second);
        continue;
      }
      if (doc->has_value()) fresh[name] = KnownDoc{r, file, std::move(**doc)};
    }
  }
  known_ = std::move(fresh);
  std::vector<Document> docs;
  docs.reserve(known_.size());
  for (const auto& [name, kd] : known_) docs.push_back(kd.doc);
  callbacks_->OnSnapshot("", std::move(docs));
  synced_ = true;
}

int FileSource::PollTimeoutMs() const {
  absl::Time next = next_retry_;
  if (synced_) {
    for (const auto& [key, p] : pending_) next = std::min(next, p.due);
  }
  if (next == absl::InfiniteFuture()) return -1;
  const absl::Duration wait =
      std::clamp(next - clock_->Now(), absl::ZeroDuration(), kMaxPollWait);
  return static_cast<int>(absl::ToInt64Milliseconds(wait + absl::Microseconds(999)));
}

void FileSource::ReadEvents() {
  bool overflow = false;
  // Bounded, so that a flood of events cannot starve Stop or due reads.
  for (int round = 0; round < 64; ++round) {
    const ssize_t n = read(inotify_fd_, event_buffer_.data(), event_buffer_.size());
    if (n <= 0) break;  // EAGAIN: drained
    for (ssize_t off = 0; off < n;) {
      inotify_event ev;
      std::memcpy(&ev, event_buffer_.data() + off, sizeof ev);
      const char* name = event_buffer_.data() + off + sizeof(inotify_event);
      off += sizeof(inotify_event) + ev.len;
      if (ev.mask & IN_Q_OVERFLOW) {
        overflow = true;
        continue;
      }
      // Before the first snapshot (and after an overflow) the coming full
      // scan covers everything; only watch bookkeeping matters.
      if ((!synced_ || overflow) && (ev.mask & IN_IGNORED) == 0) continue;
      // `name` is NUL-padded to ev.len.
      HandleEvent(ev, ev.len > 0 ? std::string(name, strnlen(name, ev.len)) : std::string());
    }
  }
  if (overflow && synced_) {
    LOG_WARN("file source: inotify queue overflowed; rescanning everything",
             {{"source", context_.name}});
    FullRescan();
  }
}

void FileSource::HandleEvent(const inotify_event& ev, const std::string& name) {
  auto it = watches_.find(ev.wd);
  if (it == watches_.end()) return;  // a watch already dropped
  const DirWatch w = it->second;      // the handlers below edit watches_
  if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
    // A configured directory (or a single file's directory) went away. Any
    // other directory's removal was handled through its parent's event.
    for (size_t r : w.roots) {
      if (roots_[r].present && roots_[r].dir == w.path) {
        RootGone(r, absl::NotFoundError(absl::StrCat("file source ", context_.name, ": ",
                                                     roots_[r].path, " was removed or moved")));
      }
    }
    if (ev.mask & IN_IGNORED) {
      auto again = watches_.find(ev.wd);
      if (again != watches_.end()) DropWatch(again);
    }
    return;
  }
  if (name.empty()) return;
  for (size_t r : w.roots) HandleChildEvent(r, w.path, name, ev.mask);
}

void FileSource::HandleChildEvent(size_t r, const std::string& dir, const std::string& name,
                                  uint32_t mask) {
  const Root& root = roots_[r];
  if (!root.present || (dir != root.dir && !IsUnder(dir, root.dir))) return;
  const bool data_swap = name == kKubeletDataLink && (mask & (IN_CREATE | IN_MOVED_TO)) != 0;
  if (root.is_file) {
    if (dir != root.dir) return;
    if (name == root.base) {
      MarkDirty(r, root.path, root.base, mask);
    } else if (data_swap) {
      MarkDirty(r, root.path, root.base, IN_MOVED_TO);
    }
    return;
  }
  if (data_swap) {
    // Every key of this mounted ConfigMap may have new content.
    RescanDir(r, dir);
    return;
  }
  if (IsSkippedName(name)) return;
  const std::string child = JoinPath(dir, name);
  if (mask & IN_ISDIR) {
    if (mask & (IN_CREATE | IN_MOVED_TO)) {
      AddTree(r, child);
    } else if (mask & (IN_DELETE | IN_MOVED_FROM)) {
      DropTree(r, child);
    }
    return;
  }
  MarkDirty(r, child, DocName(r, child), mask);
}

void FileSource::MarkDirty(size_t r, const std::string& path, const std::string& name,
                           uint32_t mask) {
  // Still being written: no IN_CLOSE_WRITE yet. A created symlink (a kubelet
  // key) or a file renamed into place is complete.
  bool writing = (mask & IN_MODIFY) != 0;
  if (mask & IN_CREATE) {
    struct stat st;
    writing = lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  }
  const absl::Time now = clock_->Now();
  Pending& p = pending_.try_emplace(PendingKey(r, path), Pending{name, now, now}).first->second;
  p.name = name;
  p.due = std::min(now + (writing ? kWriteGrace : kDebounce), p.first + kMaxCoalesce);
}

void FileSource::ProcessDue() {
  if (!synced_) {
    pending_.clear();
    return;
  }
  const absl::Time now = clock_->Now();
  std::vector<std::pair<PendingKey, std::string>> due;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.due <= now) {
      due.emplace_back(it->first, std::move(it->second.name));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [key, name] : due) {
    if (stopping()) return;
    Apply(key.first, key.second, name);
  }
}

void FileSource::Apply(size_t r, const std::string& path, const std::string& name) {
  absl::StatusOr<std::optional<Document>> doc = ReadDoc(r, path, name);
  if (!doc.ok()) {
    LOG_WARN("file source: cannot read file; keeping what was read before",
             {{"source", context_.name}, {"path", path}, {"err", doc.status().message()}});
    ReportError(doc.status());
    return;
  }
  auto it = known_.find(name);
  if (!doc->has_value()) {
    if (it != known_.end() && it->second.root == r && it->second.path == path) {
      known_.erase(it);
      callbacks_->OnDelete(name);
    }
    return;
  }
  if (it != known_.end() && it->second.doc == **doc) return;  // e.g. a touch
  known_[name] = KnownDoc{r, path, **doc};
  callbacks_->OnUpsert(std::move(**doc));
}

absl::StatusOr<std::optional<Document>> FileSource::ReadDoc(size_t r, const std::string& path,
                                                            const std::string& name) const {
  // A file whose directory is no longer watched (removed, moved away,
  // replaced by a symlink) is not part of the tree any more.
  if (!ParentWatched(r, path)) return std::nullopt;
  const uint64_t limit = context_.max_document_bytes;
  struct stat st;
  // Not a fragment's name: never opened, never held (150 files of 1 MB
  // would otherwise sit in memory for nothing). Counted while it exists.
  if (!IsFragmentName(name)) {
    if (lstat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
      LOG_DEBUG("file source: not a fragment name; not read",
                {{"source", context_.name}, {"path", path}});
      CountDropped(kDroppedNonFragmentDocuments);
    }
    return std::nullopt;
  }
  // A symlink (or a path through one) is followed only to a file inside a
  // watched folder: a tenant who may write a watched folder must not make
  // promconf publish /etc/shadow. The kubelet's "key -> ..data/key",
  // "..data -> ..2024_..." layout resolves inside the folder.
  char real[PATH_MAX];
  if (realpath(path.c_str(), real) == nullptr) {
    if (IsGone(errno)) return std::nullopt;
    return absl::ErrnoToStatus(errno, absl::StrCat("file source ", context_.name, ": ", path));
  }
  const std::string real_path = real;
  if (!InsideWatchedFolder(real_path)) {
    LOG_WARN("file source: symlink points outside the watched folders; skipped",
             {{"source", context_.name}, {"path", path}, {"target", real_path}});
    CountDropped(kDroppedSymlinks);
    return std::nullopt;
  }
  if (stat(real_path.c_str(), &st) != 0) {
    if (IsGone(errno)) return std::nullopt;
    return absl::ErrnoToStatus(errno, absl::StrCat("file source ", context_.name, ": ", path));
  }
  // Directories (a symlink to one is not descended into), FIFOs, devices.
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  Document doc;
  doc.name = name;
  doc.origin = path;
  if (static_cast<uint64_t>(st.st_size) > limit) {
    doc.oversized_bytes = st.st_size;
    return doc;
  }
  // The resolved path, not following a symlink swapped in since the check.
  const int fd = open(real_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0) {
    if (IsGone(errno)) return std::nullopt;
    return absl::ErrnoToStatus(errno, absl::StrCat("file source ", context_.name, ": ", path));
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {  // swapped since the stat
    close(fd);
    return std::nullopt;
  }
  // The file may grow while it is read: never hold more than limit + 1 bytes.
  std::string data;
  uint64_t total = 0;
  char chunk[16 * 1024];
  while (true) {
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      close(fd);
      return absl::ErrnoToStatus(err, absl::StrCat("file source ", context_.name, ": ", path));
    }
    if (n == 0) break;
    total += n;
    if (total > limit) break;
    data.append(chunk, n);
  }
  close(fd);
  if (total > limit) {
    doc.oversized_bytes = std::max<uint64_t>(total, st.st_size);
    return doc;
  }
  doc.data = std::move(data);
  return doc;
}

bool FileSource::Walk(size_t r, const std::string& dir, bool follow,
                      std::vector<std::string>* files, std::set<int>* wds) {
  if (stopping()) return false;
  // Watch first, then list: a file created in between shows up in both, never
  // in neither.
  const int wd = AddWatch(r, dir, follow);
  if (wd < 0) return false;
  if (wds != nullptr) wds->insert(wd);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;  // gone again; its watch reports IN_IGNORED
  std::vector<std::string> subdirs;
  while (dirent* e = readdir(d)) {
    const absl::string_view name = e->d_name;
    if (IsSkippedName(name)) continue;  // also "." and ".."
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      is_dir = S_ISDIR(st.st_mode);
    }
    (is_dir ? subdirs : *files).push_back(JoinPath(dir, name));
  }
  closedir(d);
  for (const std::string& sub : subdirs) Walk(r, sub, /*follow=*/false, files, wds);
  return true;
}

int FileSource::AddWatch(size_t r, const std::string& dir, bool follow) {
  const int wd =
      inotify_add_watch(inotify_fd_, dir.c_str(), kWatchMask | (follow ? 0 : IN_DONT_FOLLOW));
  if (wd < 0) {
    const int err = errno;
    if (!IsGone(err)) {
      // ENOSPC: fs.inotify.max_user_watches is used up. The directory's files
      // are still read by this scan but will not be followed.
      absl::Status status = absl::ErrnoToStatus(
          err, absl::StrCat("file source ", context_.name, ": cannot watch ", dir,
                            err == ENOSPC ? " (raise fs.inotify.max_user_watches)" : ""));
      LOG_WARN("file source: cannot watch directory",
               {{"source", context_.name}, {"path", dir}, {"err", status.message()}});
      ReportError(status);
    }
    return -1;
  }
  DirWatch& w = watches_[wd];
  if (w.path != dir) {
    // The same inode under a new path: it was moved.
    auto old = wd_by_path_.find(w.path);
    if (old != wd_by_path_.end() && old->second == wd) wd_by_path_.erase(old);
    w.path = dir;
  }
  w.roots.insert(r);
  auto [it, inserted] = wd_by_path_.emplace(dir, wd);
  if (!inserted && it->second != wd) {
    // The path now names another directory; the old one was removed or moved
    // away (and is re-added by its new parent's event if still in a tree).
    const int stale = it->second;
    it->second = wd;
    auto s = watches_.find(stale);
    if (s != watches_.end()) {
      s->second.path.clear();  // keep DropWatch off the path we just set
      DropWatch(s);
    }
  }
  return wd;
}

void FileSource::DropWatch(std::map<int, DirWatch>::iterator it) {
  inotify_rm_watch(inotify_fd_, it->first);  // EINVAL if the kernel dropped it already
  auto p = wd_by_path_.find(it->second.path);
  if (p != wd_by_path_.end() && p->second == it->first) wd_by_path_.erase(p);
  watches_.erase(it);
}

void FileSource::DropWatches(size_t r, const std::string& dir, bool subtree) {
  for (auto it = watches_.begin(); it != watches_.end();) {
    auto next = std::next(it);
    DirWatch& w = it->second;
    const bool match = w.path == dir || (subtree && IsUnder(w.path, dir));
    if (match && w.roots.erase(r) != 0 && w.roots.empty()) DropWatch(it);
    it = next;
  }
}

void FileSource::AddTree(size_t r, const std::string& dir) {
  // Files created before the watch was added are found by the listing.
  std::vector<std::string> files;
  Walk(r, dir, /*follow=*/false, &files, nullptr);
  for (const std::string& file : files) MarkDirty(r, file, DocName(r, file), IN_MOVED_TO);
}

void FileSource::DropTree(size_t r, const std::string& dir) {
  DropWatches(r, dir, /*subtree=*/true);
  // Re-read rather than delete outright: a directory moved away and back
  // within the debounce window is still there.
  for (const auto& [name, kd] : known_) {
    if (kd.root == r && IsUnder(kd.path, dir)) MarkDirty(r, kd.path, name, IN_MOVED_FROM);
  }
}

void FileSource::RescanDir(size_t r, const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d != nullptr) {
    while (dirent* e = readdir(d)) {
      const absl::string_view name = e->d_name;
      if (IsSkippedName(name) || e->d_type == DT_DIR) continue;
      const std::string path = JoinPath(dir, name);
      MarkDirty(r, path, DocName(r, path), IN_MOVED_TO);
    }
    closedir(d);
  }
  // Keys that are gone: reading them finds nothing and deletes them.
  for (const auto& [name, kd] : known_) {
    if (kd.root == r && ParentOf(kd.path) == dir) MarkDirty(r, kd.path, name, IN_MOVED_TO);
  }
}

bool FileSource::ParentWatched(size_t r, const std::string& path) const {
  auto it = wd_by_path_.find(ParentOf(path));
  if (it == wd_by_path_.end()) return false;
  auto w = watches_.find(it->second);
  return w != watches_.end() && w->second.roots.count(r) != 0;
}

bool FileSource::InsideWatchedFolder(const std::string& real_path) const {
  for (const Root& root : roots_) {
    if (!root.present || root.real_dir.empty()) continue;
    if (IsUnder(real_path, root.real_dir)) return true;
  }
  return false;
}

std::string FileSource::DocName(size_t r, const std::string& path) const {
  const Root& root = roots_[r];
  if (root.is_file) return root.base;
  return path.substr(root.dir == "/" ? 1 : root.dir.size() + 1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Source>> NewFileSource(const SourceContext& context,
                                                      const FileSourceConfig& config) {
  if (config.paths.empty()) return InvalidSourceConfig("file", context, "paths must not be empty");
  for (const std::string& path : config.paths) {
    if (path.empty()) return InvalidSourceConfig("file", context, "empty path in paths");
  }
  return std::unique_ptr<Source>(new FileSource(context, config.paths));
}

}  // namespace promconf::file
