#include "reconcile/reloader.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/controller.h"
#include "runtime/workqueue.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/http_test_server.h"
#include "util/log.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;

// A stand-in for Prometheus' POST /-/reload.
class FakeReloadEndpoint {
 public:
  FakeReloadEndpoint() : server_(HttpTestServer::Options{}) {
    server_.Route("POST", "/-/reload", [this](const HttpTestRequest&, HttpTestResponse& resp) {
      posts_.fetch_add(1);
      const absl::Time until = absl::Now() + absl::Milliseconds(delay_ms_.load());
      while (absl::Now() < until && !server_.stopping()) absl::SleepFor(absl::Milliseconds(10));
      if (fail_.load()) {
        resp.Send(500, "text/plain",
                  "failed to reload config: one or more errors occurred while applying the new "
                  "configuration (--config.file=\"/etc/prometheus/prometheus.yml\")\n");
      } else {
        resp.Send(200, "text/plain", "");
      }
    });
    EXPECT_TRUE(server_.Start().ok());
  }
  std::string url() const { return server_.url() + "/-/reload"; }
  int posts() const { return posts_.load(); }
  void set_fail(bool fail) { fail_ = fail; }
  void set_delay(absl::Duration d) { delay_ms_ = absl::ToInt64Milliseconds(d); }

 private:
  std::atomic<int> posts_{0};
  std::atomic<bool> fail_{false};
  std::atomic<int64_t> delay_ms_{0};
  HttpTestServer server_;
};

class ReloaderTest : public ::testing::Test {
 protected:
  std::unique_ptr<Reloader> Make(ReloaderOptions options) {
    auto r = Reloader::Create(std::move(options), &clock_, &metrics_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }
  ReloaderOptions UrlOptions() {
    ReloaderOptions o;
    o.url = endpoint_.url();
    o.min_interval = absl::Seconds(2);
    o.timeout = absl::Seconds(10);
    return o;
  }
  std::string Metric(const std::string& sample) {
    return absl::StrContains(metrics_.ExpositionText(), sample + "\n") ? sample : "missing";
  }

  FakeClock clock_;
  Metrics metrics_;
  FakeReloadEndpoint endpoint_;
};

TEST_F(ReloaderTest, ReloadsThenDefersWithinMinInterval) {
  auto r = Make(UrlOptions());
  runtime::ReconcileResult first = r->Reconcile("reload");
  ASSERT_TRUE(first.status.ok()) << first.status;
  EXPECT_FALSE(first.requeue_after.has_value());
  EXPECT_EQ(endpoint_.posts(), 1);

  clock_.Advance(absl::Milliseconds(500));
  runtime::ReconcileResult soon = r->Reconcile("reload");
  EXPECT_TRUE(soon.status.ok());
  ASSERT_TRUE(soon.requeue_after.has_value());
  EXPECT_EQ(*soon.requeue_after, absl::Milliseconds(1500));

  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(*r->Reconcile("reload").requeue_after, absl::Milliseconds(500));
  EXPECT_EQ(endpoint_.posts(), 1);

  clock_.Advance(absl::Milliseconds(500));
  runtime::ReconcileResult later = r->Reconcile("reload");
  EXPECT_TRUE(later.status.ok());
  EXPECT_FALSE(later.requeue_after.has_value());
  EXPECT_EQ(endpoint_.posts(), 2);
  EXPECT_EQ(Metric("promconf_reloads_total 2"), "promconf_reloads_total 2");
  EXPECT_EQ(Metric("promconf_last_reload_successful 1"), "promconf_last_reload_successful 1");
  EXPECT_EQ(Metric("promconf_last_reload_success_timestamp_seconds 1700000002"),
            "promconf_last_reload_success_timestamp_seconds 1700000002");
}

TEST_F(ReloaderTest, TheWorkQueueCoalescesChangesWithinMinIntervalIntoOneReload) {
  auto r = Make(UrlOptions());
  runtime::WorkQueue queue("promconf", &clock_, nullptr);
  runtime::Controller controller("promconf", &queue, r.get(), &clock_);

  queue.Add("reload");
  ASSERT_TRUE(controller.ProcessNextItem());
  EXPECT_EQ(endpoint_.posts(), 1);

  // Ten outputs changes in the next second, each asking for a reload.
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(absl::Milliseconds(100));
    queue.Add("reload");
    ASSERT_TRUE(controller.ProcessNextItem());
  }
  EXPECT_EQ(endpoint_.posts(), 1);
  EXPECT_EQ(queue.Len(), 0);  // the deferred key waits for its time

  clock_.Advance(absl::Seconds(1));  // min_interval has passed
  ASSERT_TRUE(controller.ProcessNextItem());
  EXPECT_EQ(endpoint_.posts(), 2);
  // Nothing else is pending: every change above was folded into reload #2.
  clock_.Advance(absl::Seconds(10));
  absl::SleepFor(absl::Milliseconds(50));  // let the delaying loop promote stragglers
  EXPECT_EQ(queue.Len(), 0);
  queue.ShutDown();
}

TEST_F(ReloaderTest, FailureIsCountedLoggedAndRetryable) {
  endpoint_.set_fail(true);
  auto r = Make(UrlOptions());
  LogCapture logs;
  runtime::ReconcileResult res = r->Reconcile("reload");
  EXPECT_EQ(res.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(res.status.message()), HasSubstr("HTTP 500"));
  EXPECT_THAT(std::string(res.status.message()), HasSubstr("failed to reload config"));
  EXPECT_THAT(logs.Contents(), HasSubstr("failed to reload config"));
  EXPECT_EQ(Metric("promconf_reloads_failed_total 1"), "promconf_reloads_failed_total 1");
  EXPECT_EQ(Metric("promconf_reloads_total 0"), "promconf_reloads_total 0");
  EXPECT_EQ(Metric("promconf_last_reload_successful 0"), "promconf_last_reload_successful 0");

  // The retry after backoff (past min_interval) succeeds and flips the gauge.
  endpoint_.set_fail(false);
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(r->Reconcile("reload").status.ok());
  EXPECT_EQ(Metric("promconf_last_reload_successful 1"), "promconf_last_reload_successful 1");
}

TEST_F(ReloaderTest, ConsecutiveFailuresStretchTheInterval) {
  endpoint_.set_fail(true);
  auto r = Make(UrlOptions());  // min_interval 2s
  EXPECT_FALSE(r->Reconcile("reload").status.ok());  // failure 1: interval 2s
  clock_.Advance(absl::Seconds(2));
  EXPECT_FALSE(r->Reconcile("reload").status.ok());  // failure 2: interval 2s
  clock_.Advance(absl::Seconds(2));
  EXPECT_FALSE(r->Reconcile("reload").status.ok());  // failure 3: interval 4s
  clock_.Advance(absl::Seconds(2));
  runtime::ReconcileResult waiting = r->Reconcile("reload");
  EXPECT_TRUE(waiting.status.ok());
  ASSERT_TRUE(waiting.requeue_after.has_value());
  EXPECT_EQ(*waiting.requeue_after, absl::Seconds(2));
  EXPECT_EQ(endpoint_.posts(), 3);

  // Success resets it to min_interval.
  endpoint_.set_fail(false);
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(r->Reconcile("reload").status.ok());
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_EQ(*r->Reconcile("reload").requeue_after, absl::Milliseconds(1500));

  // Many failures cap at two minutes.
  endpoint_.set_fail(true);
  for (int i = 0; i < 12; ++i) {
    clock_.Advance(absl::Minutes(5));
    EXPECT_FALSE(r->Reconcile("reload").status.ok());
  }
  EXPECT_EQ(*r->Reconcile("reload").requeue_after, absl::Minutes(2));
}

TEST_F(ReloaderTest, TimeoutIsHonoured) {
  endpoint_.set_delay(absl::Seconds(5));
  ReloaderOptions o = UrlOptions();
  o.timeout = absl::Milliseconds(300);
  auto r = Make(o);
  const absl::Time start = absl::Now();
  runtime::ReconcileResult res = r->Reconcile("reload");
  EXPECT_EQ(res.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));  // did not wait for the server
  EXPECT_EQ(Metric("promconf_reloads_failed_total 1"), "promconf_reloads_failed_total 1");
}

TEST_F(ReloaderTest, UnreachableEndpointIsUnavailable) {
  ReloaderOptions o = UrlOptions();
  o.url = "http://127.0.0.1:1/-/reload";
  auto r = Make(o);
  EXPECT_EQ(r->Reconcile("reload").status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Metric("promconf_reloads_failed_total 1"), "promconf_reloads_failed_total 1");
}

TEST_F(ReloaderTest, ReloadOnceIgnoresMinInterval) {
  auto r = Make(UrlOptions());
  ASSERT_TRUE(r->ReloadOnce().ok());
  ASSERT_TRUE(r->ReloadOnce().ok());
  EXPECT_EQ(endpoint_.posts(), 2);
  // ...but counts as the last attempt for the queue's path.
  EXPECT_TRUE(r->Reconcile("reload").requeue_after.has_value());
}

TEST_F(ReloaderTest, OtherKeysAreTerminalAndDisabledIsANoOp) {
  auto r = Make(UrlOptions());
  EXPECT_EQ(r->Reconcile("render").status.code(), absl::StatusCode::kInvalidArgument);
  auto off = Make(ReloaderOptions{});
  EXPECT_FALSE(off->enabled());
  EXPECT_TRUE(off->Reconcile("reload").status.ok());
  EXPECT_TRUE(off->ReloadOnce().ok());
  EXPECT_EQ(endpoint_.posts(), 0);
}

TEST_F(ReloaderTest, CreateRejectsBadOptions) {
  ReloaderOptions two = UrlOptions();
  two.command = {"true"};
  EXPECT_EQ(Reloader::Create(two, &clock_, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  ReloaderOptions no_pid;
  no_pid.signal = "SIGHUP";
  EXPECT_FALSE(Reloader::Create(no_pid, &clock_, nullptr).ok());
  ReloaderOptions bad_sig;
  bad_sig.signal = "SIGNOPE";
  bad_sig.pid_file = "/tmp/x.pid";
  EXPECT_FALSE(Reloader::Create(bad_sig, &clock_, nullptr).ok());
  ReloaderOptions bad_url;
  bad_url.url = "127.0.0.1:9090/-/reload";
  EXPECT_FALSE(Reloader::Create(bad_url, &clock_, nullptr).ok());
  ReloaderOptions bad_timeout = UrlOptions();
  bad_timeout.timeout = absl::ZeroDuration();
  EXPECT_FALSE(Reloader::Create(bad_timeout, &clock_, nullptr).ok());
}

TEST(ParseSignalTest, Names) {
  EXPECT_EQ(*ParseSignal("SIGHUP"), SIGHUP);
  EXPECT_EQ(*ParseSignal("HUP"), SIGHUP);
  EXPECT_EQ(*ParseSignal("sigusr1"), SIGUSR1);
  EXPECT_EQ(*ParseSignal("1"), 1);
  EXPECT_FALSE(ParseSignal("0").ok());
  EXPECT_FALSE(ParseSignal("").ok());
}

std::atomic<int> g_usr1{0};
void OnUsr1(int) { g_usr1.fetch_add(1); }

class ReloaderProcessTest : public ReloaderTest {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("reloader_test_", getpid(), "_", ::testing::UnitTest::GetInstance()->random_seed(),
                        "_", counter_++);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static inline int counter_ = 0;
  std::filesystem::path dir_;
};

TEST_F(ReloaderProcessTest, SignalsThePidFromThePidFile) {
  struct sigaction sa {};
  sa.sa_handler = &OnUsr1;
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  const std::string pid_file = (dir_ / "prometheus.pid").string();
  std::ofstream(pid_file) << getpid() << "\n";
  ReloaderOptions o;
  o.signal = "SIGUSR1";
  o.pid_file = pid_file;
  auto r = Make(o);
  EXPECT_TRUE(r->ReloadOnce().ok());
  for (int i = 0; i < 200 && g_usr1.load() == 0; ++i) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(g_usr1.load(), 1);
  sigaction(SIGUSR1, &old, nullptr);

  std::ofstream(pid_file) << "not a pid\n";
  EXPECT_EQ(r->ReloadOnce().code(), absl::StatusCode::kUnavailable);
  std::filesystem::remove(pid_file);
  absl::Status missing = r->ReloadOnce();
  EXPECT_EQ(missing.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(missing.message()), HasSubstr(pid_file));
}

TEST_F(ReloaderProcessTest, RunsACommandWithoutAShell) {
  const std::string marker = (dir_ / "reloaded").string();
  ReloaderOptions o;
  o.command = {"touch", marker};
  auto r = Make(o);
  EXPECT_TRUE(r->ReloadOnce().ok());
  EXPECT_TRUE(std::filesystem::exists(marker));

  // No shell: metacharacters reach the program as plain arguments.
  const std::string literal = (dir_ / "a;b").string();
  o.command = {"touch", literal};
  EXPECT_TRUE(Make(o)->ReloadOnce().ok());
  EXPECT_TRUE(std::filesystem::exists(literal));
}

TEST_F(ReloaderProcessTest, CommandFailuresAreUnavailable) {
  ReloaderOptions o;
  o.command = {"sh", "-c", "echo 'bad rule in x.yml' >&2; exit 3"};
  absl::Status s = Make(o)->ReloadOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("exited with status 3"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("bad rule in x.yml"));

  o.command = {"/nonexistent/promconf-reload"};
  EXPECT_EQ(Make(o)->ReloadOnce().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Metric("promconf_reloads_failed_total 2"), "promconf_reloads_failed_total 2");
}

TEST_F(ReloaderProcessTest, CommandTimeoutKillsIt) {
  ReloaderOptions o;
  o.command = {"sleep", "30"};
  o.timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  absl::Status s = Make(o)->ReloadOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("timed out"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
}

}  // namespace
}  // namespace promconf
