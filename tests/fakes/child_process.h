#pragma once

// A child process for tests (promconf itself, kubectl, promtool): its own
// process group, stdin from /dev/null, stdout and stderr to files; the whole
// group is killed on destruction, so no test leaves a process behind.

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace promconf {

class ChildProcess {
 public:
  // argv[0] is a path. `env` empty: inherit this process's environment.
  // stdout and stderr may name the same file.
  ChildProcess(const std::vector<std::string>& argv, const std::string& stdout_path,
               const std::string& stderr_path, const std::vector<std::string>& env = {});
  ~ChildProcess() { Kill(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pgid_ > 0; }
  pid_t pid() const { return pid_; }  // -1 once reaped
  void Signal(int sig) const;
  // Waits up to `timeout`; the exit code (128+signal when killed by one), or
  // -1 on timeout (the child is then killed).
  int Wait(absl::Duration timeout);
  void Kill();

  std::string out() const;
  std::string err() const;

  // Runs argv to completion within `timeout`, capturing both streams into
  // files below `dir`.
  struct Result {
    int exit_code = -1;
    std::string out, err;
  };
  static Result Run(const std::vector<std::string>& argv, const std::string& dir,
                    absl::Duration timeout = absl::Seconds(60),
                    const std::vector<std::string>& env = {});

 private:
  pid_t pid_ = -1;
  pid_t pgid_ = -1;
  int exit_code_ = -1;
  std::string out_path_, err_path_;
};

// Bounded polling for integration tests: true as soon as `done` holds.
bool PollUntil(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(30));

// Sends `sig` to `pid` (SIGCONT first: a stopped process acts on nothing but
// SIGKILL) and reaps it; SIGKILL when it is still there after `grace`.
void SignalAndReap(pid_t pid, int sig, absl::Duration grace = absl::Seconds(10));

// A port free on 127.0.0.1 right now (for processes that take a port flag).
int PickFreeLoopbackPort();

std::string ReadWholeFile(const std::string& path);

}  // namespace promconf
