#pragma once

// Runs a REAL Prometheus (Debian's `prometheus` binary) for tests: its own
// temp dir holding prometheus.yml, any extra files (rule files, file_sd
// targets) and the TSDB; --web.enable-lifecycle; listening on a free
// 127.0.0.1 port; Start() returns once /-/ready answers 200. The process is
// stopped on destruction and dies with the test (PR_SET_PDEATHSIG). Its log
// goes to <dir>/prometheus.log (see Log()), which failure messages quote.
//
// Relative paths in the config (rule_files, file_sd_configs) resolve against
// dir(), where prometheus.yml lives.
//
// Thread-safe. PR_SET_PDEATHSIG follows the thread that called Start(): start
// the server from a thread that outlives it (the test body, SetUp).

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "util/http_client.h"

namespace promconf {

class PrometheusServer {
 public:
  struct Options {
    // The contents of prometheus.yml. Empty: a minimal config with a 1s
    // global scrape and evaluation interval and no jobs.
    std::string config_yaml;
    // Files to write below dir() before starting: {relative path, contents}.
    std::vector<std::pair<std::string, std::string>> files;
    bool enable_lifecycle = true;
    std::vector<std::string> extra_args;
    absl::Duration ready_timeout = absl::Seconds(60);
  };

  // Whether a `prometheus` binary is on PATH (tests GTEST_SKIP otherwise).
  static bool Available();

  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(Options options);
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  // "http://127.0.0.1:PORT".
  std::string url() const;
  int port() const { return port_; }
  pid_t pid() const;
  const std::string& dir() const { return dir_; }
  std::string config_path() const { return dir_ + "/prometheus.yml"; }
  // The URL a promconf reloader should POST to.
  std::string reload_url() const { return url() + "/-/reload"; }

  // Writes dir()/relative atomically (temp file + rename, as promconf does),
  // creating parent directories.
  absl::Status WriteFile(const std::string& relative, const std::string& contents) const;
  // Replaces prometheus.yml (no reload).
  absl::Status WriteConfig(const std::string& yaml) const { return WriteFile("prometheus.yml", yaml); }

  // POST /-/reload; the response whatever its status (200, or 500 "failed to
  // reload config: ..."). Transport errors are errors.
  absl::StatusOr<HttpResponse> Reload();

  // GET url()+path_and_query. Returns the body on 200, an error naming the
  // status and body otherwise.
  absl::StatusOr<std::string> Get(const std::string& path_and_query);
  // JSON bodies of the HTTP API.
  absl::StatusOr<std::string> Rules() { return Get("/api/v1/rules"); }
  absl::StatusOr<std::string> Targets() { return Get("/api/v1/targets"); }
  absl::StatusOr<std::string> RuntimeInfo() { return Get("/api/v1/status/runtimeinfo"); }
  absl::StatusOr<std::string> Config() { return Get("/api/v1/status/config"); }
  absl::StatusOr<std::string> Query(const std::string& promql);

  // The value of the first sample of an instant query (a vector or scalar
  // result); nullopt when the result is empty.
  absl::StatusOr<std::optional<double>> QueryValue(const std::string& promql);
  // Names of the rules (recording and alerting) currently loaded.
  absl::StatusOr<std::vector<std::string>> RuleNames();
  // runtimeinfo's reloadConfigSuccess.
  absl::StatusOr<bool> LastReloadSuccessful();
  // health of every active target: {scrapeUrl, "up"|"down"|"unknown"}.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> TargetHealth();

  // Polls `done` every 100 ms until it returns true or `timeout` passes;
  // DeadlineExceeded naming `what` (and the tail of the log) otherwise.
  absl::Status WaitFor(const std::string& what, const std::function<bool()>& done,
                       absl::Duration timeout = absl::Seconds(30));

  // SIGTERM, wait up to 10 s, then SIGKILL. Idempotent.
  absl::Status Stop();
  // Stop(), then start again on the same port and dir with the same options
  // (the TSDB and files stay); returns once /-/ready answers 200.
  absl::Status Restart();
  // Sends a signal (e.g. SIGHUP: Prometheus' other reload path).
  absl::Status Signal(int sig);

  // The process's log so far (its stderr).
  std::string Log() const;

 private:
  PrometheusServer() = default;
  absl::Status Launch(const Options& options) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WaitReadyLocked(absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ExitedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::string dir_;
  int port_ = 0;
  bool keep_dir_ = false;
  Options options_;  // what Restart() launches with

  mutable absl::Mutex mu_;
  pid_t pid_ ABSL_GUARDED_BY(mu_) = -1;
  HttpClient http_ ABSL_GUARDED_BY(mu_);
};

}  // namespace promconf
