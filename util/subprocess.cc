#include "util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace promconf {
namespace {

// Closes what it holds on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() { Close(); }
  void Close() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

// Reads what is there on `fd` into `out` up to `max`; false at EOF or on a
// read error.
bool Drain(int fd, size_t max, std::string* out, bool* truncated) {
  char buf[4096];
  const ssize_t got = read(fd, buf, sizeof(buf));
  if (got < 0) return errno == EINTR || errno == EAGAIN;
  if (got == 0) return false;
  const size_t room = max - std::min(max, out->size());
  const size_t keep = std::min(room, static_cast<size_t>(got));
  out->append(buf, keep);
  if (keep < static_cast<size_t>(got)) *truncated = true;
  return true;
}

int PollTimeoutMs(absl::Time deadline) {
  const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now()) + 1;
  return static_cast<int>(std::clamp<int64_t>(left, 0, 100));
}

}  // namespace

std::string SubprocessResult::Describe(absl::Duration timeout) const {
  if (timed_out) return absl::StrCat("timed out after ", absl::FormatDuration(timeout), "; killed");
  if (signal != 0) return absl::StrCat("killed by signal ", signal);
  return absl::StrCat("exited with status ", exit_code);
}

absl::StatusOr<SubprocessResult> RunSubprocess(const SubprocessOptions& options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return absl::InvalidArgumentError("subprocess: no program named");
  }
  int out_fds[2], err_fds[2] = {-1, -1};
  if (pipe2(out_fds, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat(options.argv[0], ": pipe: ", std::strerror(errno)));
  }
  Fd out_r{out_fds[0]}, out_w{out_fds[1]}, err_r, err_w;
  if (!options.merge_stderr) {
    if (pipe2(err_fds, O_CLOEXEC) != 0) {
      return absl::UnavailableError(absl::StrCat(options.argv[0], ": pipe: ", std::strerror(errno)));
    }
    err_r.fd = err_fds[0];
    err_w.fd = err_fds[1];
  }
  std::vector<char*> argv;
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, options.merge_stderr ? out_w.fd : err_w.fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group: a timeout kills whatever it started, too.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  out_w.Close();
  err_w.Close();
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat(options.argv[0], ": ", std::strerror(rc)));
  }

  SubprocessResult result;
  const absl::Time deadline = absl::Now() + options.timeout;
  // Both streams to EOF (the child, or whatever it left holding them, is
  // done writing) or the deadline.
  while (out_r.fd >= 0 || err_r.fd >= 0) {
    if (absl::Now() >= deadline) {
      result.timed_out = true;
      break;
    }
    pollfd p[2] = {{out_r.fd, POLLIN, 0}, {err_r.fd, POLLIN, 0}};  // fd -1 is skipped
    const int n = poll(p, 2, PollTimeoutMs(deadline));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (p[0].revents != 0 &&
        !Drain(out_r.fd, options.max_output_bytes, &result.out, &result.out_truncated)) {
      out_r.Close();
    }
    if (p[1].revents != 0 &&
        !Drain(err_r.fd, options.max_output_bytes, &result.err, &result.err_truncated)) {
      err_r.Close();
    }
  }
  int wstatus = 0;
  while (!result.timed_out) {
    const pid_t r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat(options.argv[0], ": waitpid: ", std::strerror(errno)));
    }
    if (absl::Now() >= deadline) {
      result.timed_out = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  if (result.timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
  }
  if (WIFEXITED(wstatus)) {
    result.exit_code = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    result.signal = WTERMSIG(wstatus);
  }
  return result;
}

}  // namespace promconf
