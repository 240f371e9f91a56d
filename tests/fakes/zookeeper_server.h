#pragma once

// Runs a REAL ZooKeeper (Debian's `zookeeper` 3.8 on Java 17) for tests: one
// server with its own temp dir, its client port on a free 127.0.0.1 port and
// every four-letter command enabled. The server is an ensemble of one voter
// (standaloneEnabled=false, "Mode: leader"), not a standalone server: 3.8.0's
// standalone server listens before its database exists, and a client that
// connects in that window after a restart hits a NullPointerException that
// leaves its connection open and unanswered, so the client stalls for 2/3 of
// its session timeout. An ensemble loads the database first. Restart keeps the
// data dir (and, since sessions are persisted, clients' sessions);
// Pause/Resume freeze the JVM (SIGSTOP/SIGCONT: a stalled server that sends no
// FIN). The JVM is killed on destruction and dies with the thread that
// started it (PR_SET_PDEATHSIG fires when the forking *thread* exits, so call
// Start and Restart from a thread that outlives the fixture, e.g. the test's).
//
// Writes go through the fixture's own session (libzookeeper-mt, synchronous
// calls) that rides out restarts and pauses; ExpireSession kills another
// client's session the way Curator's KillSession does. Thread-safe.

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

namespace promconf {

class ZookeeperServer {
 public:
  struct Options {
    // tickTime; sessions may be 4*tick .. 600*tick (min/maxSessionTimeout),
    // and expired sessions are reaped on tick boundaries.
    int tick_time_ms = 100;
  };

  static absl::StatusOr<std::unique_ptr<ZookeeperServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<ZookeeperServer>> Start() { return Start(Options()); }
  // SIGCONT then SIGKILL the JVM; removes the temp dir.
  ~ZookeeperServer();
  ZookeeperServer(const ZookeeperServer&) = delete;
  ZookeeperServer& operator=(const ZookeeperServer&) = delete;

  // "127.0.0.1:PORT": the connect string for zookeeper_init.
  std::string address() const;
  pid_t pid() const;
  const std::string& data_dir() const { return data_dir_; }
  // The server's stdout/stderr (for failure messages).
  std::string LogTail(size_t max_bytes = 4000) const;

  // Persistent znode at `path` with `data`, creating missing parents (empty
  // data); replaces the data when it exists.
  absl::Status Put(const std::string& path, const std::string& data);
  // Ephemeral znode owned by the fixture's writer session (gone when
  // DropEphemerals() is called or the fixture dies); parents are created
  // persistent. Replaces the data of the writer's own ephemeral at `path`;
  // AlreadyExists when `path` is anything else.
  absl::Status PutEphemeral(const std::string& path, const std::string& data);
  // Replaces the ACL of the existing znode `path` by one entry, the digest
  // identity of `user:password` with every permission (ZooKeeper's
  // DigestAuthenticationProvider: digest:user:base64(sha1(user:password))).
  // The fixture's own session cannot read it afterwards (nor Delete below it).
  absl::Status RestrictToDigest(const std::string& path, const std::string& user,
                                const std::string& password);
  // Deletes `path` and everything below it; a missing `path` is OK. "/"
  // deletes everything but the server's own /zookeeper subtree.
  absl::Status Delete(const std::string& path);
  // Closes the writer session and opens a new one; returns once the
  // server has removed every ephemeral PutEphemeral created.
  absl::Status DropEphemerals();

  // Expires another client's session the way Curator's KillSession does:
  // attaches a second handle to the session (same id and 16-byte password,
  // clientid_t::passwd) and closes it, so the server closes the session; the
  // original handle then sees ZOO_EXPIRED_SESSION_STATE when it reconnects.
  // Returns once the server no longer knows the session; NotFound when the
  // session could not be attached (already gone, or a wrong password).
  absl::Status ExpireSession(int64_t session_id, const std::string& password);

  // Sends a four-letter command ("ruok", "wchs", "wchc", "cons", "srvr",
  // "mntr", ...) over a fresh TCP connection and returns the whole reply.
  absl::StatusOr<std::string> FourLetter(const std::string& command,
                                         absl::Duration timeout = absl::Seconds(5));
  // The number of watches the server holds right now over all sessions,
  // data and children watches both (mntr's zk_watch_count; wchs's "Total
  // watches" counts data watches only).
  absl::StatusOr<int> TotalWatches();

  // SIGTERM and wait (the data dir stays), then start again on the same port
  // and wait until the server serves.
  absl::Status Restart();
  // SIGSTOP / SIGCONT.
  void Pause();
  void Resume();

 private:
  class Session;  // one zhandle_t and the state its watcher saw

  explicit ZookeeperServer(Options options);
  absl::Status WriteConfig();
  absl::Status Launch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WaitServing() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void KillLocked(int sig) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Runs one synchronous call on the writer session and returns its ZooKeeper
  // result code, riding out connection loss (retried until the deadline)
  // and a lost session (a new one is opened). Errors only for the writer
  // itself: no connection by the deadline.
  template <typename Op>
  absl::StatusOr<int> CallLocked(const char* what, const std::string& path, Op op)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OpenWriterLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CreateLocked(const std::string& path, const std::string& data, bool ephemeral)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CreateParentsLocked(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status DeleteLocked(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  std::string root_dir_, data_dir_, config_file_, log_file_;
  // Client port; the ensemble's quorum and leader-election ports.
  int port_ = 0, quorum_port_ = 0, election_port_ = 0;

  mutable absl::Mutex mu_;
  // Written under mu_; read without it so Pause/Resume never wait behind a
  // write blocked on a frozen server.
  std::atomic<pid_t> pid_{-1};
  std::unique_ptr<Session> writer_ ABSL_GUARDED_BY(mu_);
  // The ephemerals PutEphemeral created in the current writer session, so
  // DropEphemerals can wait for the server to remove them.
  std::vector<std::string> ephemerals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace promconf
