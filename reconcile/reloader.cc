#include "reconcile/reloader.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "util/log.h"

extern char** environ;

namespace promconf {

namespace {

constexpr size_t kMaxLoggedBody = 1024;
constexpr size_t kMaxCapturedOutput = 64 << 10;

std::string Truncate(absl::string_view s, size_t max) {
  s = absl::StripAsciiWhitespace(s);
  if (s.size() <= max) return std::string(s);
  return absl::StrCat(s.substr(0, max), "...");
}

std::string ErrnoText(int err) { return std::strerror(err); }

}  // namespace

absl::StatusOr<int> ParseSignal(const std::string& name) {
  static const std::pair<const char*, int> kSignals[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT},
  };
  int number = 0;
  if (absl::SimpleAtoi(name, &number)) {
    if (number > 0 && number < NSIG) return number;
  } else {
    std::string upper = absl::AsciiStrToUpper(name);
    absl::string_view bare = upper;
    absl::ConsumePrefix(&bare, "SIG");
    for (const auto& [n, sig] : kSignals) {
      if (bare == n) return sig;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("reload.signal: unknown signal \"", name, "\" (want e.g. SIGHUP)"));
}

absl::StatusOr<std::unique_ptr<Reloader>> Reloader::Create(ReloaderOptions options, Clock* clock,
                                                           Metrics* metrics) {
  const int methods =
      !options.url.empty() + !options.signal.empty() + !options.command.empty();
  if (methods > 1) {
    return absl::InvalidArgumentError("reload: set at most one of url, signal, command");
  }
  if (!options.url.empty() && !absl::StartsWith(options.url, "http://") &&
      !absl::StartsWith(options.url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("reload.url: \"", options.url, "\" is not an http(s) URL"));
  }
  int signal = 0;
  if (!options.signal.empty()) {
    if (options.pid_file.empty()) {
      return absl::InvalidArgumentError("reload.signal needs reload.pid_file (whom to signal)");
    }
    absl::StatusOr<int> parsed = ParseSignal(options.signal);
    if (!parsed.ok()) return parsed.status();
    signal = *parsed;
  }
  if (!options.command.empty() && options.command[0].empty()) {
    return absl::InvalidArgumentError("reload.command: the program name is empty");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("reload.timeout must be positive");
  }
  if (options.min_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("reload.min_interval must not be negative");
  }
  std::unique_ptr<Reloader> r(new Reloader(std::move(options), clock, metrics));
  r->signal_ = signal;
  return r;
}

namespace {

// Unavailable (retry) with `cause`'s payloads: --once tells "nothing
// listening" (IsNothingListening) from other failures by them.
absl::Status UnavailableKeepingPayloads(absl::string_view message, const absl::Status& cause) {
  absl::Status status = absl::UnavailableError(message);
  cause.ForEachPayload([&status](absl::string_view type, const absl::Cord& payload) {
    status.SetPayload(type, payload);
  });
  return status;
}

}  // namespace

Reloader::Reloader(ReloaderOptions options, Clock* clock, Metrics* metrics)
    : options_(std::move(options)), clock_(clock), metrics_(metrics), http_(options_.tls) {}

bool Reloader::enabled() const {
  return !options_.url.empty() || !options_.signal.empty() || !options_.command.empty();
}

runtime::ReconcileResult Reloader::Reconcile(const std::string& key) {
  if (key != kKey) {
    return {absl::InvalidArgumentError(
                absl::StrCat("reloader: unexpected key \"", key, "\" (want \"", kKey, "\")")),
            std::nullopt};
  }
  if (!enabled()) return {absl::OkStatus(), std::nullopt};
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  const absl::Duration since = now - last_attempt_;
  const absl::Duration interval = IntervalLocked();
  if (since < interval) {
    // Changes arriving until then coalesce into this one requeued key.
    return {absl::OkStatus(), interval - since};
  }
  last_attempt_ = now;
  return {ReloadLocked(), std::nullopt};
}

absl::Status Reloader::ReloadOnce() {
  if (!enabled()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  last_attempt_ = clock_->Now();
  return ReloadLocked();
}

absl::Duration Reloader::IntervalLocked() const {
  if (consecutive_failures_ == 0) return options_.min_interval;
  constexpr absl::Duration kMaxBackoff = absl::Minutes(2);
  absl::Duration backoff = absl::Seconds(1);
  for (int i = 1; i < consecutive_failures_ && backoff < kMaxBackoff; ++i) backoff *= 2;
  return std::max(options_.min_interval, std::min(backoff, kMaxBackoff));
}

absl::Status Reloader::ReloadLocked() {
  const absl::Time start = absl::Now();
  absl::Status status;
  const char* method = "url";
  if (!options_.url.empty()) {
    status = ReloadViaUrl();
  } else if (!options_.signal.empty()) {
    method = "signal";
    status = ReloadViaSignal();
  } else {
    method = "command";
    status = ReloadViaCommand();
  }
  if (status.ok()) {
    consecutive_failures_ = 0;
    if (metrics_ != nullptr) metrics_->ReloadSucceeded(clock_->Now());
    LOG_INFO("reloaded Prometheus", {{"method", method}, {"took", absl::FormatDuration(absl::Now() - start)}});
    return status;
  }
  ++consecutive_failures_;
  if (metrics_ != nullptr) metrics_->ReloadFailed();
  LOG_WARN("reload failed; will retry with backoff",
           {{"method", method},
            {"consecutive_failures", consecutive_failures_},
            {"error", std::string(status.message())}});
  return UnavailableKeepingPayloads(status.message(), status);
}

absl::Status Reloader::ReloadViaUrl() {
  HttpRequest req;
  req.method = "POST";
  req.url = options_.url;
  req.timeout = options_.timeout;
  req.connect_timeout = std::min(options_.timeout, absl::Seconds(10));
  absl::StatusOr<HttpResponse> resp = http_.Do(req);
  if (!resp.ok()) {
    return UnavailableKeepingPayloads(absl::StrCat("reload: ", resp.status().message()),
                                      resp.status());
  }
  if (resp->status >= 200 && resp->status < 300) return absl::OkStatus();
  std::string hint;
  if (resp->status == 403) hint = " (is Prometheus running with --web.enable-lifecycle?)";
  return absl::UnavailableError(absl::StrCat("reload: POST ", options_.url, ": HTTP ",
                                             resp->status, hint, ": ",
                                             Truncate(resp->body, kMaxLoggedBody)));
}

absl::Status Reloader::ReloadViaSignal() {
  std::ifstream in(options_.pid_file);
  if (!in) {
    return absl::UnavailableError(
        absl::StrCat("reload: cannot read pid file ", options_.pid_file));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(ss.str()), &pid) || pid <= 0) {
    return absl::UnavailableError(absl::StrCat("reload: pid file ", options_.pid_file,
                                               " holds no pid: \"",
                                               Truncate(ss.str(), 64), "\""));
  }
  if (kill(static_cast<pid_t>(pid), signal_) != 0) {
    const int err = errno;
    return absl::UnavailableError(absl::StrCat("reload: signal ", options_.signal, " to pid ",
                                               pid, " (from ", options_.pid_file,
                                               "): ", ErrnoText(err)));
  }
  return absl::OkStatus();
}

absl::Status Reloader::ReloadViaCommand() {
  const std::string what = absl::StrCat("reload: command [", absl::StrJoin(options_.command, " "), "]");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat(what, ": pipe: ", ErrnoText(errno)));
  }
  std::vector<char*> argv;
  for (const std::string& a : options_.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group: a timeout kills whatever it started, too.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return absl::UnavailableError(absl::StrCat(what, ": ", ErrnoText(rc)));
  }

  // A child runs on real time, whatever clock drives the queue.
  const absl::Time deadline = absl::Now() + options_.timeout;
  std::string output;
  bool timed_out = false;
  for (bool eof = false; !eof;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 100)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    char buf[4096];
    const ssize_t got = read(fds[0], buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      eof = true;
    } else if (output.size() < kMaxCapturedOutput) {
      output.append(buf, static_cast<size_t>(got));
    }
  }
  close(fds[0]);
  int wstatus = 0;
  while (!timed_out) {
    const pid_t r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat(what, ": waitpid: ", ErrnoText(errno)));
    }
    if (absl::Now() >= deadline) {
      timed_out = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    return absl::UnavailableError(absl::StrCat(what, ": timed out after ",
                                               absl::FormatDuration(options_.timeout),
                                               "; killed. Output: ",
                                               Truncate(output, kMaxLoggedBody)));
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return absl::OkStatus();
  const std::string how = WIFEXITED(wstatus)
                              ? absl::StrCat("exited with status ", WEXITSTATUS(wstatus))
                              : absl::StrCat("killed by signal ", WTERMSIG(wstatus));
  return absl::UnavailableError(
      absl::StrCat(what, ": ", how, ": ", Truncate(output, kMaxLoggedBody)));
}

}  // namespace promconf
