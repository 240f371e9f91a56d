#include "reconcile/filesystem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace promconf {
namespace {

absl::Status ErrnoStatus(absl::string_view op, const std::string& path, int err) {
  std::string msg = absl::StrCat(op, " ", path, ": ", strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::UnavailableError(msg);
}

class PosixFilesystem : public Filesystem {
 public:
  absl::Status WriteFile(const std::string& path, absl::string_view data) override {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = write(fd, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        close(fd);
        return ErrnoStatus("write", path, err);
      }
      off += static_cast<size_t>(n);
    }
    if (close(fd) != 0) return ErrnoStatus("close", path, errno);
    return absl::OkStatus();
  }

  absl::Status SyncFile(const std::string& path) override { return SyncPath(path, O_RDONLY); }

  absl::Status SyncFilesystem(const std::string& path) override {
    return SyncPath(path, O_RDONLY | O_DIRECTORY, /*whole_filesystem=*/true);
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("rename", from, errno);
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    return SyncPath(dir, O_RDONLY | O_DIRECTORY);
  }

  absl::Status Unlink(const std::string& path) override {
    if (unlink(path.c_str()) != 0) return ErrnoStatus("unlink", path, errno);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus("opendir", dir, errno);
    std::vector<std::string> names;
    while (struct dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      // d_type saves a stat per entry; some filesystems leave it unknown.
      bool regular = e->d_type == DT_REG;
      struct stat st;
      if (e->d_type == DT_UNKNOWN) {
        regular = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
      }
      if (regular) names.push_back(std::move(name));
    }
    closedir(d);
    return names;
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        close(fd);
        return ErrnoStatus("read", path, err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
  }

  absl::Status MkDirs(const std::string& path) override {
    std::string cur;
    size_t pos = 0;
    while (pos <= path.size()) {
      size_t next = path.find('/', pos);
      if (next == std::string::npos) next = path.size();
      cur = path.substr(0, next);
      pos = next + 1;
      if (cur.empty()) continue;
      if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir", cur, errno);
    }
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
    if (!S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(path, " is not a directory"));
    return absl::OkStatus();
  }

 private:
  // fsync of `path`, or syncfs of the filesystem holding it.
  static absl::Status SyncPath(const std::string& path, int flags, bool whole_filesystem = false) {
    int fd = open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    if ((whole_filesystem ? syncfs(fd) : fsync(fd)) != 0) {
      int err = errno;
      close(fd);
      return ErrnoStatus(whole_filesystem ? "syncfs" : "fsync", path, err);
    }
    close(fd);
    return absl::OkStatus();
  }
};

}  // namespace

Filesystem* RealFilesystem() {
  static PosixFilesystem* fs = new PosixFilesystem();
  return fs;
}

}  // namespace promconf
