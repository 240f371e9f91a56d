#include "tests/fakes/etcd_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "informers/etcd/etcd_protocol.h"
#include "tests/fakes/child_process.h"  // PickFreeLoopbackPort
#include "util/json.h"
#include "util/status_macros.h"

namespace promconf {
namespace {

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  out += "'";
  return out;
}

std::string ReadTail(const std::string& path, size_t max) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

}  // namespace

EtcdServer::EtcdServer(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<EtcdServer>> EtcdServer::Start(Options options) {
  std::unique_ptr<EtcdServer> s(new EtcdServer(std::move(options)));
  char tmpl[] = "/tmp/promconf-etcd-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  s->root_dir_ = tmpl;
  s->data_dir_ = s->root_dir_ + "/data";
  s->log_file_ = s->root_dir_ + "/etcd.log";
  absl::MutexLock lock(&s->mu_);
  TlsOptions tls;
  tls.ca_file = s->options_.ca_file;
  tls.cert_file = s->options_.client_cert_file;
  tls.key_file = s->options_.client_key_file;
  s->client_ = std::make_unique<HttpClient>(tls);
  // A free port can be taken between probing and etcd binding it (other
  // tests run in parallel): try a few.
  for (int attempt = 0;; ++attempt) {
    s->client_port_ = PickFreeLoopbackPort();
    s->peer_port_ = PickFreeLoopbackPort();
    if (s->client_port_ == 0 || s->peer_port_ == 0) return absl::InternalError("no free port");
    absl::Status st = s->Launch();
    if (st.ok()) break;
    if (attempt < 3 && absl::StrContains(st.message(), "address already in use")) continue;
    return st;
  }
  return s;
}

EtcdServer::~EtcdServer() {
  {
    absl::MutexLock lock(&mu_);
    if (pid_.load() > 0) kill(pid_.load(), SIGCONT);
    KillLocked(SIGKILL);
  }
  std::error_code ec;
  if (!root_dir_.empty()) std::filesystem::remove_all(root_dir_, ec);
}

std::string EtcdServer::endpoint() const {
  return absl::StrCat(tls() ? "https" : "http", "://127.0.0.1:", client_port_);
}

pid_t EtcdServer::pid() const { return pid_.load(); }

absl::Status EtcdServer::Launch() {
  const std::string client_url = endpoint();
  const std::string peer_url = absl::StrCat("http://127.0.0.1:", peer_port_);
  std::vector<std::string> args = {
      "etcd",
      "--name", "default",
      "--data-dir", data_dir_,
      "--listen-client-urls", client_url,
      "--advertise-client-urls", client_url,
      "--listen-peer-urls", peer_url,
      "--initial-advertise-peer-urls", peer_url,
      "--initial-cluster", absl::StrCat("default=", peer_url),
      "--experimental-watch-progress-notify-interval", options_.progress_notify_interval,
      "--auth-token", absl::StrCat("simple"),
      "--auth-token-ttl", absl::StrCat(options_.auth_token_ttl_seconds),
      "--log-level", "warn",
  };
  if (tls()) {
    args.insert(args.end(), {"--cert-file", options_.cert_file, "--key-file", options_.key_file,
                             "--trusted-ca-file", options_.ca_file, "--client-cert-auth"});
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execvp("etcd", argv.data());
    _exit(127);
  }
  pid_ = pid;
  return WaitHealthy();
}

absl::Status EtcdServer::WaitHealthy() {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::string last;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(
          absl::StrCat("etcd exited during start-up; log tail:\n", ReadTail(log_file_, 2000)));
    }
    HttpRequest req;
    req.url = endpoint() + "/health";
    req.timeout = absl::Seconds(2);
    auto resp = client_->Do(req);
    if (resp.ok() && resp->status == 200 && absl::StrContains(resp->body, "true")) {
      return absl::OkStatus();
    }
    last = resp.ok() ? resp->body : resp.status().ToString();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("etcd not healthy within 30s: ", last,
                                                  "\nlog tail:\n", ReadTail(log_file_, 2000)));
}

void EtcdServer::KillLocked(int sig) {
  // Bounded: SIGTERM gets 10 s before SIGKILL.
  SignalAndReap(pid_.load(), sig);
  pid_ = -1;
}

absl::Status EtcdServer::Stop() {
  absl::MutexLock lock(&mu_);
  KillLocked(SIGTERM);
  return absl::OkStatus();
}

void EtcdServer::Kill() {
  absl::MutexLock lock(&mu_);
  KillLocked(SIGKILL);
}

absl::Status EtcdServer::Restart(bool wipe) {
  absl::MutexLock lock(&mu_);
  KillLocked(SIGTERM);
  if (wipe) {
    std::error_code ec;
    std::filesystem::remove_all(data_dir_, ec);
    user_.clear();
    password_.clear();
  }
  token_.clear();
  return Launch();
}

void EtcdServer::Pause() {
  const pid_t pid = pid_.load();
  if (pid > 0) kill(pid, SIGSTOP);
}

void EtcdServer::Resume() {
  const pid_t pid = pid_.load();
  if (pid > 0) kill(pid, SIGCONT);
}

void EtcdServer::SetCredentials(const std::string& user, const std::string& password) {
  absl::MutexLock lock(&mu_);
  user_ = user;
  password_ = password;
  token_.clear();
}

absl::StatusOr<HttpResponse> EtcdServer::Call(const std::string& path, const std::string& body) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!user_.empty() && token_.empty()) {
      HttpRequest auth;
      auth.method = "POST";
      auth.url = endpoint() + "/v3/auth/authenticate";
      auth.body = etcd::EtcdAuthRequestBody(user_, password_);
      ASSIGN_OR_RETURN(HttpResponse a, client_->Do(auth));
      if (a.status != 200) return absl::UnavailableError("authenticate: " + a.body);
      ASSIGN_OR_RETURN(token_, etcd::ParseEtcdAuthResponse(a.body));
    }
    HttpRequest req;
    req.method = "POST";
    req.url = endpoint() + path;
    req.body = body;
    req.timeout = absl::Seconds(20);
    if (!token_.empty()) req.headers.emplace_back("Authorization", token_);
    ASSIGN_OR_RETURN(HttpResponse resp, client_->Do(req));
    if (resp.status != 200 && absl::StrContains(resp.body, "token") && attempt == 0) {
      token_.clear();
      continue;
    }
    if (resp.status != 200) {
      return absl::UnavailableError(absl::StrCat(path, ": HTTP ", resp.status, " ", resp.body));
    }
    return resp;
  }
  return absl::UnavailableError(path + ": auth retry failed");
}

absl::Status EtcdServer::Put(const std::string& key, const std::string& value) {
  absl::MutexLock lock(&mu_);
  return Call("/v3/kv/put", absl::StrCat("{\"key\":", JsonString(etcd::EtcdBase64Encode(key)),
                                         ",\"value\":", JsonString(etcd::EtcdBase64Encode(value)), "}"))
      .status();
}

absl::Status EtcdServer::Delete(const std::string& key) {
  absl::MutexLock lock(&mu_);
  return Call("/v3/kv/deleterange", absl::StrCat("{\"key\":", JsonString(etcd::EtcdBase64Encode(key)), "}"))
      .status();
}

absl::Status EtcdServer::Compact(int64_t revision) {
  absl::MutexLock lock(&mu_);
  return Call("/v3/kv/compaction", absl::StrCat("{\"revision\":", revision, ",\"physical\":true}"))
      .status();
}

absl::StatusOr<int64_t> EtcdServer::Revision() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(HttpResponse resp, Call("/v3/kv/range", etcd::EtcdRangeRequestBody("\x01", "", 1, 0)));
  ASSIGN_OR_RETURN(etcd::EtcdRangeResponse r, etcd::ParseEtcdRangeResponse(resp.body));
  return r.header_revision;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> EtcdServer::List(
    const std::string& prefix) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(HttpResponse resp,
                   Call("/v3/kv/range", etcd::EtcdRangeRequestBody(prefix, etcd::EtcdPrefixRangeEnd(prefix), 0, 0)));
  ASSIGN_OR_RETURN(etcd::EtcdRangeResponse r, etcd::ParseEtcdRangeResponse(resp.body));
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& kv : r.kvs) out.emplace_back(kv.key, kv.value);
  return out;
}

absl::StatusOr<std::string> EtcdServer::Etcdctl(const std::vector<std::string>& args) {
  std::string cmd = absl::StrCat("ETCDCTL_API=3 etcdctl --command-timeout=20s --endpoints=",
                                 ShellQuote(endpoint()));
  {
    absl::MutexLock lock(&mu_);
    if (!user_.empty()) absl::StrAppend(&cmd, " --user=", ShellQuote(user_ + ":" + password_));
  }
  if (tls()) {
    absl::StrAppend(&cmd, " --cacert=", ShellQuote(options_.ca_file),
                    " --cert=", ShellQuote(options_.client_cert_file),
                    " --key=", ShellQuote(options_.client_key_file));
  }
  for (const std::string& a : args) absl::StrAppend(&cmd, " ", ShellQuote(a));
  const std::string err_file = root_dir_ + "/etcdctl.err";
  absl::StrAppend(&cmd, " 2>", ShellQuote(err_file));
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return absl::InternalError("popen etcdctl failed");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("etcdctl ", absl::StrJoin(args, " "),
                                               " failed: ", ReadTail(err_file, 2000)));
  }
  return out;
}

}  // namespace promconf
