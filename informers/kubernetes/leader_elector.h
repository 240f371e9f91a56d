#pragma once

// Leader election on a coordination.k8s.io/v1 Lease with client-go's
// semantics (k8s.io/client-go/tools/leaderelection):
//
// - One attempt (TryAcquireOrRenew) gets the Lease, creates it when it is
//   missing, and takes or renews it with an update carrying the
//   resourceVersion it read: a concurrent writer makes it 409 and the attempt
//   loses.
// - Expiry is judged by OBSERVED time: the local time at which this replica
//   last saw the Lease's record change, plus the record's
//   leaseDurationSeconds. The holder's renewTime is never compared with the
//   local clock, so skewed clocks cannot make a live lease look expired.
// - A Lease with an empty holderIdentity is free at once (a released lease).
// - A follower retries every retry_period x [1, 2.2) (client-go's
//   JitterFactor 1.2); the leader renews every retry_period and steps down
//   when no renewal has succeeded for renew_deadline: it stops writing FIRST
//   (on_stopped_leading returns only when no write is in flight), then stops
//   renewing.
// - Release() (SIGTERM, ReleaseOnCancel) stops writing, then writes the
//   Lease with holderIdentity "" and leaseDurationSeconds 1 so a successor
//   takes over at its next retry instead of waiting out the lease.
//
// Safety margin: the leader stops writing renew_deadline after its last
// successful renewal by its own clock, measured from before that renewal was
// sent; a follower waits lease_duration from when it saw the renewal land.
// With renew_deadline < lease_duration (config.cc enforces it) the old
// leader's writes end before a successor can start, as long as the clocks
// run at the same rate (skew in absolute time does not matter).
// CanWrite() is that check, for writers that must not trust the elector
// thread to be on time.
//
// Thread-safety: Step() and Release() are called from one thread (Run()'s,
// or a test's); IsLeader(), CanWrite(), Holder() from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "informers/kubernetes/kube_client.h"
#include "util/clock.h"

namespace promconf::kube {

// The Lease's spec, as client-go's LeaderElectionRecord.
struct LeaseRecord {
  std::string holder_identity;
  int64_t lease_duration_seconds = 0;
  std::string acquire_time;  // RFC 3339 MicroTime, as written
  std::string renew_time;
  int64_t lease_transitions = 0;
  bool operator==(const LeaseRecord&) const = default;
};

// Where the Lease lives. KubeLeaseLock is the API; tests use an in-memory one.
class LeaseLock {
 public:
  struct Observed {
    LeaseRecord record;
    std::string resource_version;
  };
  virtual ~LeaseLock() = default;
  // nullopt when the Lease does not exist (404).
  virtual absl::StatusOr<std::optional<Observed>> Get() = 0;
  // kAlreadyExists when someone created it first.
  virtual absl::Status Create(const LeaseRecord& record) = 0;
  // kAborted on 409 (someone wrote it since `resource_version`).
  virtual absl::Status Update(const LeaseRecord& record, const std::string& resource_version) = 0;
  // "monitoring/promconf", for logs.
  virtual std::string Describe() const = 0;
};

// The Lease through the API: GET/POST/PUT on
// /apis/coordination.k8s.io/v1/namespaces/NS/leases[/NAME].
class KubeLeaseLock final : public LeaseLock {
 public:
  KubeLeaseLock(std::unique_ptr<KubeClient> client, std::string ns, std::string name,
                absl::Duration request_timeout);
  absl::StatusOr<std::optional<Observed>> Get() override;
  absl::Status Create(const LeaseRecord& record) override;
  absl::Status Update(const LeaseRecord& record, const std::string& resource_version) override;
  std::string Describe() const override { return ns_ + "/" + name_; }
  // Aborts a request in flight (Stop()). Thread-safe.
  void Cancel() { client_->Cancel(); }

 private:
  std::string Body(const LeaseRecord& record, const std::string& resource_version) const;

  std::unique_ptr<KubeClient> client_;
  const std::string ns_, name_;
  const absl::Duration request_timeout_;
};

// The Lease's JSON -> record and resourceVersion. Exposed for tests.
absl::StatusOr<LeaseLock::Observed> ParseLease(absl::string_view json);
// MicroTime as the API server writes it: 2006-01-02T15:04:05.000000Z.
std::string FormatMicroTime(absl::Time t);

struct LeaderElectorOptions {
  std::string identity;  // unique per replica (hostname + random)
  absl::Duration lease_duration = absl::Seconds(15);
  absl::Duration renew_deadline = absl::Seconds(10);
  absl::Duration retry_period = absl::Seconds(2);
  // Called on the elector's thread. on_stopped_leading must return only when
  // the caller has stopped writing.
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  // A different holder was observed ("" = the lease is free).
  std::function<void(const std::string& holder)> on_new_leader;
  Clock* clock = Clock::Real();
  uint64_t seed = 0;  // jitter; 0 = random
};

class LeaderElector {
 public:
  LeaderElector(LeaderElectorOptions options, std::unique_ptr<LeaseLock> lock);
  ~LeaderElector();

  // One round of client-go's loop: an attempt, then the leadership change it
  // implies. Returns how long to wait before the next round.
  absl::Duration Step();
  // One attempt to take or renew the Lease; true when this replica holds it
  // afterwards. Records the observed record and time.
  bool TryAcquireOrRenew();
  // Stops writing (on_stopped_leading), then frees the Lease if this replica
  // holds it. Idempotent.
  void Release();

  // Runs Step() on a thread until Stop(); Stop() releases the lease.
  void Start();
  void Stop();

  bool IsLeader() const;
  // Leader, and the last successful renewal is younger than renew_deadline
  // by this replica's clock.
  bool CanWrite() const;
  // The holder last observed ("" when free or unknown).
  std::string Holder() const;
  const std::string& identity() const { return options_.identity; }

 private:
  void BecomeLeader(absl::Time now);
  void StepDown(const char* why);
  absl::Duration JitteredRetry();
  // The outcome of creating or updating the lease with `record` at `now`:
  // true, and `record` observed, on success.
  bool Wrote(const absl::Status& s, const LeaseRecord& record, absl::Time now);

  // Constant after construction.
  const LeaderElectorOptions options_;
  const std::unique_ptr<LeaseLock> lock_;
  Clock* const clock_;

  // Only touched by the stepping thread.
  std::optional<LeaseRecord> observed_record_;
  std::string observed_rv_;
  absl::Time observed_time_ = absl::InfinitePast();
  std::mt19937_64 rng_;
  bool released_ = false;

  mutable absl::Mutex mu_;
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time renewed_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string holder_ ABSL_GUARDED_BY(mu_);

  absl::Notification stop_;
  std::unique_ptr<std::thread> thread_;
};

}  // namespace promconf::kube
