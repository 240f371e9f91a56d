#include "informers/kubernetes/leader_elector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "informers/json_members.h"
#include "informers/kubernetes/object_json.h"
#include "rapidjson/document.h"
#include "util/log.h"

namespace promconf::kube {
namespace {

// client-go's JitterFactor for the acquire loop.
constexpr double kJitterFactor = 1.2;

std::string LeasePath(const std::string& ns, const std::string& name) {
  return absl::StrCat("/apis/coordination.k8s.io/v1/namespaces/", ns, "/leases",
                      name.empty() ? "" : "/", name);
}

int64_t IntMember(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return 0;
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsInt64()) return 0;
  return it->value.GetInt64();
}

}  // namespace

std::string FormatMicroTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<LeaseLock::Observed> ParseLease(absl::string_view json) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject()) {
    return absl::InvalidArgumentError("lease: the response is not a JSON object");
  }
  LeaseLock::Observed o;
  auto md = d.FindMember("metadata");
  if (md != d.MemberEnd()) o.resource_version = JsonStringMember(md->value, "resourceVersion");
  if (o.resource_version.empty()) {
    return absl::InvalidArgumentError("lease: no metadata.resourceVersion");
  }
  auto spec = d.FindMember("spec");
  if (spec != d.MemberEnd() && spec->value.IsObject()) {
    const rapidjson::Value& s = spec->value;
    o.record.holder_identity = JsonStringMember(s, "holderIdentity");
    o.record.lease_duration_seconds = IntMember(s, "leaseDurationSeconds");
    o.record.acquire_time = JsonStringMember(s, "acquireTime");
    o.record.renew_time = JsonStringMember(s, "renewTime");
    o.record.lease_transitions = IntMember(s, "leaseTransitions");
  }
  return o;
}

KubeLeaseLock::KubeLeaseLock(std::unique_ptr<KubeClient> client, std::string ns,
                             std::string name, absl::Duration request_timeout)
    : client_(std::move(client)),
      ns_(std::move(ns)),
      name_(std::move(name)),
      request_timeout_(request_timeout) {
  client_->SetWriteTimeout(request_timeout_);
}

std::string KubeLeaseLock::Body(const LeaseRecord& r, const std::string& resource_version) const {
  ObjectJsonWriter w("coordination.k8s.io/v1", "Lease", name_, ns_, resource_version);
  w.EndMetadata();
  w.StartObject("spec");
  // An empty holder is written as "" (client-go's release), not omitted: a
  // PUT replaces the spec either way.
  w.Key("holderIdentity");
  w.String(r.holder_identity);
  w.Key("leaseDurationSeconds");
  w.Int64(r.lease_duration_seconds);
  if (!r.acquire_time.empty()) {
    w.Key("acquireTime");
    w.String(r.acquire_time);
  }
  if (!r.renew_time.empty()) {
    w.Key("renewTime");
    w.String(r.renew_time);
  }
  w.Key("leaseTransitions");
  w.Int64(r.lease_transitions);
  w.EndObject();
  return w.Finish();
}

absl::StatusOr<std::optional<LeaseLock::Observed>> KubeLeaseLock::Get() {
  absl::StatusOr<HttpResponse> r = client_->Get(LeasePath(ns_, name_), request_timeout_);
  if (!r.ok()) return r.status();
  if (r->status == 404) return std::nullopt;
  if (r->status != 200) return HttpStatusError(*r, "get lease", false);
  absl::StatusOr<Observed> o = ParseLease(r->body);
  if (!o.ok()) return o.status();
  return std::optional<Observed>(*std::move(o));
}

absl::Status KubeLeaseLock::Create(const LeaseRecord& record) {
  absl::StatusOr<HttpResponse> r = client_->Post(LeasePath(ns_, ""), Body(record, ""));
  if (!r.ok()) return r.status();
  if (r->status == 201 || r->status == 200) return absl::OkStatus();
  return HttpStatusError(*r, "create lease", true);
}

absl::Status KubeLeaseLock::Update(const LeaseRecord& record,
                                   const std::string& resource_version) {
  absl::StatusOr<HttpResponse> r =
      client_->Put(LeasePath(ns_, name_), Body(record, resource_version));
  if (!r.ok()) return r.status();
  if (r->status == 200) return absl::OkStatus();
  return HttpStatusError(*r, "update lease", false);
}

LeaderElector::LeaderElector(LeaderElectorOptions options, std::unique_ptr<LeaseLock> lock)
    : options_(std::move(options)),
      lock_(std::move(lock)),
      clock_(options_.clock),
      rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {}

LeaderElector::~LeaderElector() { Stop(); }

bool LeaderElector::TryAcquireOrRenew() {
  const absl::Time now = clock_->Now();
  LeaseRecord record;
  record.holder_identity = options_.identity;
  record.lease_duration_seconds =
      std::max<int64_t>(1, absl::ToInt64Seconds(options_.lease_duration));
  record.acquire_time = record.renew_time = FormatMicroTime(now);

  absl::StatusOr<std::optional<LeaseLock::Observed>> got = lock_->Get();
  if (!got.ok()) {
    LOG_WARN("leader election: cannot read the lease",
             {{"lease", lock_->Describe()}, {"err", got.status().message()}});
    return false;
  }
  if (!got->has_value()) {
    return Wrote(lock_->Create(record), record, now);
  }
  const LeaseLock::Observed& old = **got;
  if (!observed_record_ || *observed_record_ != old.record) {
    observed_record_ = old.record;
    observed_time_ = now;
  }
  const LeaseRecord& o = old.record;
  if (!o.holder_identity.empty() && o.holder_identity != options_.identity &&
      observed_time_ + absl::Seconds(o.lease_duration_seconds) > now) {
    return false;  // held by another replica, not expired by our observation
  }
  if (o.holder_identity == options_.identity) {
    record.acquire_time = o.acquire_time;
    record.lease_transitions = o.lease_transitions;
  } else {
    record.lease_transitions = o.lease_transitions + 1;
  }
  return Wrote(lock_->Update(record, old.resource_version), record, now);
}

bool LeaderElector::Wrote(const absl::Status& s, const LeaseRecord& record, absl::Time now) {
  if (!s.ok()) {
    // AlreadyExists (a create) or Aborted (an update's 409): another replica
    // wrote first and holds the lease now; nothing to warn about.
    if (!absl::IsAlreadyExists(s) && !absl::IsAborted(s)) {
      LOG_WARN("leader election: cannot write the lease",
               {{"lease", lock_->Describe()}, {"err", s.message()}});
    }
    return false;
  }
  observed_record_ = record;
  observed_time_ = now;
  return true;
}

absl::Duration LeaderElector::JitteredRetry() {
  std::uniform_real_distribution<double> u(0.0, kJitterFactor);
  return options_.retry_period * (1.0 + u(rng_));
}

void LeaderElector::BecomeLeader(absl::Time now) {
  {
    absl::MutexLock lock(&mu_);
    leader_ = true;
    renewed_at_ = now;
  }
  LOG_INFO("leader election: became the leader",
           {{"lease", lock_->Describe()}, {"identity", options_.identity}});
  if (options_.on_started_leading) options_.on_started_leading();
}

void LeaderElector::StepDown(const char* why) {
  {
    absl::MutexLock lock(&mu_);
    if (!leader_) return;
    leader_ = false;  // CanWrite() is false from here on
  }
  LOG_WARN("leader election: stopped leading",
           {{"lease", lock_->Describe()}, {"identity", options_.identity}, {"why", why}});
  // Stop writing first; only then does the caller stop renewing.
  if (options_.on_stopped_leading) options_.on_stopped_leading();
}

absl::Duration LeaderElector::Step() {
  const absl::Time started = clock_->Now();
  const bool ok = TryAcquireOrRenew();
  const std::string holder = observed_record_ ? observed_record_->holder_identity : "";
  bool new_holder;
  {
    absl::MutexLock lock(&mu_);
    new_holder = holder != holder_;
    holder_ = holder;
  }
  if (new_holder && options_.on_new_leader) options_.on_new_leader(holder);
  if (ok) {
    if (!IsLeader()) {
      BecomeLeader(started);
    } else {
      absl::MutexLock lock(&mu_);
      // The renewal's time is when it was sent: a follower's lease_duration
      // starts no earlier than that.
      renewed_at_ = started;
    }
    return options_.retry_period;
  }
  if (!IsLeader()) return JitteredRetry();
  if (!holder.empty() && holder != options_.identity) {
    StepDown("another replica holds the lease");
    return JitteredRetry();
  }
  absl::Time renewed_at;
  {
    absl::MutexLock lock(&mu_);
    renewed_at = renewed_at_;
  }
  if (clock_->Now() - renewed_at >= options_.renew_deadline) {
    StepDown("no renewal succeeded within renew_deadline");
    return JitteredRetry();
  }
  return options_.retry_period;
}

void LeaderElector::Release() {
  if (released_) return;
  released_ = true;
  if (!IsLeader()) return;
  StepDown("released");
  // Only a lease this replica still holds is released; a 409 means someone
  // else already took it.
  absl::StatusOr<std::optional<LeaseLock::Observed>> got = lock_->Get();
  if (!got.ok() || !got->has_value() || (**got).record.holder_identity != options_.identity) {
    return;
  }
  const absl::Time now = clock_->Now();
  LeaseRecord record;
  record.lease_duration_seconds = 1;
  record.acquire_time = record.renew_time = FormatMicroTime(now);
  record.lease_transitions = (**got).record.lease_transitions;
  absl::Status s = lock_->Update(record, (**got).resource_version);
  if (!s.ok()) {
    LOG_WARN("leader election: cannot release the lease",
             {{"lease", lock_->Describe()}, {"err", s.message()}});
    return;
  }
  observed_record_ = record;
  observed_time_ = now;
  LOG_INFO("leader election: released the lease", {{"lease", lock_->Describe()}});
}

void LeaderElector::Start() {
  thread_ = std::make_unique<std::thread>([this] {
    while (!stop_.HasBeenNotified()) {
      const absl::Duration wait = Step();
      clock_->WaitForNotification(&stop_, wait);
    }
    Release();
  });
}

void LeaderElector::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_ != nullptr && thread_->joinable()) thread_->join();
}

bool LeaderElector::IsLeader() const {
  absl::MutexLock lock(&mu_);
  return leader_;
}

bool LeaderElector::CanWrite() const {
  absl::MutexLock lock(&mu_);
  return leader_ && clock_->Now() - renewed_at_ < options_.renew_deadline;
}

std::string LeaderElector::Holder() const {
  absl::MutexLock lock(&mu_);
  return holder_;
}

}  // namespace promconf::kube
