#include "runtime/controller.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "util/log.h"

namespace promconf::runtime {
namespace {

template <typename F>
bool Eventually(F cond) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return cond();
}

// Returns a scripted result and counts calls per key.
class ScriptedReconciler final : public Reconciler {
 public:
  ReconcileResult Reconcile(const std::string& key) override {
    absl::MutexLock lock(&mu_);
    ++calls_[key];
    return next_;
  }
  void Set(ReconcileResult r) {
    absl::MutexLock lock(&mu_);
    next_ = std::move(r);
  }
  int Calls(const std::string& key) {
    absl::MutexLock lock(&mu_);
    return calls_[key];
  }

 private:
  absl::Mutex mu_;
  ReconcileResult next_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
};

class RecordingObserver final : public ControllerObserver {
 public:
  void OnReconciled(Outcome outcome, absl::Duration took) override {
    absl::MutexLock lock(&mu_);
    results_.emplace_back(OutcomeName(outcome));
    took_.push_back(took);
  }
  std::vector<std::string> results() {
    absl::MutexLock lock(&mu_);
    return results_;
  }
  std::vector<absl::Duration> took() {
    absl::MutexLock lock(&mu_);
    return took_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> results_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> took_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<RateLimiter> Backoff() {
  return NewItemExponentialFailureRateLimiter(absl::Milliseconds(5), absl::Seconds(1000));
}

struct StatusCase {
  absl::StatusCode code;
  const char* label;
  bool requeued;
};

class ControllerStatusTest : public ::testing::TestWithParam<StatusCase> {};

// The status -> queue action table: run the key twice with the same outcome
// and look at the limiter's memory and the queue.
TEST_P(ControllerStatusTest, MapsStatusToQueueAction) {
  const StatusCase& c = GetParam();
  FakeClock clock;
  WorkQueue queue("status", &clock, Backoff());
  ScriptedReconciler reconciler;
  RecordingObserver observer;
  Controller controller("status", &queue, &reconciler, &clock, &observer);
  reconciler.Set({absl::Status(c.code, "scripted"), std::nullopt});
  LogCapture capture;

  queue.Add("render");
  ASSERT_TRUE(controller.ProcessNextItem());
  EXPECT_EQ(observer.results(), std::vector<std::string>{c.label});
  if (c.requeued) {
    EXPECT_EQ(queue.NumRequeues("render"), 1);
    EXPECT_EQ(queue.Len(), 0);  // waiting out the backoff
    clock.Advance(absl::Milliseconds(5));
    EXPECT_EQ(queue.Len(), 1);
    ASSERT_TRUE(controller.ProcessNextItem());
    EXPECT_EQ(queue.NumRequeues("render"), 2);
    clock.Advance(absl::Milliseconds(9));
    EXPECT_EQ(queue.Len(), 0);
    clock.Advance(absl::Milliseconds(1));  // 10 ms: backing off
    EXPECT_EQ(queue.Len(), 1);
  } else {
    EXPECT_EQ(queue.NumRequeues("render"), 0);
    clock.Advance(absl::Hours(1));
    EXPECT_EQ(queue.Len(), 0);
  }
  EXPECT_EQ(reconciler.Calls("render"), c.requeued ? 2 : 1);
  const bool terminal = std::string(c.label) == "error";
  EXPECT_EQ(capture.Contents().find("reconcile failed permanently") != std::string::npos, terminal)
      << capture.Contents();
  if (terminal) {
    EXPECT_NE(capture.Contents().find("render"), std::string::npos);
    EXPECT_NE(capture.Contents().find("scripted"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Codes, ControllerStatusTest,
    ::testing::Values(StatusCase{absl::StatusCode::kOk, "success", false},
                      StatusCase{absl::StatusCode::kUnavailable, "requeue", true},
                      StatusCase{absl::StatusCode::kDeadlineExceeded, "requeue", true},
                      StatusCase{absl::StatusCode::kAborted, "requeue", true},
                      StatusCase{absl::StatusCode::kResourceExhausted, "requeue", true},
                      StatusCase{absl::StatusCode::kInternal, "requeue", true},
                      StatusCase{absl::StatusCode::kUnknown, "requeue", true},
                      StatusCase{absl::StatusCode::kCancelled, "requeue", true},
                      StatusCase{absl::StatusCode::kInvalidArgument, "error", false},
                      StatusCase{absl::StatusCode::kFailedPrecondition, "error", false},
                      StatusCase{absl::StatusCode::kNotFound, "error", false},
                      StatusCase{absl::StatusCode::kAlreadyExists, "error", false},
                      StatusCase{absl::StatusCode::kPermissionDenied, "error", false},
                      StatusCase{absl::StatusCode::kOutOfRange, "error", false},
                      StatusCase{absl::StatusCode::kUnimplemented, "error", false},
                      StatusCase{absl::StatusCode::kDataLoss, "error", false}),
    [](const ::testing::TestParamInfo<StatusCase>& info) {
      // "DEADLINE_EXCEEDED" -> "DEADLINEEXCEEDED": gtest names are alphanumeric.
      std::string name = absl::StatusCodeToString(info.param.code);
      name.erase(std::remove(name.begin(), name.end(), '_'), name.end());
      return name;
    });

TEST(ControllerTest, SuccessForgetsEarlierFailures) {
  FakeClock clock;
  WorkQueue queue("forget", &clock, Backoff());
  ScriptedReconciler reconciler;
  Controller controller("forget", &queue, &reconciler, &clock);
  reconciler.Set({absl::UnavailableError("down"), std::nullopt});
  queue.Add("render");
  ASSERT_TRUE(controller.ProcessNextItem());
  EXPECT_EQ(queue.NumRequeues("render"), 1);
  clock.Advance(absl::Milliseconds(5));
  reconciler.Set({absl::OkStatus(), std::nullopt});
  ASSERT_TRUE(controller.ProcessNextItem());
  EXPECT_EQ(queue.NumRequeues("render"), 0);
}

TEST(ControllerTest, SuccessWithRequeueAfterForgetsThenDelays) {
  FakeClock clock;
  WorkQueue queue("requeue-after", &clock, Backoff());
  ScriptedReconciler reconciler;
  RecordingObserver observer;
  Controller controller("requeue-after", &queue, &reconciler, &clock, &observer);
  reconciler.Set({absl::UnavailableError("down"), std::nullopt});
  queue.Add("reload");
  ASSERT_TRUE(controller.ProcessNextItem());
  clock.Advance(absl::Milliseconds(5));

  reconciler.Set({absl::OkStatus(), absl::Seconds(30)});
  ASSERT_TRUE(controller.ProcessNextItem());
  EXPECT_EQ(queue.NumRequeues("reload"), 0);
  clock.Advance(absl::Seconds(29));
  EXPECT_EQ(queue.Len(), 0);
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_EQ(observer.results(), (std::vector<std::string>{"requeue", "success"}));
}

TEST(ControllerTest, RequeueAfterIgnoredOnError) {
  FakeClock clock;
  WorkQueue queue("error-requeue-after", &clock, Backoff());
  ScriptedReconciler reconciler;
  Controller controller("error-requeue-after", &queue, &reconciler, &clock);
  reconciler.Set({absl::InvalidArgumentError("bad fragment"), absl::Seconds(1)});
  LogCapture capture;
  queue.Add("render");
  ASSERT_TRUE(controller.ProcessNextItem());
  clock.Advance(absl::Hours(1));
  EXPECT_EQ(queue.Len(), 0);
}

TEST(ControllerTest, CancelledDuringShutdownIsForgotten) {
  FakeClock clock;
  WorkQueue queue("cancel", &clock, Backoff());
  // The reconciler sees the shutdown begin while it works, as a reconciler
  // cut short by Stop() would.
  class ShutdownDuringReconcile final : public Reconciler {
   public:
    explicit ShutdownDuringReconcile(WorkQueue* q) : q_(q) {}
    ReconcileResult Reconcile(const std::string&) override {
      q_->ShutDown();
      return {absl::CancelledError("stopping"), std::nullopt};
    }
    WorkQueue* q_;
  } reconciler(&queue);
  RecordingObserver observer;
  Controller controller("cancel", &queue, &reconciler, &clock, &observer);
  queue.AddRateLimited("render");  // one failure on record
  clock.Advance(absl::Milliseconds(5));
  ASSERT_TRUE(controller.ProcessNextItem());
  EXPECT_EQ(queue.NumRequeues("render"), 0);
  EXPECT_EQ(observer.results(), std::vector<std::string>{"error"});
  EXPECT_FALSE(controller.ProcessNextItem());
}

TEST(ControllerTest, ObserverSeesDurationOnTheClock) {
  FakeClock clock;
  WorkQueue queue("duration", &clock, Backoff());
  class SlowReconciler final : public Reconciler {
   public:
    explicit SlowReconciler(FakeClock* c) : c_(c) {}
    ReconcileResult Reconcile(const std::string&) override {
      c_->Advance(absl::Milliseconds(250));
      return {};
    }
    FakeClock* c_;
  } reconciler(&clock);
  RecordingObserver observer;
  Controller controller("duration", &queue, &reconciler, &clock, &observer);
  queue.Add("render");
  ASSERT_TRUE(controller.ProcessNextItem());
  EXPECT_EQ(observer.took(), std::vector<absl::Duration>{absl::Milliseconds(250)});
}

// Records every key it sees, and fails the test if two workers ever hold the
// same key at once.
class OverlapDetector final : public Reconciler {
 public:
  ReconcileResult Reconcile(const std::string& key) override {
    {
      absl::MutexLock lock(&mu_);
      if (++active_[key] > 1) overlap_ = true;
      ++total_;
    }
    // Give another worker a chance to grab the same key if the queue let it.
    std::this_thread::yield();
    {
      absl::MutexLock lock(&mu_);
      --active_[key];
    }
    return {};
  }
  bool overlap() {
    absl::MutexLock lock(&mu_);
    return overlap_;
  }
  int total() {
    absl::MutexLock lock(&mu_);
    return total_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, int> active_ ABSL_GUARDED_BY(mu_);
  bool overlap_ ABSL_GUARDED_BY(mu_) = false;
  int total_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(ControllerTest, KeyNeverReconciledByTwoWorkersAtOnce) {
  FakeClock clock;
  WorkQueue queue("overlap", &clock, Backoff());
  OverlapDetector reconciler;
  RecordingObserver observer;
  Controller controller("overlap", &queue, &reconciler, &clock, &observer);
  controller.Start(4);
  constexpr int kRounds = 500;
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&queue] {
      for (int i = 0; i < kRounds; ++i) queue.Add(absl::StrCat("key", i % 3));
    });
  }
  for (auto& t : producers) t.join();
  ASSERT_TRUE(Eventually([&] { return queue.Len() == 0; }));
  controller.Stop();
  EXPECT_FALSE(reconciler.overlap());
  EXPECT_GE(reconciler.total(), 3);
  EXPECT_EQ(static_cast<int>(observer.results().size()), reconciler.total());
}

TEST(ControllerTest, StopDrainsInFlightReconcile) {
  FakeClock clock;
  WorkQueue queue("drain", &clock, Backoff());
  class BlockingReconciler final : public Reconciler {
   public:
    ReconcileResult Reconcile(const std::string&) override {
      entered.Notify();
      release.WaitForNotification();
      finished = true;
      return {};
    }
    absl::Notification entered;
    absl::Notification release;
    std::atomic<bool> finished{false};
  } reconciler;
  Controller controller("drain", &queue, &reconciler, &clock);
  controller.Start(2);
  queue.Add("render");
  ASSERT_TRUE(reconciler.entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::Notification stopped;
  std::thread stopper([&] {
    controller.Stop();
    stopped.Notify();
  });
  // Stop() must wait for the reconcile in flight (bounded real wait).
  EXPECT_FALSE(stopped.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  EXPECT_TRUE(queue.ShuttingDown());
  reconciler.release.Notify();
  ASSERT_TRUE(stopped.WaitForNotificationWithTimeout(absl::Seconds(10)));
  stopper.join();
  EXPECT_TRUE(reconciler.finished.load());
  controller.Stop();  // second call is a no-op
  queue.Add("late");
  EXPECT_EQ(queue.Len(), 0);
}

TEST(ControllerTest, StopWithoutStartAndTwice) {
  FakeClock clock;
  WorkQueue queue("idle", &clock, nullptr);
  ScriptedReconciler reconciler;
  Controller controller("idle", &queue, &reconciler, &clock);
  controller.Stop();
  controller.Stop();
  EXPECT_TRUE(queue.ShuttingDown());
  controller.Start(2);  // ignored after Stop
  EXPECT_FALSE(controller.ProcessNextItem());
}

TEST(ControllerTest, WorkersProcessDelayedKeysWhenTheClockMoves) {
  FakeClock clock;
  WorkQueue queue("delayed", &clock, Backoff());
  ScriptedReconciler reconciler;
  Controller controller("delayed", &queue, &reconciler, &clock);
  controller.Start(2);
  queue.AddAfter("reload", absl::Seconds(5));
  ASSERT_TRUE(Eventually([&] { return clock.Waiters() >= 2; }));
  EXPECT_EQ(reconciler.Calls("reload"), 0);
  clock.Advance(absl::Seconds(5));
  EXPECT_TRUE(Eventually([&] { return reconciler.Calls("reload") == 1; }));
  controller.Stop();
}

// --- ReconcilerMux -----------------------------------------------------------

class NamedReconciler final : public Reconciler {
 public:
  explicit NamedReconciler(std::string name) : name_(std::move(name)) {}
  ReconcileResult Reconcile(const std::string& key) override {
    absl::MutexLock lock(&mu_);
    keys_.push_back(key);
    return {};
  }
  std::vector<std::string> keys() {
    absl::MutexLock lock(&mu_);
    return keys_;
  }

 private:
  const std::string name_;
  absl::Mutex mu_;
  std::vector<std::string> keys_ ABSL_GUARDED_BY(mu_);
};

TEST(ReconcilerMuxTest, RoutesByExactKeyThenLongestPrefix) {
  NamedReconciler render("render"), reload("reload"), events("events"), kube("kube");
  ReconcilerMux mux;
  mux.Handle("render", &render);
  mux.Handle("reload", &reload);
  mux.HandlePrefix("event/", &events);
  mux.HandlePrefix("event/kube/", &kube);

  EXPECT_TRUE(mux.Reconcile("render").status.ok());
  EXPECT_TRUE(mux.Reconcile("reload").status.ok());
  EXPECT_TRUE(mux.Reconcile("event/ns/name").status.ok());
  EXPECT_TRUE(mux.Reconcile("event/kube/ns/name").status.ok());
  EXPECT_EQ(render.keys(), std::vector<std::string>{"render"});
  EXPECT_EQ(reload.keys(), std::vector<std::string>{"reload"});
  EXPECT_EQ(events.keys(), std::vector<std::string>{"event/ns/name"});
  EXPECT_EQ(kube.keys(), std::vector<std::string>{"event/kube/ns/name"});
}

TEST(ReconcilerMuxTest, UnroutedKeyIsTerminalNotFound) {
  NamedReconciler render("render");
  ReconcilerMux mux;
  mux.Handle("render", &render);
  mux.HandlePrefix("event/", &render);
  for (const char* key : {"renderx", "rende", "event", "other/x"}) {
    ReconcileResult r = mux.Reconcile(key);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kNotFound) << key;
    EXPECT_NE(r.status.message().find(key), absl::string_view::npos) << key;
  }
  EXPECT_TRUE(render.keys().empty());

  // Through a controller: logged and forgotten, never retried.
  FakeClock clock;
  WorkQueue queue("mux", &clock, Backoff());
  RecordingObserver observer;
  Controller controller("mux", &queue, &mux, &clock, &observer);
  LogCapture capture;
  queue.Add("nobody");
  ASSERT_TRUE(controller.ProcessNextItem());
  EXPECT_EQ(observer.results(), std::vector<std::string>{"error"});
  EXPECT_NE(capture.Contents().find("nobody"), std::string::npos);
}

}  // namespace
}  // namespace promconf::runtime
