#pragma once

// Rejected Kubernetes fragments -> Warning Events on their ConfigMap or
// Secret (reason FragmentRejected), once per rejection: the same error on
// the next render says nothing new, a different error (a new bad version)
// is a new Event, and a fragment accepted again starts over.
//
// Not thread-safe: the render reconciler calls it (one worker at a time).

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "informers/kubernetes/kube_events.h"
#include "reconcile/output_reconciler.h"
#include "reconcile/render_reconciler.h"

namespace promconf {

class RejectionEvents final : public RejectionObserver {
 public:
  // Events for the fragments of kubernetes source `source` go through
  // `recorder`.
  void AddSource(const std::string& source, std::unique_ptr<kube::KubeEventRecorder> recorder);
  bool empty() const { return recorders_.empty(); }
  // Whether Observe could have anything to do after a render with these
  // rejection counts (saves copying every fragment's status).
  bool Interested(int rejected) const override {
    return !empty() && (rejected > 0 || !reported_.empty());
  }
  // After a render: every fragment's status.
  void Observe(const std::vector<FragmentStatus>& statuses) override;
  // Waits for the queued Events to be posted, at most `timeout` in all
  // (--once, before the process exits).
  void Flush(absl::Duration timeout);

 private:
  std::map<std::string, std::unique_ptr<kube::KubeEventRecorder>> recorders_;
  std::map<std::pair<std::string, std::string>, std::string> reported_;  // -> error
};

}  // namespace promconf
