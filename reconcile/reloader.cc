#include "reconcile/reloader.h"

#include <signal.h>

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
#include "util/subprocess.h"

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
  SubprocessOptions run;
  run.argv = options_.command;
  run.timeout = options_.timeout;
  run.max_output_bytes = kMaxCapturedOutput;
  run.merge_stderr = true;
  absl::StatusOr<SubprocessResult> result = RunSubprocess(run);
  if (!result.ok()) return absl::UnavailableError(absl::StrCat(what, ": ", result.status().message()));
  if (result->success()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", result->Describe(options_.timeout),
                                             result->timed_out ? ". Output: " : ": ",
                                             Truncate(result->out, kMaxLoggedBody)));
}

}  // namespace promconf
