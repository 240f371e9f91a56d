#include "informers/kubernetes/kube_events.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "util/dropped.h"
#include "util/log.h"

namespace promconf::kube {
namespace {

// Kubernetes truncates Event messages to 1 KiB; so do we, before sending.
constexpr size_t kMaxMessage = 1024;

}  // namespace

bool KubeObjectOfDocument(absl::string_view document, std::string* ns, std::string* kind,
                          std::string* name) {
  std::vector<absl::string_view> parts = absl::StrSplit(document, absl::MaxSplits('/', 2));
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) return false;
  *ns = std::string(parts[0]);
  absl::string_view object = parts[1];
  if (absl::ConsumePrefix(&object, "secret:")) {
    *kind = "Secret";
  } else {
    *kind = "ConfigMap";
  }
  *name = std::string(object);
  return !name->empty();
}

std::string KubeEventJson(const KubeEvent& e, absl::Time now, absl::string_view component) {
  const std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now, absl::UTCTimeZone());
  std::string message = e.message.substr(0, kMaxMessage);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&w](absl::string_view k, absl::string_view v) {
    w.Key(k.data(), k.size());
    w.String(v.data(), v.size());
  };
  w.StartObject();
  str("apiVersion", "v1");
  str("kind", "Event");
  w.Key("metadata");
  w.StartObject();
  str("generateName", absl::StrCat(e.name, "."));
  str("namespace", e.ns);
  w.EndObject();
  w.Key("involvedObject");
  w.StartObject();
  str("apiVersion", "v1");
  str("kind", e.kind);
  str("namespace", e.ns);
  str("name", e.name);
  w.EndObject();
  str("reason", e.reason);
  str("message", message);
  str("type", "Warning");
  w.Key("source");
  w.StartObject();
  str("component", component);
  w.EndObject();
  str("reportingComponent", component);
  str("firstTimestamp", ts);
  str("lastTimestamp", ts);
  w.Key("count");
  w.Int(1);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

KubeEventRecorder::KubeEventRecorder(std::shared_ptr<KubeCredentials> credentials,
                                     std::string component, size_t max_queued)
    : component_(std::move(component)), max_queued_(max_queued), client_(std::move(credentials)) {
  thread_ = std::thread([this] { Run(); });
}

KubeEventRecorder::~KubeEventRecorder() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  client_.Cancel();
  thread_.join();
}

void KubeEventRecorder::Warn(KubeEvent event) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || forbidden_.count(event.ns)) return;
    if (queue_.size() < max_queued_) {
      queue_.push_back(std::move(event));
      return;
    }
  }
  LOG_WARN("kubernetes: Event queue full; Event dropped",
           {{"namespace", event.ns}, {"reason", event.reason}});
  CountDropped(kDroppedEvents);
}

int KubeEventRecorder::posted() const {
  absl::MutexLock lock(&mu_);
  return posted_;
}

bool KubeEventRecorder::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.empty() && !posting_; };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void KubeEventRecorder::Run() {
  for (;;) {
    KubeEvent e;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      e = std::move(queue_.front());
      queue_.pop_front();
      if (forbidden_.count(e.ns)) continue;
      posting_ = true;
    }
    absl::StatusOr<HttpResponse> resp =
        client_.Post(absl::StrCat("/api/v1/namespaces/", e.ns, "/events"),
                     KubeEventJson(e, absl::Now(), component_));
    absl::MutexLock lock(&mu_);
    posting_ = false;
    if (resp.ok() && resp->status / 100 == 2) {
      ++posted_;
    } else if (resp.ok() && resp->status == 403) {
      forbidden_.insert(e.ns);
      LOG_WARN("kubernetes: may not record Events in this namespace; not trying again",
               {{"namespace", e.ns}, {"error", DescribeHttpError(*resp)}});
    } else {
      // Events are best effort: one failure loses one Event, not the queue.
      LOG_WARN("kubernetes: could not record an Event",
               {{"namespace", e.ns},
                {"object", e.name},
                {"error", resp.ok() ? DescribeHttpError(*resp) : resp.status().ToString()}});
    }
  }
}

}  // namespace promconf::kube
