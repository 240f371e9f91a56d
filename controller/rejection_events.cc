#include "controller/rejection_events.h"

#include "absl/time/clock.h"
#include "util/dropped.h"
#include "util/log.h"

namespace promconf {

void RejectionEvents::AddSource(const std::string& source,
                                std::unique_ptr<kube::KubeEventRecorder> recorder) {
  recorders_[source] = std::move(recorder);
}

void RejectionEvents::Flush(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (auto& [source, recorder] : recorders_) {
    if (!recorder->Flush(deadline - absl::Now())) {
      LOG_WARN("Events for rejected fragments not all posted before exiting",
               {{"source", source}});
    }
  }
}

void RejectionEvents::Observe(const std::vector<FragmentStatus>& statuses) {
  std::map<std::pair<std::string, std::string>, std::string> now;
  for (const FragmentStatus& s : statuses) {
    if (s.status != "rejected") continue;
    auto recorder = recorders_.find(s.source);
    if (recorder == recorders_.end()) continue;
    auto key = std::make_pair(s.source, s.document);
    now[key] = s.error;
    auto before = reported_.find(key);
    if (before != reported_.end() && before->second == s.error) continue;
    kube::KubeEvent e;
    if (!kube::KubeObjectOfDocument(s.document, &e.ns, &e.kind, &e.name)) {
      // No object to hang the Event on: the rejection is only in the log
      // and /debug/fragments.
      LOG_WARN("rejected fragment names no ConfigMap or Secret; Event dropped",
               {{"source", s.source}, {"document", s.document}});
      CountDropped(kDroppedEvents);
      continue;
    }
    e.reason = "FragmentRejected";
    e.message = absl::StrCat("promconf rejected ", s.document,
                             " (the last accepted version, if any, stays in use): ", s.error);
    recorder->second->Warn(std::move(e));
  }
  reported_ = std::move(now);
}

}  // namespace promconf
