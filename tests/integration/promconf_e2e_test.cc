// End to end: the real promconf binary, on the file source, feeding a real
// Prometheus (Debian's, --web.enable-lifecycle, loopback, free port), which
// also scrapes promconf. Also --once, --dry-run, SIGHUP and SIGTERM.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/prometheus_server.h"
#include "util/http_client.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const char kPromconf[] = PROMCONF_BINARY_DIR "/promconf";

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

void WriteFile(const fs::path& path, const std::string& data) {
  fs::create_directories(path.parent_path());
  // Atomically, as an editor or kubelet would: the source must never see half.
  fs::path tmp = path.parent_path() / (".tmp-" + path.filename().string());
  std::ofstream(tmp, std::ios::binary) << data;
  fs::rename(tmp, path);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs promconf to completion (bounded), capturing stdout and stderr.
RunResult RunPromconf(const std::vector<std::string>& args, const fs::path& dir) {
  RunResult r;
  const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(kPromconf));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(kPromconf, argv.data());
    _exit(127);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

// A promconf daemon for the length of a test.
class Daemon {
 public:
  Daemon(const fs::path& config, int port, const fs::path& log) : log_(log) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::string c = "--config.file=" + config.string();
      std::string l = absl::StrCat("--web.listen-address=127.0.0.1:", port);
      execl(kPromconf, kPromconf, c.c_str(), l.c_str(), "--log.level=debug",
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Daemon() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  void Signal(int sig) { kill(pid_, sig); }
  // Waits (bounded) for the process to exit; its exit code or -1.
  int Wait(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > deadline) return -1;
      absl::SleepFor(absl::Milliseconds(20));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string Log() const { return ReadFile(log_); }

 private:
  pid_t pid_ = -1;
  fs::path log_;
};

std::string HttpGet(const std::string& url, long* status = nullptr) {
  HttpClient http;
  HttpRequest req;
  req.url = url;
  req.timeout = absl::Seconds(5);
  auto resp = http.Do(req);
  if (!resp.ok()) return "";
  if (status != nullptr) *status = resp->status;
  return resp->body;
}

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return done();
}

std::string Rule(const std::string& record) {
  return absl::StrCat("groups:\n- name: ", record, "\n  rules:\n  - record: ", record,
                      "\n    expr: vector(1)\n");
}

class PromconfE2ETest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/promconf-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "fragments");
    port_ = FreePort();
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // A promconf.yml for the file source over dir_/fragments.
  fs::path WriteConfig(const std::string& out_dir, const std::string& reload_url,
                       const std::string& extra_sources = "") {
    WriteFile(dir_ / "base.yml", absl::StrCat(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n- job_name: promconf\n  static_configs:\n"
        "  - targets: ['127.0.0.1:", port_, "']\n"));
    std::string config = absl::StrCat("output:\n  dir: ", out_dir, "\n  base_config: ",
                                      (dir_ / "base.yml").string(), "\n");
    if (!reload_url.empty()) {
      absl::StrAppend(&config, "reload:\n  url: ", reload_url, "\n  min_interval: 100ms\n");
    }
    absl::StrAppend(&config, "sources:\n- name: local\n  file:\n    paths: [",
                    (dir_ / "fragments").string(), "]\n", extra_sources);
    WriteFile(dir_ / "promconf.yml", config);
    return dir_ / "promconf.yml";
  }

  fs::path dir_;
  int port_ = 0;
};

bool HasRule(PrometheusServer& prom, const std::string& name) {
  auto names = prom.RuleNames();
  return names.ok() && std::find(names->begin(), names->end(), name) != names->end();
}

TEST_F(PromconfE2ETest, FragmentsReachARealPrometheus) {
  if (!PrometheusServer::Available()) GTEST_SKIP() << "prometheus not installed";
  auto prom = PrometheusServer::Start({});
  ASSERT_TRUE(prom.ok()) << prom.status();
  PrometheusServer& p = **prom;

  WriteFile(dir_ / "fragments/team-a/a.rules.yml", Rule("team_a:one"));
  Daemon daemon(WriteConfig(p.dir(), p.reload_url()), port_, dir_ / "promconf.log");
  const std::string base = absl::StrCat("http://127.0.0.1:", port_);

  // Add: the rule reaches Prometheus through promconf's output and reload.
  ASSERT_TRUE(p.WaitFor("team_a:one loaded", [&] { return HasRule(p, "team_a:one"); }).ok())
      << daemon.Log();
  ASSERT_TRUE(WaitUntil([&] {
    long status = 0;
    HttpGet(base + "/readyz", &status);
    return status == 200;
  })) << daemon.Log();

  // Change.
  WriteFile(dir_ / "fragments/team-a/a.rules.yml", Rule("team_a:two"));
  ASSERT_TRUE(p.WaitFor("team_a:two replaces team_a:one", [&] {
    return HasRule(p, "team_a:two") && !HasRule(p, "team_a:one");
  }).ok()) << daemon.Log();

  // A bad fragment written at the same time as a good one: the good one
  // lands, the bad one is rejected with its line, the rest stays.
  WriteFile(dir_ / "fragments/team-b/bad.rules.yml",
            "groups:\n- name: bad\n  rules:\n  - record: team_b:bad\n    expr: vector(1)\n"
            "    bogus_key: 1\n");
  WriteFile(dir_ / "fragments/team-c/good.rules.yml", Rule("team_c:good"));
  ASSERT_TRUE(p.WaitFor("team_c:good loaded", [&] { return HasRule(p, "team_c:good"); }).ok())
      << daemon.Log();
  EXPECT_TRUE(HasRule(p, "team_a:two"));
  EXPECT_FALSE(HasRule(p, "team_b:bad"));
  const std::string fragments = HttpGet(base + "/debug/fragments");
  EXPECT_THAT(fragments, HasSubstr("team-b/bad.rules.yml"));
  EXPECT_THAT(fragments, HasSubstr("\"rejected\""));
  EXPECT_THAT(fragments, HasSubstr("bogus_key"));
  EXPECT_TRUE(p.LastReloadSuccessful().value_or(false));

  // Delete.
  fs::remove(dir_ / "fragments/team-a/a.rules.yml");
  ASSERT_TRUE(p.WaitFor("team_a:two removed", [&] { return !HasRule(p, "team_a:two"); }).ok())
      << daemon.Log();
  EXPECT_TRUE(HasRule(p, "team_c:good"));

  // Prometheus scrapes promconf.
  ASSERT_TRUE(p.WaitFor("up{job=promconf} == 1", [&] {
    auto v = p.QueryValue("up{job=\"promconf\"}");
    return v.ok() && v->has_value() && **v == 1.0;
  }).ok()) << daemon.Log();
  auto reloads = p.QueryValue("promconf_reloads_total");
  ASSERT_TRUE(reloads.ok());
  ASSERT_TRUE(reloads->has_value());
  EXPECT_GE(**reloads, 3.0);

  // promtool accepts what promconf rendered.
  const std::string check = absl::StrCat("promtool check config ", p.config_path(), " > ",
                                         (dir_ / "promtool.log").string(), " 2>&1");
  EXPECT_EQ(std::system(check.c_str()), 0) << ReadFile(dir_ / "promtool.log");

  // SIGTERM drains and exits 0.
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(absl::Seconds(20)), 0) << daemon.Log();
}

TEST_F(PromconfE2ETest, SighupRereadsTheConfig) {
  const fs::path out = dir_ / "out";
  WriteFile(dir_ / "fragments/a.rules.yml", Rule("a"));
  WriteFile(dir_ / "more/b.rules.yml", Rule("b"));
  const fs::path config = WriteConfig(out.string(), "");
  Daemon daemon(config, port_, dir_ / "promconf.log");
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(out / "rules/local_a.yml"); })) << daemon.Log();
  EXPECT_FALSE(fs::exists(out / "rules/more_b.yml"));

  // A broken config is refused; the running one keeps going.
  const std::string good = ReadFile(config);
  WriteFile(config, good + "bogus: 1\n");
  daemon.Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return absl::StrContains(daemon.Log(), "keeping the running config"); }))
      << daemon.Log();
  EXPECT_THAT(daemon.Log(), HasSubstr("bogus: unknown key"));

  WriteConfig(out.string(), "", absl::StrCat("- name: more\n  file:\n    paths: [",
                                             (dir_ / "more").string(), "]\n"));
  daemon.Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(out / "rules/more_b.yml"); })) << daemon.Log();
  EXPECT_TRUE(fs::exists(out / "rules/local_a.yml"));
  daemon.Signal(SIGINT);
  EXPECT_EQ(daemon.Wait(absl::Seconds(20)), 0) << daemon.Log();
}

TEST_F(PromconfE2ETest, OnceWritesAndExits) {
  const fs::path out = dir_ / "out";
  WriteFile(dir_ / "fragments/a.rules.yml", Rule("a"));
  const fs::path config = WriteConfig(out.string(), "");
  RunResult r = RunPromconf({"--config.file=" + config.string(), "--once"}, dir_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "prometheus.yml"));
  EXPECT_THAT(ReadFile(out / "rules/local_a.yml"), HasSubstr("record: a"));
}

TEST_F(PromconfE2ETest, OnceFailsClearlyWhenASourceCannotSync) {
  const fs::path config = dir_ / "etcd.yml";
  WriteFile(config, absl::StrCat("output:\n  dir: ", (dir_ / "out").string(),
                                 "\nsources:\n- name: kv\n  etcd:\n    endpoints: "
                                 "[http://127.0.0.1:", FreePort(), "]\n"));
  RunResult r = RunPromconf({"--config.file=" + config.string(), "--once"}, dir_);
  // Bounded by the sync timeout (60 s) — the source must be reported by name.
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("kv"));
  EXPECT_FALSE(fs::exists(dir_ / "out/prometheus.yml"));
}

TEST_F(PromconfE2ETest, DryRunPrintsADiffAndWritesNothing) {
  const fs::path out = dir_ / "out";
  WriteFile(dir_ / "fragments/a.rules.yml", Rule("a"));
  const fs::path config = WriteConfig(out.string(), "");
  ASSERT_EQ(RunPromconf({"--config.file=" + config.string(), "--once"}, dir_).exit_code, 0);
  const std::string before = ReadFile(out / "rules/local_a.yml");

  WriteFile(dir_ / "fragments/a.rules.yml", Rule("a_changed"));
  RunResult r = RunPromconf({"--config.file=" + config.string(), "--dry-run"}, dir_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("--- a/rules/local_a.yml"));
  EXPECT_THAT(r.out, HasSubstr("+++ b/rules/local_a.yml"));
  EXPECT_THAT(r.out, HasSubstr("+  - record: a_changed"));
  EXPECT_EQ(ReadFile(out / "rules/local_a.yml"), before) << "dry run must not write";
}

TEST_F(PromconfE2ETest, FlagsAndBadConfigs) {
  RunResult v = RunPromconf({"--version"}, dir_);
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_THAT(v.out, HasSubstr("promconf, version"));
  RunResult h = RunPromconf({"--help"}, dir_);
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_THAT(h.out, HasSubstr("--web.listen-address"));
  RunResult bad_flag = RunPromconf({"--no-such-flag"}, dir_);
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_THAT(bad_flag.err, HasSubstr("unknown flag --no-such-flag"));
  WriteFile(dir_ / "bad.yml", "output:\n  dir: x\nsources:\n- name: a\n  file: {paths: [x]}\n"
                              "- name: a\n  file: {paths: [y]}\n");
  RunResult bad = RunPromconf({"--config.file=" + (dir_ / "bad.yml").string(), "--once"}, dir_);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("bad.yml:6:9: sources[1].name: duplicate source name"));
  RunResult missing = RunPromconf({"--config.file=/nonexistent/promconf.yml", "--once"}, dir_);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/promconf.yml"));
}

}  // namespace
}  // namespace promconf
