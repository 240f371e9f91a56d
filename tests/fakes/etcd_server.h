#pragma once

// Runs a REAL etcd (Debian's `etcd` binary) for tests: its own temp data dir,
// client and peer listeners on free 127.0.0.1 ports, optional TLS (client
// certificates required) and auth. Stop/Kill/Restart keep the data dir (or
// wipe it: a server "restored" to an empty state); Pause/Resume freeze the
// process (SIGSTOP/SIGCONT: a stalled peer that sends no FIN). The process is
// killed on destruction and dies with the test (PR_SET_PDEATHSIG).
//
// Writes go through etcd's JSON gateway (fast enough for thousands of puts);
// admin commands through `etcdctl`. Thread-safe.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "util/http_client.h"

namespace promconf {

class EtcdServer {
 public:
  struct Options {
    // TLS on the client listener with these PEM files; client certificates
    // signed by ca_file are then required.
    std::string ca_file, cert_file, key_file;
    // The client certificate etcdctl and the writer use when TLS is on.
    std::string client_cert_file, client_key_file;
    // etcd's --experimental-watch-progress-notify-interval (10m by default).
    std::string progress_notify_interval = "1s";
    // --auth-token-ttl for simple tokens (seconds).
    int auth_token_ttl_seconds = 300;
  };

  static absl::StatusOr<std::unique_ptr<EtcdServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<EtcdServer>> Start() { return Start(Options()); }
  ~EtcdServer();

  // "http://127.0.0.1:PORT" or "https://...".
  std::string endpoint() const;
  pid_t pid() const;
  const std::string& data_dir() const { return data_dir_; }

  // After `etcdctl user add root` + `auth enable`: writes and etcdctl use
  // these credentials.
  void SetCredentials(const std::string& user, const std::string& password);

  absl::Status Put(const std::string& key, const std::string& value);
  absl::Status Delete(const std::string& key);
  // Physical compaction at `revision` (history below it is gone).
  absl::Status Compact(int64_t revision);
  // The store's current revision.
  absl::StatusOr<int64_t> Revision();
  // key -> value for every key under `prefix`.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> List(const std::string& prefix);

  // Runs etcdctl against this server (endpoint, TLS and credentials filled
  // in); returns its stdout, or an error with its stderr.
  absl::StatusOr<std::string> Etcdctl(const std::vector<std::string>& args);

  // SIGTERM and wait / SIGKILL and wait. The data dir stays.
  absl::Status Stop();
  void Kill();
  // Starts again on the same ports; `wipe` deletes the data dir first (the
  // server comes back at revision 1).
  absl::Status Restart(bool wipe = false);
  // SIGSTOP / SIGCONT.
  void Pause();
  void Resume();

 private:
  explicit EtcdServer(Options options);
  absl::Status Launch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WaitHealthy() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void KillLocked(int sig) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<HttpResponse> Call(const std::string& path, const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool tls() const { return !options_.cert_file.empty(); }

  const Options options_;
  std::string root_dir_, data_dir_, log_file_;
  int client_port_ = 0, peer_port_ = 0;

  mutable absl::Mutex mu_;
  // Written under mu_; read without it so Pause/Resume never wait behind a
  // write blocked on a frozen server.
  std::atomic<pid_t> pid_{-1};
  std::string user_ ABSL_GUARDED_BY(mu_), password_ ABSL_GUARDED_BY(mu_);
  std::string token_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<HttpClient> client_ ABSL_GUARDED_BY(mu_);
};

}  // namespace promconf
