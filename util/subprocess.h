#pragma once

// Running a program to completion: argv only (no shell, so no quoting
// rules and no injection through a tenant's string), stdin from /dev/null,
// stdout and stderr captured up to a bound, a deadline after which the
// child and everything it started (its own process group) are killed.
// Used for the reload command and promtool.
//
// Thread-safe: each call owns its child and pipes (all opened O_CLOEXEC, so
// a child spawned on another thread inherits none of them).

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace promconf {

struct SubprocessOptions {
  // argv[0] without a '/' is looked up in $PATH.
  std::vector<std::string> argv;
  // Real time, whatever clock drives the caller: a child does not run on a
  // fake one.
  absl::Duration timeout = absl::Seconds(30);
  // Per stream; bytes past it are read (so the child never blocks on a full
  // pipe) and dropped, and `*_truncated` is set.
  size_t max_output_bytes = 64 << 10;
  // stderr into the stdout pipe, interleaved as the child writes them.
  bool merge_stderr = false;
};

struct SubprocessResult {
  bool timed_out = false;  // killed at the deadline (exit_code/signal then say how it died)
  int exit_code = -1;      // when it exited
  int signal = 0;          // when a signal ended it
  std::string out, err;    // err stays empty with merge_stderr
  bool out_truncated = false, err_truncated = false;

  bool success() const { return !timed_out && exit_code == 0; }
  // "exited with status 3", "killed by signal 9", "timed out after 2s".
  std::string Describe(absl::Duration timeout) const;
};

// Unavailable when the child could not be started (no such program, not
// executable, out of pipes); otherwise whatever the child did, in the result.
absl::StatusOr<SubprocessResult> RunSubprocess(const SubprocessOptions& options);

}  // namespace promconf
