#pragma once

// Warning Events on the ConfigMaps and Secrets whose fragments promconf
// rejected (SPEC "When input is bad"), so a team sees why its change did
// not land with `kubectl describe configmap` or `kubectl get events`, not
// only in promconf's log.
//
// Like client-go's EventRecorder: Warn() never blocks the caller (a bounded
// queue, dropped when full), one thread posts. A 403 means the service
// account may not create Events in that namespace: said once in the log,
// and that namespace is skipped from then on.

#include <deque>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "informers/kubernetes/kube_client.h"

namespace promconf::kube {

struct KubeEvent {
  std::string ns;
  std::string kind;  // "ConfigMap" or "Secret"
  std::string name;
  std::string reason;
  std::string message;
};

// The object behind a Kubernetes document name ("<ns>/<configmap>/<key>" or
// "<ns>/secret:<name>/<key>"): false when the name is not one.
bool KubeObjectOfDocument(absl::string_view document, std::string* ns, std::string* kind,
                          std::string* name);

// The Event's JSON (core/v1, generateName "<name>.").
std::string KubeEventJson(const KubeEvent& event, absl::Time now, absl::string_view component);

class KubeEventRecorder {
 public:
  explicit KubeEventRecorder(std::shared_ptr<KubeCredentials> credentials,
                             std::string component = "promconf", size_t max_queued = 256);
  ~KubeEventRecorder();
  KubeEventRecorder(const KubeEventRecorder&) = delete;
  KubeEventRecorder& operator=(const KubeEventRecorder&) = delete;

  // Queues a Warning Event; drops it when the queue is full.
  void Warn(KubeEvent event);
  // Events posted successfully so far (tests).
  int posted() const;
  // Waits until every queued Event was posted (or failed), at most
  // `timeout` (--once, before the process exits); false on timeout.
  bool Flush(absl::Duration timeout);

 private:
  void Run();

  const std::string component_;
  const size_t max_queued_;
  KubeClient client_;  // the recorder thread's only

  mutable absl::Mutex mu_;
  std::deque<KubeEvent> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int posted_ ABSL_GUARDED_BY(mu_) = 0;
  bool posting_ ABSL_GUARDED_BY(mu_) = false;  // an Event taken, not yet answered
  std::set<std::string> forbidden_ ABSL_GUARDED_BY(mu_);  // namespaces that answered 403
  std::thread thread_;
};

}  // namespace promconf::kube
