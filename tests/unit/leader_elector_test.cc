// The leader-election state machine against an in-memory Lease and a fake
// clock: no server, no sleeping.

#include "informers/kubernetes/leader_elector.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace promconf::kube {
namespace {

// The API server's side of one Lease: resourceVersion, 404, 409, faults.
struct LeaseState {
  absl::Mutex mu;
  std::optional<LeaseRecord> record;
  int64_t rv = 1;
  int fail_next = 0;        // requests that fail with kUnavailable
  bool conflict_next = false;  // the next Update loses a race (409)
  std::vector<std::string> log;  // "update:<holder>", "stopped:<id>", ...
};

class MemoryLeaseLock final : public LeaseLock {
 public:
  explicit MemoryLeaseLock(LeaseState* s) : s_(s) {}
  absl::StatusOr<std::optional<Observed>> Get() override {
    absl::MutexLock l(&s_->mu);
    if (s_->fail_next > 0) {
      --s_->fail_next;
      return absl::UnavailableError("injected");
    }
    if (!s_->record) return std::nullopt;
    return std::optional<Observed>(Observed{*s_->record, absl::StrCat(s_->rv)});
  }
  absl::Status Create(const LeaseRecord& r) override {
    absl::MutexLock l(&s_->mu);
    if (s_->record) return absl::AlreadyExistsError("exists");
    s_->record = r;
    ++s_->rv;
    s_->log.push_back("create:" + r.holder_identity);
    return absl::OkStatus();
  }
  absl::Status Update(const LeaseRecord& r, const std::string& rv) override {
    absl::MutexLock l(&s_->mu);
    if (s_->fail_next > 0) {
      --s_->fail_next;
      return absl::UnavailableError("injected");
    }
    if (s_->conflict_next || rv != absl::StrCat(s_->rv)) {
      s_->conflict_next = false;
      ++s_->rv;  // someone else wrote it
      return absl::AbortedError("409");
    }
    s_->record = r;
    ++s_->rv;
    s_->log.push_back("update:" + r.holder_identity);
    return absl::OkStatus();
  }
  std::string Describe() const override { return "test/lease"; }

 private:
  LeaseState* s_;
};

class LeaderElectorTest : public ::testing::Test {
 protected:
  std::unique_ptr<LeaderElector> NewElector(const std::string& id, FakeClock* clock) {
    LeaderElectorOptions o;
    o.identity = id;
    o.lease_duration = absl::Seconds(15);
    o.renew_deadline = absl::Seconds(10);
    o.retry_period = absl::Seconds(2);
    o.clock = clock;
    o.seed = 42;
    o.on_started_leading = [this, id] { Log("started:" + id); };
    o.on_stopped_leading = [this, id] { Log("stopped:" + id); };
    return std::make_unique<LeaderElector>(o, std::make_unique<MemoryLeaseLock>(&state_));
  }
  void Log(const std::string& s) {
    absl::MutexLock l(&state_.mu);
    state_.log.push_back(s);
  }
  LeaseRecord Record() {
    absl::MutexLock l(&state_.mu);
    return *state_.record;
  }
  std::vector<std::string> TakeLog() {
    absl::MutexLock l(&state_.mu);
    return std::move(state_.log);
  }

  LeaseState state_;
  // Two replicas whose clocks disagree by an hour: only rates matter.
  FakeClock clock_a_{absl::FromUnixSeconds(1'700'000'000)};
  FakeClock clock_b_{absl::FromUnixSeconds(1'700'003'600)};
  void Advance(absl::Duration d) {
    clock_a_.Advance(d);
    clock_b_.Advance(d);
  }
};

TEST_F(LeaderElectorTest, CreatesTheLeaseAndOnlyOneLeads) {
  auto a = NewElector("a", &clock_a_);
  auto b = NewElector("b", &clock_b_);
  EXPECT_EQ(a->Step(), absl::Seconds(2));
  absl::Duration wait = b->Step();
  EXPECT_TRUE(a->IsLeader());
  EXPECT_TRUE(a->CanWrite());
  EXPECT_FALSE(b->IsLeader());
  EXPECT_EQ(b->Holder(), "a");
  // A follower retries at retry_period x [1, 2.2) (client-go's jitter).
  EXPECT_GE(wait, absl::Seconds(2));
  EXPECT_LT(wait, absl::Seconds(2) * 2.2);
  EXPECT_EQ(Record().holder_identity, "a");
  EXPECT_EQ(Record().lease_duration_seconds, 15);
  EXPECT_EQ(Record().lease_transitions, 0);
  EXPECT_EQ(TakeLog(), (std::vector<std::string>{"create:a", "started:a"}));
}

TEST_F(LeaderElectorTest, RenewKeepsAcquireTimeAndTransitions) {
  auto a = NewElector("a", &clock_a_);
  a->Step();
  const LeaseRecord first = Record();
  Advance(absl::Seconds(2));
  a->Step();
  EXPECT_EQ(Record().acquire_time, first.acquire_time);
  EXPECT_NE(Record().renew_time, first.renew_time);
  EXPECT_EQ(Record().lease_transitions, 0);
}

TEST_F(LeaderElectorTest, TakesOverOnlyAfterLeaseDurationOfObservedTime) {
  auto a = NewElector("a", &clock_a_);
  auto b = NewElector("b", &clock_b_);
  a->Step();
  b->Step();  // b first sees a's record now
  // a dies. Until 15 s after b saw the record change, b must wait.
  Advance(absl::Seconds(14));
  b->Step();
  EXPECT_FALSE(b->IsLeader());
  Advance(absl::Seconds(1));
  b->Step();
  EXPECT_TRUE(b->IsLeader());
  EXPECT_EQ(Record().holder_identity, "b");
  EXPECT_EQ(Record().lease_transitions, 1);
}

TEST_F(LeaderElectorTest, ClockSkewDoesNotExpireALiveLease) {
  // The holder's renewTime says the lease expired in 2001: b ignores it and
  // counts from when it first saw this record.
  {
    absl::MutexLock l(&state_.mu);
    state_.record = LeaseRecord{"a", 15, "2001-01-01T00:00:00.000000Z",
                                "2001-01-01T00:00:00.000000Z", 3};
  }
  auto b = NewElector("b", &clock_b_);
  b->Step();
  EXPECT_FALSE(b->IsLeader());
  Advance(absl::Seconds(10));
  // The holder renews (its record changes): b's observation restarts.
  {
    absl::MutexLock l(&state_.mu);
    state_.record->renew_time = "2001-01-01T00:00:10.000000Z";
    ++state_.rv;
  }
  b->Step();
  Advance(absl::Seconds(14));
  b->Step();
  EXPECT_FALSE(b->IsLeader());
  Advance(absl::Seconds(1));
  b->Step();
  EXPECT_TRUE(b->IsLeader());
  EXPECT_EQ(Record().lease_transitions, 4);
}

TEST_F(LeaderElectorTest, ConflictLosesTheRace) {
  {
    absl::MutexLock l(&state_.mu);
    state_.record = LeaseRecord{"", 1, "", "", 0};  // released: free at once
    state_.conflict_next = true;
  }
  auto b = NewElector("b", &clock_b_);
  b->Step();
  EXPECT_FALSE(b->IsLeader());
  b->Step();
  EXPECT_TRUE(b->IsLeader());
}

TEST_F(LeaderElectorTest, StepsDownWhenRenewalFailsForRenewDeadline) {
  auto a = NewElector("a", &clock_a_);
  a->Step();
  TakeLog();
  {
    absl::MutexLock l(&state_.mu);
    state_.fail_next = 1000;
  }
  // Renewals fail every 2 s; a leads (and may write) until 10 s after its
  // last successful renewal.
  for (int i = 0; i < 4; ++i) {
    Advance(absl::Seconds(2));
    a->Step();
    EXPECT_TRUE(a->IsLeader()) << i;
  }
  Advance(absl::Milliseconds(1999));
  EXPECT_TRUE(a->CanWrite());
  Advance(absl::Milliseconds(1));
  // Writers stop at the deadline even before the elector's thread notices.
  EXPECT_FALSE(a->CanWrite());
  a->Step();
  EXPECT_FALSE(a->IsLeader());
  EXPECT_EQ(TakeLog(), (std::vector<std::string>{"stopped:a"}));
}

TEST_F(LeaderElectorTest, StepsDownAtOnceWhenAnotherHoldsTheLease) {
  auto a = NewElector("a", &clock_a_);
  a->Step();
  {
    absl::MutexLock l(&state_.mu);
    state_.record->holder_identity = "intruder";
    ++state_.rv;
  }
  Advance(absl::Seconds(2));
  a->Step();
  EXPECT_FALSE(a->IsLeader());
  EXPECT_EQ(a->Holder(), "intruder");
}

TEST_F(LeaderElectorTest, ReleaseStopsWritingFirstAndFreesTheLease) {
  auto a = NewElector("a", &clock_a_);
  auto b = NewElector("b", &clock_b_);
  a->Step();
  b->Step();
  TakeLog();
  a->Release();
  EXPECT_FALSE(a->IsLeader());
  EXPECT_EQ(TakeLog(), (std::vector<std::string>{"stopped:a", "update:"}));
  EXPECT_EQ(Record().holder_identity, "");
  EXPECT_EQ(Record().lease_duration_seconds, 1);
  // The successor does not wait out a lease: the next retry takes it.
  b->Step();
  EXPECT_TRUE(b->IsLeader());
  EXPECT_EQ(Record().lease_transitions, 1);
  a->Release();  // idempotent
  EXPECT_EQ(Record().holder_identity, "b");
}

TEST_F(LeaderElectorTest, ReleaseByAFollowerWritesNothing) {
  auto a = NewElector("a", &clock_a_);
  auto b = NewElector("b", &clock_b_);
  a->Step();
  b->Step();
  TakeLog();
  b->Release();
  EXPECT_TRUE(TakeLog().empty());
  EXPECT_EQ(Record().holder_identity, "a");
}

TEST_F(LeaderElectorTest, RunsOnItsThreadAndReleasesOnStop) {
  auto a = NewElector("a", &clock_a_);
  a->Start();
  for (int i = 0; i < 5000 && !a->IsLeader(); ++i) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_TRUE(a->IsLeader());
  // Renewals happen as the (fake) time passes.
  for (int i = 0; i < 3; ++i) {
    clock_a_.Advance(absl::Seconds(2));
    for (int k = 0; k < 5000 && Record().renew_time == Record().acquire_time; ++k) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  EXPECT_NE(Record().renew_time, Record().acquire_time);
  a->Stop();
  EXPECT_FALSE(a->IsLeader());
  EXPECT_EQ(Record().holder_identity, "");
  EXPECT_EQ(Record().lease_duration_seconds, 1);
  a->Stop();  // idempotent
}

TEST_F(LeaderElectorTest, ParsesAndFormatsTheApiServersLease) {
  auto o = ParseLease(R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
      "metadata":{"name":"p","namespace":"m","resourceVersion":"17"},
      "spec":{"holderIdentity":"x","leaseDurationSeconds":15,
              "acquireTime":"2026-01-01T00:00:00.000000Z","renewTime":"2026-01-01T00:00:02.000000Z",
              "leaseTransitions":4}})");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->resource_version, "17");
  EXPECT_EQ(o->record, (LeaseRecord{"x", 15, "2026-01-01T00:00:00.000000Z",
                                    "2026-01-01T00:00:02.000000Z", 4}));
  EXPECT_FALSE(ParseLease("[]").ok());
  EXPECT_FALSE(ParseLease(R"({"metadata":{}})").ok());
  EXPECT_EQ(FormatMicroTime(absl::FromUnixMicros(1'700'000'000'123'456)),
            "2023-11-14T22:13:20.123456Z");
}

}  // namespace
}  // namespace promconf::kube
