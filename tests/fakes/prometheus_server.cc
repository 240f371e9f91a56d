#include "tests/fakes/prometheus_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "rapidjson/document.h"

namespace promconf {

namespace {

constexpr char kDefaultConfig[] =
    "global:\n"
    "  scrape_interval: 1s\n"
    "  evaluation_interval: 1s\n";

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

std::string Tail(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return absl::StrCat("...", absl::string_view(s).substr(s.size() - n));
}

absl::StatusOr<rapidjson::Document> ParseApi(const std::string& body, const std::string& what) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("data")) {
    return absl::InternalError(absl::StrCat(what, ": unexpected body: ", Tail(body, 500)));
  }
  return doc;
}

double JsonNumberOrString(const rapidjson::Value& v) {
  if (v.IsNumber()) return v.GetDouble();
  double d = 0;
  if (v.IsString() && absl::SimpleAtod(v.GetString(), &d)) return d;
  // Prometheus renders special values as strings ("+Inf", "NaN").
  if (v.IsString()) return std::strtod(v.GetString(), nullptr);
  return 0;
}

}  // namespace

bool PrometheusServer::Available() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    const std::string candidate = absl::StrCat(dir, "/prometheus");
    if (access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(Options options) {
  std::unique_ptr<PrometheusServer> s(new PrometheusServer());
  char tmpl[] = "/tmp/promconf-prometheus-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  s->dir_ = tmpl;
  s->keep_dir_ = std::getenv("PROMCONF_KEEP_TEST_DIRS") != nullptr;
  if (options.config_yaml.empty()) options.config_yaml = kDefaultConfig;
  absl::Status st = s->WriteConfig(options.config_yaml);
  for (const auto& [path, contents] : options.files) {
    if (st.ok()) st = s->WriteFile(path, contents);
  }
  if (!st.ok()) return st;

  absl::MutexLock lock(&s->mu_);
  // A free port can be taken between probing and Prometheus binding it:
  // try a few.
  for (int attempt = 0;; ++attempt) {
    s->port_ = FreePort();
    if (s->port_ <= 0) return absl::InternalError("no free port");
    st = s->Launch(options);
    if (st.ok()) break;
    if (attempt < 3 && absl::StrContains(s->Log(), "address already in use")) continue;
    return st;
  }

  st = s->WaitReadyLocked(options.ready_timeout);
  if (!st.ok()) return st;
  s->options_ = std::move(options);
  return s;
}

absl::Status PrometheusServer::WaitReadyLocked(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (ExitedLocked()) {
      return absl::InternalError(
          absl::StrCat("prometheus exited before becoming ready; log:\n", Tail(Log(), 4000)));
    }
    HttpRequest req;
    req.url = url() + "/-/ready";
    req.timeout = absl::Seconds(2);
    req.connect_timeout = absl::Seconds(1);
    absl::StatusOr<HttpResponse> r = http_.Do(req);
    if (r.ok() && r->status == 200) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("prometheus not ready after ", absl::FormatDuration(timeout),
                       "; log:\n", Tail(Log(), 4000)));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::Status PrometheusServer::Restart() {
  absl::Status st = Stop();
  if (!st.ok()) return st;
  absl::MutexLock lock(&mu_);
  st = Launch(options_);
  if (!st.ok()) return st;
  return WaitReadyLocked(options_.ready_timeout);
}

absl::Status PrometheusServer::Launch(const Options& options) {
  const std::string log_path = dir_ + "/prometheus.log";
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(absl::StrCat("open ", log_path, ": ", std::strerror(errno)));
  std::vector<std::string> args = {
      "prometheus",
      absl::StrCat("--config.file=", config_path()),
      absl::StrCat("--storage.tsdb.path=", dir_, "/data"),
      absl::StrCat("--web.listen-address=127.0.0.1:", port_),
      "--log.level=info",
  };
  if (options.enable_lifecycle) args.push_back("--web.enable-lifecycle");
  for (const std::string& a : options.extra_args) args.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string dir = dir_;

  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    if (chdir(dir.c_str()) != 0) _exit(126);
    execvp("prometheus", argv.data());
    _exit(127);
  }
  close(log_fd);
  pid_ = pid;
  // An early exit (port taken, bad config) shows within a moment.
  for (int i = 0; i < 10; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    if (ExitedLocked()) {
      return absl::InternalError(
          absl::StrCat("prometheus exited at start; log:\n", Tail(Log(), 4000)));
    }
  }
  return absl::OkStatus();
}

bool PrometheusServer::ExitedLocked() {
  if (pid_ <= 0) return true;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return true;
  }
  return false;
}

PrometheusServer::~PrometheusServer() {
  Stop().IgnoreError();
  if (!keep_dir_ && !dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PrometheusServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

pid_t PrometheusServer::pid() const {
  absl::MutexLock lock(&mu_);
  return pid_;
}

absl::Status PrometheusServer::WriteFile(const std::string& relative,
                                         const std::string& contents) const {
  const std::filesystem::path path = std::filesystem::path(dir_) / relative;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir ", path.parent_path().string(), ": ", ec.message()));
  // A dot name matches no rule_files / file_sd glob while half-written.
  const std::filesystem::path tmp =
      path.parent_path() / absl::StrCat(".", path.filename().string(), ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << contents;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("write ", tmp.string()));
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("rename to ", path.string(), ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> PrometheusServer::Reload() {
  absl::MutexLock lock(&mu_);
  HttpRequest req;
  req.method = "POST";
  req.url = url() + "/-/reload";
  req.timeout = absl::Seconds(60);
  return http_.Do(req);
}

absl::StatusOr<std::string> PrometheusServer::Get(const std::string& path_and_query) {
  absl::MutexLock lock(&mu_);
  HttpRequest req;
  req.url = url() + path_and_query;
  req.timeout = absl::Seconds(30);
  absl::StatusOr<HttpResponse> r = http_.Do(req);
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return absl::InternalError(
        absl::StrCat("GET ", path_and_query, ": HTTP ", r->status, ": ", Tail(r->body, 1000)));
  }
  return std::move(r->body);
}

absl::StatusOr<std::string> PrometheusServer::Query(const std::string& promql) {
  return Get("/api/v1/query?query=" + UrlEncode(promql));
}

absl::StatusOr<std::optional<double>> PrometheusServer::QueryValue(const std::string& promql) {
  absl::StatusOr<std::string> body = Query(promql);
  if (!body.ok()) return body.status();
  absl::StatusOr<rapidjson::Document> doc = ParseApi(*body, "query " + promql);
  if (!doc.ok()) return doc.status();
  const rapidjson::Value& data = (*doc)["data"];
  if (!data.HasMember("result")) return absl::InternalError("query: no result");
  const rapidjson::Value& result = data["result"];
  if (!result.IsArray() || result.Empty()) return std::optional<double>();
  // A scalar is [ts, "v"]; a vector is [{metric, value: [ts, "v"]}, ...].
  if (result[0].IsObject()) {
    const rapidjson::Value& v = result[0]["value"];
    if (!v.IsArray() || v.Size() != 2) return absl::InternalError("query: bad sample");
    return std::optional<double>(JsonNumberOrString(v[1]));
  }
  if (result.Size() == 2) return std::optional<double>(JsonNumberOrString(result[1]));
  return absl::InternalError(absl::StrCat("query: unexpected result: ", Tail(*body, 500)));
}

absl::StatusOr<std::vector<std::string>> PrometheusServer::RuleNames() {
  absl::StatusOr<std::string> body = Rules();
  if (!body.ok()) return body.status();
  absl::StatusOr<rapidjson::Document> doc = ParseApi(*body, "rules");
  if (!doc.ok()) return doc.status();
  std::vector<std::string> names;
  const rapidjson::Value& data = (*doc)["data"];
  if (!data.HasMember("groups") || !data["groups"].IsArray()) return names;
  for (const auto& group : data["groups"].GetArray()) {
    if (!group.HasMember("rules") || !group["rules"].IsArray()) continue;
    for (const auto& rule : group["rules"].GetArray()) {
      if (rule.HasMember("name") && rule["name"].IsString()) names.emplace_back(rule["name"].GetString());
    }
  }
  return names;
}

absl::StatusOr<bool> PrometheusServer::LastReloadSuccessful() {
  absl::StatusOr<std::string> body = RuntimeInfo();
  if (!body.ok()) return body.status();
  absl::StatusOr<rapidjson::Document> doc = ParseApi(*body, "runtimeinfo");
  if (!doc.ok()) return doc.status();
  const rapidjson::Value& data = (*doc)["data"];
  if (!data.HasMember("reloadConfigSuccess") || !data["reloadConfigSuccess"].IsBool()) {
    return absl::InternalError(absl::StrCat("runtimeinfo: no reloadConfigSuccess: ", Tail(*body, 500)));
  }
  return data["reloadConfigSuccess"].GetBool();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> PrometheusServer::TargetHealth() {
  absl::StatusOr<std::string> body = Targets();
  if (!body.ok()) return body.status();
  absl::StatusOr<rapidjson::Document> doc = ParseApi(*body, "targets");
  if (!doc.ok()) return doc.status();
  std::vector<std::pair<std::string, std::string>> out;
  const rapidjson::Value& data = (*doc)["data"];
  if (!data.HasMember("activeTargets") || !data["activeTargets"].IsArray()) return out;
  for (const auto& t : data["activeTargets"].GetArray()) {
    if (!t.HasMember("scrapeUrl") || !t.HasMember("health")) continue;
    out.emplace_back(t["scrapeUrl"].GetString(), t["health"].GetString());
  }
  return out;
}

absl::Status PrometheusServer::WaitFor(const std::string& what, const std::function<bool()>& done,
                                       absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (done()) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "waited ", absl::FormatDuration(timeout), " for ", what, "; prometheus log:\n",
          Tail(Log(), 3000)));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::Status PrometheusServer::Stop() {
  absl::MutexLock lock(&mu_);
  if (pid_ <= 0) return absl::OkStatus();
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      pid_ = -1;
      return absl::DeadlineExceededError("prometheus ignored SIGTERM for 10s; killed");
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  pid_ = -1;
  return absl::OkStatus();
}

absl::Status PrometheusServer::Signal(int sig) {
  absl::MutexLock lock(&mu_);
  if (pid_ <= 0) return absl::FailedPreconditionError("prometheus is not running");
  if (kill(pid_, sig) != 0) return absl::InternalError(absl::StrCat("kill: ", std::strerror(errno)));
  return absl::OkStatus();
}

std::string PrometheusServer::Log() const {
  std::ifstream in(dir_ + "/prometheus.log", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace promconf
