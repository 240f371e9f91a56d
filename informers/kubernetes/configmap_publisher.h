#pragma once

// Publishes a laid-out set (published_set.h) to the API server:
//
// 1. Lists the set's ConfigMaps by label (a consistent read) and compares
//    each wanted ConfigMap's data and labels with the server's: an unchanged
//    one is not written.
// 2. Writes changed ConfigMaps with the resourceVersion it listed (PUT) or
//    creates missing ones (POST); the first ConfigMap, which holds the index,
//    last, so readers never see an index naming parts not yet written.
// 3. Deletes the set's ConfigMaps no longer wanted (stale shards), with the
//    listed resourceVersion as a precondition.
// A 409 (someone wrote in between) re-lists and retries with backoff, up to
// a bound; then kAborted, and the caller's queue retries later.
//
// Before every write it asks `can_write` (the leader's fence): once that says
// no, nothing more is written and Publish returns kFailedPrecondition.
//
// Thread-compatible: one caller at a time.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "informers/kubernetes/kube_client.h"
#include "informers/kubernetes/published_set.h"
#include "util/clock.h"

namespace promconf::kube {

struct PublishStats {
  int created = 0;
  int updated = 0;
  int unchanged = 0;
  int deleted = 0;
  int conflicts = 0;  // 409s retried
  int written() const { return created + updated + deleted; }
};

class ConfigMapPublisher {
 public:
  ConfigMapPublisher(std::unique_ptr<KubeClient> client, std::string ns, Clock* clock);

  absl::StatusOr<PublishStats> Publish(const PublishedSetId& id,
                                       const std::vector<PublishedConfigMap>& want,
                                       const std::function<bool()>& can_write);

  // Aborts a request in flight and all later ones (shutdown). Thread-safe.
  void Cancel() { client_->Cancel(); }

 private:
  absl::Status PublishOnce(const PublishedSetId& id, const std::vector<PublishedConfigMap>& want,
                           const std::function<bool()>& can_write, PublishStats* stats);

  std::unique_ptr<KubeClient> client_;
  const std::string ns_;
  Clock* const clock_;
};

}  // namespace promconf::kube
