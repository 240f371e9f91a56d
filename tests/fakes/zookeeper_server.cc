#include "tests/fakes/zookeeper_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/sha.h>
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/fakes/child_process.h"  // PickFreeLoopbackPort
#include "util/status_macros.h"

namespace promconf {
namespace {

constexpr char kJava[] = "/usr/bin/java";
constexpr char kJarDir[] = "/usr/share/java/";
// What QuorumPeerMain needs from Debian's zookeeper package and its
// dependencies (zkServer.sh would build the same list from /etc/zookeeper).
constexpr const char* kJars[] = {
    "zookeeper.jar",
    "zookeeper-jute.jar",
    "slf4j-api.jar",
    "slf4j-simple.jar",
    "netty-handler.jar",
    "netty-common.jar",
    "netty-buffer.jar",
    "netty-transport.jar",
    "netty-codec.jar",
    "netty-resolver.jar",
    "netty-transport-native-epoll.jar",
    "netty-transport-native-unix-common.jar",
    "metrics-core.jar",
    "commons-cli.jar",
    "snappy-java.jar",
};

// Start-up to serving takes ~0.6 s here (2 cores; ~1.5 s with a cold page
// cache); a loaded CI runner with a parallel build can take many times that.
constexpr absl::Duration kStartTimeout = absl::Seconds(30);
// The writer's session outlives a Restart (sessions are persisted, and the
// client reconnects well within this) but a paused server makes its calls
// fail after 2/3 of it, so writes stay bounded.
constexpr int kWriterSessionTimeoutMs = 10000;
// How long one writer operation keeps retrying connection loss.
constexpr absl::Duration kWriteDeadline = absl::Seconds(30);
// How long to wait for a new handle to reach a connected or expired state.
constexpr absl::Duration kConnectTimeout = absl::Seconds(15);

std::string ReadTail(const std::string& path, size_t max) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

std::string ZkMessage(const char* what, const std::string& path, int rc) {
  return absl::StrCat(what, " ", path, ": ", zerror(rc), " (", rc, ")");
}

// A ZooKeeper result code as a Status of the closest kind.
absl::Status ZkError(const char* what, const std::string& path, int rc) {
  const std::string msg = ZkMessage(what, path, rc);
  if (rc == ZNONODE) return absl::NotFoundError(msg);
  if (rc == ZNODEEXISTS) return absl::AlreadyExistsError(msg);
  if (rc == ZBADARGUMENTS || rc == ZNOCHILDRENFOREPHEMERALS) {
    return absl::InvalidArgumentError(msg);
  }
  if (rc == ZNOAUTH || rc == ZAUTHFAILED) return absl::PermissionDeniedError(msg);
  if (rc == ZNOTEMPTY || rc == ZBADVERSION) return absl::FailedPreconditionError(msg);
  return absl::UnavailableError(msg);
}

std::string ChildPath(const std::string& parent, const std::string& child) {
  return parent == "/" ? "/" + child : parent + "/" + child;
}

std::string SessionHex(int64_t id) {
  return absl::StrCat("0x", absl::Hex(static_cast<uint64_t>(id)));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::StatusOr<std::string> SendFourLetter(int port, const std::string& command,
                                           absl::Duration timeout) {
  if (command.size() != 4) {
    return absl::InvalidArgumentError(absl::StrCat("not a four-letter command: ", command));
  }
  const absl::Time deadline = absl::Now() + timeout;
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  // Blocking is fine on loopback: it is refused or accepted at once (a
  // paused JVM's backlog still accepts; the reply then times out below).
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(absl::StrCat("connect 127.0.0.1:", port, ": ", strerror(errno)));
  }
  if (send(fd.get(), command.data(), command.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(command.size())) {
    return absl::UnavailableError(absl::StrCat("send ", command, ": ", strerror(errno)));
  }
  // The server writes the reply and closes the connection: read to EOF.
  std::string reply;
  char buf[4096];
  for (;;) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) {
      return absl::DeadlineExceededError(absl::StrCat(command, ": no complete reply within ",
                                                      absl::FormatDuration(timeout), " (got \"",
                                                      reply, "\")"));
    }
    pollfd p{fd.get(), POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left_ms));
    if (ready < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", strerror(errno)));
    }
    if (ready <= 0) continue;
    const ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n == 0) return reply;
    if (n < 0) {
      if (errno == EINTR) continue;
      // A reset after the reply is still a reply.
      if (!reply.empty()) return reply;
      return absl::UnavailableError(absl::StrCat("recv ", command, ": ", strerror(errno)));
    }
    reply.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

// One zhandle_t and the session state its watcher last reported. The watcher
// runs on the client's completion thread, so it only records the state and
// wakes waiters; everything else (and zookeeper_close in particular) happens
// on the caller's thread.
class ZookeeperServer::Session {
 public:
  // Opens a handle (resuming session `id` when non-null) and waits up to
  // `wait` until it is connected or its session is known to be gone.
  static absl::StatusOr<std::unique_ptr<Session>> Open(const std::string& address, int timeout_ms,
                                                       const clientid_t* id, absl::Duration wait) {
    static std::once_flag quiet;
    // The C client logs every connection step to stderr at its default
    // level; errors (refused connections while a server restarts) remain.
    std::call_once(quiet, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR); });
    std::unique_ptr<Session> s(new Session());
    s->zh_ = zookeeper_init(address.c_str(), &Session::Watch, timeout_ms, id, s.get(), 0);
    if (s->zh_ == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("zookeeper_init ", address, ": ", strerror(errno)));
    }
    absl::MutexLock lock(&s->mu_);
    s->mu_.AwaitWithTimeout(
        absl::Condition(
            +[](int* state) { return *state == ZOO_CONNECTED_STATE || IsTerminal(*state); },
            &s->state_),
        wait);
    if (s->state_ != ZOO_CONNECTED_STATE && !IsTerminal(s->state_)) {
      return absl::DeadlineExceededError(absl::StrCat("no ZooKeeper session with ", address,
                                                      " within ", absl::FormatDuration(wait)));
    }
    return s;
  }

  // Never from a watcher callback: zookeeper_close joins the client's
  // threads, the watcher's among them.
  ~Session() {
    if (zh_ != nullptr) zookeeper_close(zh_);
  }

  zhandle_t* zh() const { return zh_; }
  int64_t session_id() const { return zoo_client_id(zh_)->client_id; }
  bool connected() const {
    absl::MutexLock lock(&mu_);
    return state_ == ZOO_CONNECTED_STATE;
  }
  // The session is gone for good: the handle can never be used again.
  bool lost() const {
    absl::MutexLock lock(&mu_);
    return IsTerminal(state_);
  }

 private:
  Session() = default;

  static bool IsTerminal(int state) {
    return state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE;
  }

  static void Watch(zhandle_t*, int type, int state, const char*, void* ctx) {
    if (type != ZOO_SESSION_EVENT) return;
    Session* self = static_cast<Session*>(ctx);
    absl::MutexLock lock(&self->mu_);
    self->state_ = state;
  }

  mutable absl::Mutex mu_;
  int state_ ABSL_GUARDED_BY(mu_) = 0;
  zhandle_t* zh_ = nullptr;
};

ZookeeperServer::ZookeeperServer(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<ZookeeperServer>> ZookeeperServer::Start(Options options) {
  if (options.tick_time_ms <= 0) return absl::InvalidArgumentError("tick_time_ms must be > 0");
  std::error_code ec;
  if (!std::filesystem::exists(kJava, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(kJava, " is missing (apt-get install default-jre-headless)"));
  }
  for (const char* jar : kJars) {
    if (!std::filesystem::exists(absl::StrCat(kJarDir, jar), ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat(kJarDir, jar, " is missing (apt-get install zookeeper)"));
    }
  }
  std::unique_ptr<ZookeeperServer> s(new ZookeeperServer(std::move(options)));
  char tmpl[] = "/tmp/promconf-zk-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  s->root_dir_ = tmpl;
  s->data_dir_ = s->root_dir_ + "/data";
  s->config_file_ = s->root_dir_ + "/zoo.cfg";
  s->log_file_ = s->root_dir_ + "/zookeeper.log";
  absl::MutexLock lock(&s->mu_);
  // A free port can be taken between probing and the JVM binding it (other
  // tests run in parallel): try a few.
  for (int attempt = 0;; ++attempt) {
    s->port_ = PickFreeLoopbackPort();
    s->quorum_port_ = PickFreeLoopbackPort();
    s->election_port_ = PickFreeLoopbackPort();
    if (s->port_ == 0 || s->quorum_port_ == 0 || s->election_port_ == 0) {
      return absl::InternalError("no free port");
    }
    RETURN_IF_ERROR(s->WriteConfig());
    absl::Status st = s->Launch();
    if (st.ok()) break;
    s->KillLocked(SIGKILL);  // one that bound nothing may still be running
    if (attempt < 3 &&
        absl::StrContains(absl::AsciiStrToLower(st.message()), "address already in use")) {
      continue;
    }
    return st;
  }
  RETURN_IF_ERROR(s->OpenWriterLocked());
  return s;
}

ZookeeperServer::~ZookeeperServer() {
  {
    absl::MutexLock lock(&mu_);
    // A paused server would leave the writer's close unanswered.
    if (pid_.load() > 0) kill(pid_.load(), SIGCONT);
    // Close the writer while the server still answers: closing a handle
    // whose server just vanished can wait for a reply that never comes.
    writer_.reset();
    KillLocked(SIGKILL);
  }
  std::error_code ec;
  if (!root_dir_.empty()) std::filesystem::remove_all(root_dir_, ec);
}

std::string ZookeeperServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

pid_t ZookeeperServer::pid() const { return pid_.load(); }

std::string ZookeeperServer::LogTail(size_t max_bytes) const {
  return ReadTail(log_file_, max_bytes);
}

absl::Status ZookeeperServer::WriteConfig() {
  std::error_code ec;
  std::filesystem::create_directories(data_dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir ", data_dir_, ": ", ec.message()));
  {
    // This server's id in the ensemble (server.1 below).
    std::ofstream myid(data_dir_ + "/myid");
    myid << "1\n";
    if (!myid) return absl::InternalError("cannot write myid");
  }
  const int tick = options_.tick_time_ms;
  std::ofstream out(config_file_);
  out << "tickTime=" << tick << "\n"
      << "dataDir=" << data_dir_ << "\n"
      << "clientPort=" << port_ << "\n"
      << "clientPortAddress=127.0.0.1\n"
      // Explicit, so a test knows which session timeouts it may ask for.
      << "minSessionTimeout=" << 4 * tick << "\n"
      << "maxSessionTimeout=" << 600 * tick
      << "\n"
      // Every test client connects from 127.0.0.1; the default caps that
      // at 60 connections.
      << "maxClientCnxns=0\n"
      // No fsync per transaction: the log still reaches the page cache, so
      // data survives the JVM dying; only a machine crash would lose it.
      << "forceSync=no\n"
      // The admin server would take port 8080.
      << "admin.enableServer=false\n"
      << "4lw.commands.whitelist=*\n"
      // An ensemble of one (see the header for why not standalone). The
      // limits only matter for followers, of which there are none.
      << "standaloneEnabled=false\n"
      << "reconfigEnabled=false\n"
      << "initLimit=10\n"
      << "syncLimit=5\n"
      << "server.1=127.0.0.1:" << quorum_port_ << ":" << election_port_ << "\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", config_file_));
  return absl::OkStatus();
}

absl::Status ZookeeperServer::Launch() {
  std::vector<std::string> jars;
  for (const char* jar : kJars) jars.push_back(absl::StrCat(kJarDir, jar));
  std::vector<std::string> args = {
      kJava,
      // A small heap, the serial collector and C1 only: the server holds a
      // few znodes, and the JVM starts faster and ~10% smaller.
      "-Xmx64m",
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      // No /tmp/hsperfdata_<user>/<pid> left behind by a SIGKILLed JVM.
      "-XX:-UsePerfData",
      "-cp",
      absl::StrJoin(jars, ":"),
      "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
      "-Dzookeeper.admin.enableServer=false",
      "org.apache.zookeeper.server.quorum.QuorumPeerMain",
      config_file_,
  };
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  // Only async-signal-safe calls between fork and exec: the test (and the
  // writer's client threads) may be running other threads.
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the test died before prctl
    // Tests block or ignore signals for their own reasons; a JVM that
    // inherited an ignored SIGTERM would not install its shutdown handler.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0) {
      dup2(in, 0);
      close(in);
    }
    int fd = open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(kJava, argv.data());
    _exit(127);
  }
  // Also from the parent, so the group exists whichever runs first.
  setpgid(pid, pid);
  pid_ = pid;
  return WaitServing();
}

absl::Status ZookeeperServer::WaitServing() {
  const absl::Time deadline = absl::Now() + kStartTimeout;
  // A serving server answers at once; the timeout only grows so that a
  // badly overloaded machine still gets there.
  absl::Duration attempt_timeout = absl::Milliseconds(250);
  std::string last = "no reply";
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("ZooKeeper exited during start-up (status ", status,
                                              "); log tail:\n", LogTail(2000)));
    }
    // "ruok" answers "imok" as soon as the port is open; "srvr" says
    // whether the server behind it serves requests yet (until it leads, it
    // answers "This ZooKeeper instance is not currently serving requests").
    absl::StatusOr<std::string> srvr = SendFourLetter(port_, "srvr", attempt_timeout);
    if (srvr.ok() && absl::StrContains(*srvr, "Mode: ")) {
      absl::StatusOr<std::string> ruok = SendFourLetter(port_, "ruok", attempt_timeout);
      if (ruok.ok() && *ruok == "imok") return absl::OkStatus();
      last = ruok.ok() ? *ruok : ruok.status().ToString();
    } else {
      last = srvr.ok() ? *srvr : srvr.status().ToString();
      if (absl::IsDeadlineExceeded(srvr.status())) {
        attempt_timeout = std::min(2 * attempt_timeout, absl::Seconds(2));
      }
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("ZooKeeper not serving on ", address(),
                                                  " within ", absl::FormatDuration(kStartTimeout),
                                                  ": ", last, "\nlog tail:\n", LogTail(2000)));
}

void ZookeeperServer::KillLocked(int sig) {
  // Bounded: SIGTERM gets 10 s before SIGKILL.
  SignalAndReap(pid_.load(), sig);
  pid_ = -1;
}

absl::Status ZookeeperServer::Restart() {
  absl::MutexLock lock(&mu_);
  KillLocked(SIGTERM);
  // The writer keeps its handle: it reconnects by itself, and its session
  // (persisted with the data) is still valid on the restarted server.
  return Launch();
}

void ZookeeperServer::Pause() {
  const pid_t pid = pid_.load();
  if (pid > 0) kill(pid, SIGSTOP);
}

void ZookeeperServer::Resume() {
  const pid_t pid = pid_.load();
  if (pid > 0) kill(pid, SIGCONT);
}

absl::StatusOr<std::string> ZookeeperServer::FourLetter(const std::string& command,
                                                        absl::Duration timeout) {
  return SendFourLetter(port_, command, timeout);
}

absl::StatusOr<int> ZookeeperServer::TotalWatches() {
  // mntr's zk_watch_count is data plus children watches; wchs counts only
  // data (and exists) watches.
  ASSIGN_OR_RETURN(std::string reply, FourLetter("mntr"));
  for (absl::string_view line : absl::StrSplit(reply, '\n')) {
    int n = 0;
    if (absl::ConsumePrefix(&line, "zk_watch_count") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &n)) {
      return n;
    }
  }
  return absl::UnavailableError(absl::StrCat("mntr: no zk_watch_count in \"", reply, "\""));
}

absl::Status ZookeeperServer::OpenWriterLocked() {
  // The old session's ephemerals go with it (now, or when it expires).
  writer_.reset();
  ephemerals_.clear();
  ASSIGN_OR_RETURN(std::unique_ptr<Session> s,
                   Session::Open(address(), kWriterSessionTimeoutMs, nullptr, kConnectTimeout));
  if (!s->connected()) {
    return absl::UnavailableError(absl::StrCat("writer session to ", address(), " was refused"));
  }
  writer_ = std::move(s);
  return absl::OkStatus();
}

template <typename Op>
absl::StatusOr<int> ZookeeperServer::CallLocked(const char* what, const std::string& path, Op op) {
  const absl::Time deadline = absl::Now() + kWriteDeadline;
  std::string last;
  for (;;) {
    if (absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat(what, " ", path, ": no answer within ",
                                                 absl::FormatDuration(kWriteDeadline), ": ", last));
    }
    if (writer_ == nullptr || writer_->lost()) {
      absl::Status opened = OpenWriterLocked();
      if (!opened.ok()) {
        last = opened.ToString();
        absl::SleepFor(absl::Milliseconds(50));
        continue;
      }
    }
    const int rc = op(writer_->zh());
    if (rc == ZSESSIONEXPIRED || rc == ZINVALIDSTATE || rc == ZAUTHFAILED) {
      // The session is gone (and its ephemerals with it): a fresh one.
      last = ZkMessage(what, path, rc);
      writer_.reset();
      ephemerals_.clear();
      continue;
    }
    if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT) {
      // The handle reconnects by itself (a restarting or paused server);
      // the call may or may not have been applied, which the callers
      // tolerate.
      last = ZkMessage(what, path, rc);
      absl::SleepFor(absl::Milliseconds(20));
      continue;
    }
    return rc;
  }
}

absl::Status ZookeeperServer::CreateParentsLocked(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    const std::string parent = path.substr(0, pos);
    ASSIGN_OR_RETURN(int rc, CallLocked("zoo_create", parent, [&](zhandle_t* zh) {
                       return zoo_create(zh, parent.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                                         ZOO_PERSISTENT, nullptr, 0);
                     }));
    if (rc != ZOK && rc != ZNODEEXISTS) return ZkError("zoo_create", parent, rc);
  }
  return absl::OkStatus();
}

absl::Status ZookeeperServer::CreateLocked(const std::string& path, const std::string& data,
                                           bool ephemeral) {
  const int len = static_cast<int>(data.size());
  // Each round either finishes or lost a race with a concurrent change
  // (parent or node deleted meanwhile); a few rounds settle any test.
  bool written = false;
  for (int round = 0; round < 10 && !written; ++round) {
    ASSIGN_OR_RETURN(int rc, CallLocked("zoo_create", path, [&](zhandle_t* zh) {
                       return zoo_create(zh, path.c_str(), data.data(), len, &ZOO_OPEN_ACL_UNSAFE,
                                         ephemeral ? ZOO_EPHEMERAL : ZOO_PERSISTENT, nullptr, 0);
                     }));
    if (rc == ZOK) {
      written = true;
      break;
    }
    if (rc == ZNONODE) {
      RETURN_IF_ERROR(CreateParentsLocked(path));
      continue;
    }
    if (rc != ZNODEEXISTS) return ZkError("zoo_create", path, rc);
    if (ephemeral) {
      // Only the writer's own ephemeral may be updated in place: anything
      // else would not vanish with DropEphemerals.
      Stat stat{};
      ASSIGN_OR_RETURN(rc, CallLocked("zoo_exists", path, [&](zhandle_t* zh) {
                         return zoo_exists(zh, path.c_str(), 0, &stat);
                       }));
      if (rc == ZNONODE) continue;
      if (rc != ZOK) return ZkError("zoo_exists", path, rc);
      if (stat.ephemeralOwner != writer_->session_id()) {
        return absl::AlreadyExistsError(
            absl::StrCat(path, " exists and is not an ephemeral of the writer session (owner ",
                         SessionHex(stat.ephemeralOwner), ")"));
      }
    }
    ASSIGN_OR_RETURN(rc, CallLocked("zoo_set", path, [&](zhandle_t* zh) {
                       return zoo_set(zh, path.c_str(), data.data(), len, -1);
                     }));
    written = rc == ZOK;
    if (rc != ZOK && rc != ZNONODE) return ZkError("zoo_set", path, rc);
  }
  if (!written) return absl::AbortedError(absl::StrCat(path, " keeps changing under the writer"));
  if (ephemeral && std::find(ephemerals_.begin(), ephemerals_.end(), path) == ephemerals_.end()) {
    ephemerals_.push_back(path);
  }
  return absl::OkStatus();
}

absl::Status ZookeeperServer::Put(const std::string& path, const std::string& data) {
  absl::MutexLock lock(&mu_);
  return CreateLocked(path, data, /*ephemeral=*/false);
}

absl::Status ZookeeperServer::RestrictToDigest(const std::string& path, const std::string& user,
                                               const std::string& password) {
  const std::string credential = absl::StrCat(user, ":", password);
  unsigned char sha1[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(credential.data()), credential.size(), sha1);
  std::string id = absl::StrCat(
      user, ":", absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(sha1), sizeof(sha1))));
  char scheme[] = "digest";
  ACL entry{ZOO_PERM_ALL, Id{scheme, id.data()}};
  ACL_vector acl{1, &entry};
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(int rc, CallLocked("zoo_set_acl", path, [&](zhandle_t* zh) {
                     return zoo_set_acl(zh, path.c_str(), -1, &acl);
                   }));
  if (rc != ZOK) return ZkError("zoo_set_acl", path, rc);
  return absl::OkStatus();
}

absl::Status ZookeeperServer::PutEphemeral(const std::string& path, const std::string& data) {
  absl::MutexLock lock(&mu_);
  return CreateLocked(path, data, /*ephemeral=*/true);
}

absl::Status ZookeeperServer::DeleteLocked(const std::string& path) {
  for (int round = 0; round < 10; ++round) {
    std::vector<std::string> children;
    ASSIGN_OR_RETURN(int rc, CallLocked("zoo_get_children", path, [&](zhandle_t* zh) {
                       children.clear();
                       String_vector v{};
                       const int rc = zoo_get_children(zh, path.c_str(), 0, &v);
                       if (rc == ZOK) {
                         for (int i = 0; i < v.count; ++i) children.emplace_back(v.data[i]);
                         deallocate_String_vector(&v);
                       }
                       return rc;
                     }));
    if (rc == ZNONODE) return absl::OkStatus();
    if (rc != ZOK) return ZkError("zoo_get_children", path, rc);
    for (const std::string& child : children) {
      // The server's own subtree (/zookeeper/quota, /zookeeper/config).
      if (path == "/" && child == "zookeeper") continue;
      RETURN_IF_ERROR(DeleteLocked(ChildPath(path, child)));
    }
    if (path == "/") return absl::OkStatus();
    ASSIGN_OR_RETURN(rc, CallLocked("zoo_delete", path, [&](zhandle_t* zh) {
                       return zoo_delete(zh, path.c_str(), -1);
                     }));
    if (rc == ZOK || rc == ZNONODE) return absl::OkStatus();
    // ZNOTEMPTY: a child appeared meanwhile; go again.
    if (rc != ZNOTEMPTY) return ZkError("zoo_delete", path, rc);
  }
  return absl::AbortedError(absl::StrCat("children keep appearing under ", path));
}

absl::Status ZookeeperServer::Delete(const std::string& path) {
  absl::MutexLock lock(&mu_);
  return DeleteLocked(path);
}

absl::Status ZookeeperServer::DropEphemerals() {
  absl::MutexLock lock(&mu_);
  const int64_t old_session = writer_ != nullptr ? writer_->session_id() : 0;
  const std::vector<std::string> paths = ephemerals_;
  // zookeeper_close sends closeSession but does not wait for the server to
  // apply it, hence the wait below.
  writer_.reset();
  RETURN_IF_ERROR(OpenWriterLocked());
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  for (const std::string& path : paths) {
    for (;;) {
      Stat stat{};
      ASSIGN_OR_RETURN(int rc, CallLocked("zoo_exists", path, [&](zhandle_t* zh) {
                         return zoo_exists(zh, path.c_str(), 0, &stat);
                       }));
      // Gone, or already re-created by someone else.
      if (rc == ZNONODE || (rc == ZOK && stat.ephemeralOwner != old_session)) break;
      if (rc != ZOK) return ZkError("zoo_exists", path, rc);
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat(path, " outlived the closed writer session ", SessionHex(old_session)));
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  return absl::OkStatus();
}

absl::Status ZookeeperServer::ExpireSession(int64_t session_id, const std::string& password) {
  if (password.size() != sizeof(clientid_t::passwd)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a session password has ", sizeof(clientid_t::passwd), " bytes, not ", password.size()));
  }
  clientid_t id{};
  id.client_id = session_id;
  memcpy(id.passwd, password.data(), sizeof(id.passwd));
  const std::string session = SessionHex(session_id);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  // Attaching moves the session to our connection (the server drops the
  // owner's); closing ours then closes the session for good. The owner
  // reconnects meanwhile and may win the session back before our close
  // lands, so repeat until a fresh attach is told the session is gone.
  bool attached_once = false;
  while (absl::Now() < deadline) {
    ASSIGN_OR_RETURN(std::unique_ptr<Session> attach,
                     Session::Open(address(), kWriterSessionTimeoutMs, &id,
                                   std::max(deadline - absl::Now(), absl::Seconds(1))));
    if (attach->lost()) {
      if (!attached_once) {
        return absl::NotFoundError(absl::StrCat("session ", session, " is not live on ", address(),
                                                " (or the password is wrong)"));
      }
      return absl::OkStatus();
    }
    attached_once = true;
    attach.reset();  // zookeeper_close: closeSession
  }
  return absl::DeadlineExceededError(
      absl::StrCat("session ", session, " still live after repeated closes"));
}

}  // namespace promconf
