// End to end: the real promconf binary, on the file source, feeding a real
// Prometheus (Debian's, --web.enable-lifecycle, loopback, free port), which
// also scrapes promconf. Also --once, --dry-run, SIGHUP and SIGTERM.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/consul_server.h"
#include "tests/fakes/kube_apiserver.h"
#include "tests/fakes/prometheus_server.h"
#include "tests/fakes/zookeeper_server.h"
#include "tests/fakes/test_io.h"
#include "util/json.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const char kPromconf[] = PROMCONF_BINARY_DIR "/promconf";

std::string ReadFile(const fs::path& path) { return ReadWholeFile(path.string()); }

ChildProcess::Result RunPromconf(const std::vector<std::string>& args, const fs::path& dir) {
  std::vector<std::string> argv = {kPromconf};
  argv.insert(argv.end(), args.begin(), args.end());
  return ChildProcess::Run(argv, dir.string(), absl::Seconds(90));
}

// A promconf daemon for the length of a test, logging to one file.
class Daemon {
 public:
  Daemon(const fs::path& config, int port, const fs::path& log)
      : log_(log),
        child_({kPromconf, "--config.file=" + config.string(),
                absl::StrCat("--web.listen-address=127.0.0.1:", port), "--log.level=debug"},
               log.string(), log.string()) {}
  void Signal(int sig) { child_.Signal(sig); }
  int Wait(absl::Duration timeout) { return child_.Wait(timeout); }
  std::string Log() const { return ReadFile(log_); }

 private:
  fs::path log_;
  ChildProcess child_;
};

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(30)) {
  return PollUntil(done, timeout);
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
    port_ = PickFreeLoopbackPort();
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // A promconf.yml for the file source over dir_/fragments.
  fs::path WriteConfig(const std::string& out_dir, const std::string& reload_url,
                       const std::string& extra_sources = "") {
    WriteFileAtomically(dir_ / "base.yml", absl::StrCat(
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
    WriteFileAtomically(dir_ / "promconf.yml", config);
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

  WriteFileAtomically(dir_ / "fragments/team-a/a.rules.yml", Rule("team_a:one"));
  Daemon daemon(WriteConfig(p.dir(), p.reload_url()), port_, dir_ / "promconf.log");
  const std::string base = absl::StrCat("http://127.0.0.1:", port_);

  // Add: the rule reaches Prometheus through promconf's output and reload.
  ASSERT_TRUE(p.WaitFor("team_a:one loaded", [&] { return HasRule(p, "team_a:one"); }).ok())
      << daemon.Log();
  ASSERT_TRUE(WaitUntil([&] {
    long status = 0;
    HttpGetBody(base + "/readyz", &status);
    return status == 200;
  })) << daemon.Log();

  // Change.
  WriteFileAtomically(dir_ / "fragments/team-a/a.rules.yml", Rule("team_a:two"));
  ASSERT_TRUE(p.WaitFor("team_a:two replaces team_a:one", [&] {
    return HasRule(p, "team_a:two") && !HasRule(p, "team_a:one");
  }).ok()) << daemon.Log();

  // A bad fragment written at the same time as a good one: the good one
  // lands, the bad one is rejected with its line, the rest stays.
  WriteFileAtomically(dir_ / "fragments/team-b/bad.rules.yml",
            "groups:\n- name: bad\n  rules:\n  - record: team_b:bad\n    expr: vector(1)\n"
            "    bogus_key: 1\n");
  // Unparsable PromQL: promconf's own parser rejects it with its line, so
  // Prometheus' all-or-nothing rule reload never sees it.
  WriteFileAtomically(dir_ / "fragments/team-d/badql.rules.yml",
            "groups:\n- name: badql\n  rules:\n  - record: team_d:bad\n    expr: sum(up\n");
  WriteFileAtomically(dir_ / "fragments/team-c/good.rules.yml", Rule("team_c:good"));
  ASSERT_TRUE(p.WaitFor("team_c:good loaded", [&] { return HasRule(p, "team_c:good"); }).ok())
      << daemon.Log();
  EXPECT_TRUE(HasRule(p, "team_a:two"));
  EXPECT_FALSE(HasRule(p, "team_b:bad"));
  const std::string fragments = HttpGetBody(base + "/debug/fragments");
  EXPECT_THAT(fragments, HasSubstr("team-b/bad.rules.yml"));
  EXPECT_THAT(fragments, HasSubstr("\"rejected\""));
  EXPECT_THAT(fragments, HasSubstr("bogus_key"));
  EXPECT_TRUE(WaitUntil([&] {
    const std::string f = HttpGetBody(base + "/debug/fragments");
    return absl::StrContains(f, "team-d/badql.rules.yml: line 5: key ") &&
           absl::StrContains(f, "could not parse expression: 1:7: parse error: unclosed left parenthesis");
  })) << HttpGetBody(base + "/debug/fragments");
  EXPECT_FALSE(HasRule(p, "team_d:bad"));
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
  WriteFileAtomically(dir_ / "fragments/a.rules.yml", Rule("a"));
  WriteFileAtomically(dir_ / "more/b.rules.yml", Rule("b"));
  const fs::path config = WriteConfig(out.string(), "");
  Daemon daemon(config, port_, dir_ / "promconf.log");
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(out / "rules/local_a.yml"); })) << daemon.Log();
  EXPECT_FALSE(fs::exists(out / "rules/more_b.yml"));

  // A broken config is refused; the running one keeps going.
  const std::string good = ReadFile(config);
  WriteFileAtomically(config, good + "bogus: 1\n");
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
  WriteFileAtomically(dir_ / "fragments/a.rules.yml", Rule("a"));
  const fs::path config = WriteConfig(out.string(), "");
  ChildProcess::Result r = RunPromconf({"--config.file=" + config.string(), "--once"}, dir_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "prometheus.yml"));
  EXPECT_THAT(ReadFile(out / "rules/local_a.yml"), HasSubstr("record: a"));
}

TEST_F(PromconfE2ETest, OnceFailsClearlyWhenASourceCannotSync) {
  const fs::path config = dir_ / "etcd.yml";
  WriteFileAtomically(config, absl::StrCat("output:\n  dir: ", (dir_ / "out").string(),
                                 "\nsources:\n- name: kv\n  etcd:\n    endpoints: "
                                 "[http://127.0.0.1:", PickFreeLoopbackPort(), "]\n"));
  ChildProcess::Result r = RunPromconf({"--config.file=" + config.string(), "--once"}, dir_);
  // Bounded by the sync timeout (60 s) — the source must be reported by name.
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("kv"));
  EXPECT_FALSE(fs::exists(dir_ / "out/prometheus.yml"));
}

// The whole output tree: relative path -> bytes.
std::map<std::string, std::string> Tree(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = ReadFile(e.path());
  }
  return files;
}

// A TCP listener that accepts (in the kernel's backlog) and never answers: a
// slow backend rather than a refused one.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(fd_, 64) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() {
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// --once and --dry-run stuck on a source that cannot sync (refused, or
// connected and silent) stop on SIGTERM/SIGINT, exit non-zero and leave the
// output as it was. The sync would wait 60 s; the test allows 20.
TEST_F(PromconfE2ETest, OnceAndDryRunStopOnSignalsAndLeaveTheOutputWhole) {
  const fs::path out = dir_ / "out";
  WriteFileAtomically(dir_ / "fragments/a.rules.yml", Rule("a"));
  const fs::path config = WriteConfig(out.string(), "");
  ASSERT_EQ(RunPromconf({"--config.file=" + config.string(), "--once"}, dir_).exit_code, 0);
  const auto before = Tree(out);
  ASSERT_FALSE(before.empty());
  // A change the interrupted runs must not write.
  WriteFileAtomically(dir_ / "fragments/b.rules.yml", Rule("b"));

  SilentListener silent;
  ASSERT_GT(silent.port(), 0);
  struct Case {
    const char* mode;
    int port;
    int sig;
  };
  for (const Case& c : {Case{"--once", PickFreeLoopbackPort(), SIGTERM},
                        Case{"--once", silent.port(), SIGINT},
                        Case{"--dry-run", silent.port(), SIGTERM},
                        Case{"--dry-run", PickFreeLoopbackPort(), SIGINT}}) {
    SCOPED_TRACE(absl::StrCat(c.mode, " port ", c.port, " signal ", c.sig));
    WriteConfig(out.string(), "",
                absl::StrCat("- name: kv\n  etcd:\n    endpoints: [http://127.0.0.1:", c.port,
                             "]\n"));
    const fs::path log = dir_ / "once.log";
    ChildProcess child({kPromconf, "--config.file=" + config.string(), c.mode}, log.string(),
                       log.string());
    ASSERT_TRUE(child.started());
    // Let it get as far as waiting for the sources (a silent backend logs
    // nothing to wait for).
    absl::SleepFor(absl::Seconds(1));
    child.Signal(c.sig);
    const int code = child.Wait(absl::Seconds(20));
    EXPECT_NE(code, -1) << "did not exit on the signal\n" << ReadFile(log);
    EXPECT_NE(code, 0) << ReadFile(log);
    EXPECT_THAT(ReadFile(log), HasSubstr("interrupted"));
    EXPECT_EQ(Tree(out), before);
  }
}

// Document names are tenant bytes: /debug/fragments stays valid UTF-8 JSON
// for a file named with a stray 0xff byte (and a U+2028).
TEST_F(PromconfE2ETest, DebugFragmentsIsValidUtf8WhateverTheNames) {
  const fs::path out = dir_ / "out";
  WriteFileAtomically(dir_ / "fragments/bad\xff\xe2\x80\xa8name.rules.yml", Rule("a"));
  WriteFileAtomically(dir_ / "fragments/broken\xc0.rules.yml", "groups: [\n");
  const fs::path config = WriteConfig(out.string(), "");
  Daemon daemon(config, port_, dir_ / "promconf.log");
  const std::string url = absl::StrCat("http://127.0.0.1:", port_, "/debug/fragments");
  std::string body;
  ASSERT_TRUE(WaitUntil([&] {
    body = HttpGetBody(url);
    return absl::StrContains(body, "rejected") && absl::StrContains(body, "accepted");
  })) << body << daemon.Log();
  EXPECT_TRUE(IsValidUtf8(body)) << body;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  ASSERT_FALSE(d.HasParseError()) << body;
  ASSERT_TRUE(d.IsArray());
  EXPECT_EQ(d.Size(), 2u) << body;
  EXPECT_THAT(body, HasSubstr("bad\\ufffd\\u2028name.rules.yml"));
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(absl::Seconds(20)), 0) << daemon.Log();
}

TEST_F(PromconfE2ETest, DryRunPrintsADiffAndWritesNothing) {
  const fs::path out = dir_ / "out";
  WriteFileAtomically(dir_ / "fragments/a.rules.yml", Rule("a"));
  const fs::path config = WriteConfig(out.string(), "");
  ASSERT_EQ(RunPromconf({"--config.file=" + config.string(), "--once"}, dir_).exit_code, 0);
  const std::string before = ReadFile(out / "rules/local_a.yml");

  WriteFileAtomically(dir_ / "fragments/a.rules.yml", Rule("a_changed"));
  ChildProcess::Result r = RunPromconf({"--config.file=" + config.string(), "--dry-run"}, dir_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("--- a/rules/local_a.yml"));
  EXPECT_THAT(r.out, HasSubstr("+++ b/rules/local_a.yml"));
  EXPECT_THAT(r.out, HasSubstr("+  - record: a_changed"));
  EXPECT_EQ(ReadFile(out / "rules/local_a.yml"), before) << "dry run must not write";
}

TEST_F(PromconfE2ETest, FlagsAndBadConfigs) {
  ChildProcess::Result v = RunPromconf({"--version"}, dir_);
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_THAT(v.out, HasSubstr("promconf, version"));
  ChildProcess::Result h = RunPromconf({"--help"}, dir_);
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_THAT(h.out, HasSubstr("--web.listen-address"));
  ChildProcess::Result bad_flag = RunPromconf({"--no-such-flag"}, dir_);
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_THAT(bad_flag.err, HasSubstr("unknown flag --no-such-flag"));
  WriteFileAtomically(dir_ / "bad.yml", "output:\n  dir: x\nsources:\n- name: a\n  file: {paths: [x]}\n"
                              "- name: a\n  file: {paths: [y]}\n");
  ChildProcess::Result bad = RunPromconf({"--config.file=" + (dir_ / "bad.yml").string(), "--once"}, dir_);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("bad.yml:6:9: sources[1].name: duplicate source name"));
  ChildProcess::Result missing = RunPromconf({"--config.file=/nonexistent/promconf.yml", "--once"}, dir_);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/promconf.yml"));
}

// Issue 3's end to end: `kubectl apply` of a rules ConfigMap against the fake
// API server (TLS verified, token) -> promconf's Kubernetes source -> the
// rule is loaded by a real Prometheus. Then a label flip takes it out again.
TEST_F(PromconfE2ETest, KubectlApplyReachesPrometheus) {
  if (!PrometheusServer::Available()) GTEST_SKIP() << "prometheus not installed";
  if (!fs::exists("/usr/bin/kubectl")) GTEST_SKIP() << "kubectl not installed";
  auto api = FakeKubeApiServer::Start({});
  ASSERT_TRUE(api.ok()) << api.status();
  const std::string kubeconfig = (dir_ / "kubeconfig").string();
  ASSERT_TRUE((*api)->WriteKubeconfig(kubeconfig).ok());
  auto prom = PrometheusServer::Start({});
  ASSERT_TRUE(prom.ok()) << prom.status();
  PrometheusServer& p = **prom;

  const fs::path config = WriteConfig(p.dir(), p.reload_url(),
                                      absl::StrCat("- name: cluster\n  kubernetes:\n"
                                                   "    kubeconfig: ", kubeconfig, "\n"));
  Daemon daemon(config, port_, dir_ / "promconf.log");

  auto kubectl = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/bin/kubectl", "--kubeconfig=" + kubeconfig,
                                     "--request-timeout=20s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return ChildProcess::Run(argv, dir_.string(), absl::Seconds(60),
                             {"HOME=" + dir_.string(), "PATH=/usr/bin:/bin"});
  };
  auto manifest = [&](const std::string& record, const std::string& fragment_label) {
    return absl::StrCat(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: team-rules\n"
        "  namespace: team-a\n  labels:\n    promconf.io/fragment: \"", fragment_label,
        "\"\ndata:\n  cpu.rules.yml: |\n    groups:\n    - name: ", record,
        "\n      rules:\n      - record: ", record, "\n        expr: vector(1)\n");
  };

  WriteFileAtomically(dir_ / "cm.yml", manifest("team_a:kube", "true"));
  auto applied = kubectl({"apply", "-f", (dir_ / "cm.yml").string()});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  ASSERT_TRUE(p.WaitFor("team_a:kube loaded", [&] { return HasRule(p, "team_a:kube"); }).ok())
      << daemon.Log();
  EXPECT_TRUE(fs::exists(fs::path(p.dir()) / "rules"));
  EXPECT_THAT(HttpGetBody(absl::StrCat("http://127.0.0.1:", port_, "/debug/fragments")),
              HasSubstr("team-a/team-rules/cpu.rules.yml"));

  // Changed through kubectl: the new rule replaces the old.
  WriteFileAtomically(dir_ / "cm.yml", manifest("team_a:kube2", "true"));
  applied = kubectl({"apply", "-f", (dir_ / "cm.yml").string()});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  ASSERT_TRUE(p.WaitFor("team_a:kube2 replaces team_a:kube", [&] {
    return HasRule(p, "team_a:kube2") && !HasRule(p, "team_a:kube");
  }).ok()) << daemon.Log();

  // A bad rules key: rejected, and the team sees why where it looks, in
  // `kubectl get events` on its namespace.
  WriteFileAtomically(dir_ / "bad.yml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken-rules\n"
            "  namespace: team-a\n  labels:\n    promconf.io/fragment: \"true\"\n"
            "data:\n  bad.rules.yml: |\n    groups:\n    - name: x\n      rules:\n"
            "      - record: team_a:bad\n        expr: sum(up\n");
  applied = kubectl({"apply", "-f", (dir_ / "bad.yml").string()});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  ChildProcess::Result events;
  EXPECT_TRUE(WaitUntil([&] {
    events = kubectl({"get", "events", "-n", "team-a", "-o",
                      "jsonpath={range .items[*]}{.reason} {.involvedObject.name}: "
                      "{.message}{\"\\n\"}{end}"});
    return events.exit_code == 0 && absl::StrContains(events.out, "FragmentRejected broken-rules");
  })) << events.out << events.err << daemon.Log();
  EXPECT_THAT(events.out, HasSubstr("team-a/broken-rules/bad.rules.yml"));
  EXPECT_TRUE(HasRule(p, "team_a:kube2"));

  // The label no longer matches: the fragment leaves the output.
  WriteFileAtomically(dir_ / "cm.yml", manifest("team_a:kube2", "false"));
  applied = kubectl({"apply", "-f", (dir_ / "cm.yml").string()});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  ASSERT_TRUE(p.WaitFor("team_a:kube2 removed", [&] { return !HasRule(p, "team_a:kube2"); }).ok())
      << daemon.Log();
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(absl::Seconds(20)), 0) << daemon.Log();
}

// The ZooKeeper source end to end, against a real ZooKeeper and a real
// Prometheus: a rules znode becomes a loaded rule, and a serverset member
// announcing promconf's own address becomes a target of the generated job,
// scraped (up == 1), with the serverset's meta labels available to
// relabelling. When the member's session ends, the target goes.
// The real binary against the real ZooKeeper: a serverset member of 1 MB of
// '[' (which crashed promconf at every start) is skipped and counted; the
// other members are written as targets and promconf exits 0.
TEST_F(PromconfE2ETest, ZookeeperMemberOfDeepBracketsDoesNotCrashPromconf) {
  auto zk = ZookeeperServer::Start();
  ASSERT_TRUE(zk.ok()) << zk.status();
  ZookeeperServer& z = **zk;
  auto member = [](int port) {
    return absl::StrCat(R"({"serviceEndpoint":{"host":"127.0.0.1","port":)", port,
                        R"(},"additionalEndpoints":{},"status":"ALIVE","shard":0})");
  };
  ASSERT_TRUE(z.Put("/services/api/member_0000000001", member(9001)).ok());
  ASSERT_TRUE(z.Put("/services/api/member_0000000002", std::string(1000000, '[')).ok());
  ASSERT_TRUE(z.Put("/services/api/member_0000000003", member(9003)).ok());
  const fs::path out = dir_ / "out";
  const fs::path config = WriteConfig(
      out.string(), "",
      absl::StrCat("- name: zk\n  zookeeper:\n    servers: [", z.address(), "]\n",
                   "    session_timeout: 5s\n    serversets:\n",
                   "    - {path: /services/api, job: api}\n"));
  ChildProcess::Result r =
      RunPromconf({"--config.file=" + config.string(), "--once", "--log.level=debug"}, dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("serverset members skipped"));
  const std::string targets = ReadFile(out / "targets/zk-api.json");
  EXPECT_THAT(targets, HasSubstr("127.0.0.1:9001"));
  EXPECT_THAT(targets, HasSubstr("127.0.0.1:9003"));
}

TEST_F(PromconfE2ETest, ZookeeperRulesAndServersetReachPrometheus) {
  if (!PrometheusServer::Available()) GTEST_SKIP() << "prometheus not installed";
  auto zk = ZookeeperServer::Start();
  ASSERT_TRUE(zk.ok()) << zk.status();
  ZookeeperServer& z = **zk;
  auto prom = PrometheusServer::Start({});
  ASSERT_TRUE(prom.ok()) << prom.status();
  PrometheusServer& p = **prom;

  ASSERT_TRUE(z.Put("/promconf/team-z/z.rules.yml", Rule("team_z:zk")).ok());
  ASSERT_TRUE(z.PutEphemeral("/services/promconf/member_0000000001",
                             absl::StrCat(R"({"serviceEndpoint":{"host":"127.0.0.1","port":)", port_,
                                          R"(},"additionalEndpoints":{},"status":"ALIVE","shard":0})"))
                  .ok());
  const fs::path config = WriteConfig(
      p.dir(), p.reload_url(),
      absl::StrCat("- name: zk\n  zookeeper:\n    servers: [", z.address(), "]\n",
                   "    session_timeout: 5s\n    paths: [/promconf]\n",
                   "    serversets:\n    - {path: /services/promconf, job: zk-promconf}\n"));
  Daemon daemon(config, port_, dir_ / "promconf.log");

  ASSERT_TRUE(p.WaitFor("team_z:zk loaded", [&] { return HasRule(p, "team_z:zk"); }).ok())
      << daemon.Log();
  ASSERT_TRUE(p.WaitFor("up{job=zk-promconf} == 1", [&] {
    auto v = p.QueryValue("up{job=\"zk-promconf\"}");
    return v.ok() && v->has_value() && **v == 1.0;
  }).ok()) << daemon.Log();
  EXPECT_TRUE(fs::exists(fs::path(p.dir()) / "targets/zk-zk-promconf.json"));
  EXPECT_THAT(ReadFile(fs::path(p.dir()) / "targets/zk-zk-promconf.json"),
              HasSubstr("__meta_serverset_path"));
  const std::string check = absl::StrCat("promtool check config ", p.config_path(), " > ",
                                         (dir_ / "promtool.log").string(), " 2>&1");
  EXPECT_EQ(std::system(check.c_str()), 0) << ReadFile(dir_ / "promtool.log");

  // The member's session ends: no target left for the job.
  ASSERT_TRUE(z.DropEphemerals().ok());
  // (The base config's own promconf job scrapes the same address.)
  ASSERT_TRUE(p.WaitFor("zk-promconf has no targets", [&] {
    auto health = p.TargetHealth();
    return health.ok() && health->size() == 1;
  }).ok()) << ReadFile(fs::path(p.dir()) / "targets/zk-zk-promconf.json") << "\n"
           << p.Query("up").value_or("") << "\n" << daemon.Log();
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(absl::Seconds(20)), 0) << daemon.Log();
}

// The Consul source end to end, against the fake Consul and a real
// Prometheus: a rules key becomes a loaded rule; a healthy instance of a
// service, registered at promconf's own address, becomes a scraped target
// of the generated job; when its check fails, the target goes.
TEST_F(PromconfE2ETest, ConsulKvAndServiceReachPrometheus) {
  if (!PrometheusServer::Available()) GTEST_SKIP() << "prometheus not installed";
  auto consul = FakeConsulServer::Start({});
  ASSERT_TRUE(consul.ok()) << consul.status();
  FakeConsulServer& c = **consul;
  auto prom = PrometheusServer::Start({});
  ASSERT_TRUE(prom.ok()) << prom.status();
  PrometheusServer& p = **prom;

  c.PutKV("promconf/team-c/c.rules.yml", Rule("team_c:consul"));
  FakeConsulServer::ServiceInstance self;
  self.id = "promconf-1";
  self.name = "promconf";
  self.node_address = "127.0.0.1";
  self.port = port_;
  ASSERT_TRUE(c.RegisterService(self).ok());
  const fs::path config = WriteConfig(
      p.dir(), p.reload_url(),
      absl::StrCat("- name: consul\n  consul:\n    address: ", c.address(), "\n",
                   "    kv_prefix: promconf/\n",
                   "    services:\n    - {name: promconf, job: consul-promconf}\n"));
  Daemon daemon(config, port_, dir_ / "promconf.log");

  ASSERT_TRUE(p.WaitFor("team_c:consul loaded", [&] { return HasRule(p, "team_c:consul"); }).ok())
      << daemon.Log();
  ASSERT_TRUE(p.WaitFor("up{job=consul-promconf} == 1", [&] {
    auto v = p.QueryValue("up{job=\"consul-promconf\"}");
    return v.ok() && v->has_value() && **v == 1.0;
  }).ok()) << daemon.Log();
  EXPECT_THAT(ReadFile(fs::path(p.dir()) / "targets/consul-consul-promconf.json"),
              HasSubstr("__meta_consul_service_id"));
  const std::string check = absl::StrCat("promtool check config ", p.config_path(), " > ",
                                         (dir_ / "promtool.log").string(), " 2>&1");
  EXPECT_EQ(std::system(check.c_str()), 0) << ReadFile(dir_ / "promtool.log");

  // The check fails: healthy-only, so the target goes.
  ASSERT_TRUE(c.SetHealth("promconf-1", "critical").ok());
  ASSERT_TRUE(p.WaitFor("consul-promconf has no targets", [&] {
    auto health = p.TargetHealth();
    return health.ok() && health->size() == 1;
  }).ok()) << daemon.Log();
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(absl::Seconds(20)), 0) << daemon.Log();
}

}  // namespace
}  // namespace promconf
