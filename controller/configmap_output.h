#pragma once

// Controller mode's two ends of the ConfigMap hand-off (README "Controller
// mode"):
//
// - PublishReconciler ("publish" key, controller): after every render, reads
//   the rendered tree back from output.dir and publishes it as one ConfigMap
//   set per shard. Every replica renders; only the one whose lease fence is
//   up (LeaderElector::CanWrite) publishes, so a new leader publishes at once.
// - PublishedSetReconciler ("render" key, sidecar with output.from_configmap):
//   finds the set's index among the source's documents, reassembles the files
//   and writes them with the atomic writer, only when the set is complete and
//   consistent. The controller -> sidecar path has no kubelet delay.
//
// Thread-safety: Reconcile() is called by one worker at a time;
// StopPublishing() from any thread.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "informers/document_store.h"
#include "informers/kubernetes/configmap_publisher.h"
#include "informers/kubernetes/leader_elector.h"
#include "reconcile/atomic_writer.h"
#include "runtime/reconciler.h"

namespace promconf {

class HealthTracker;
class Metrics;
namespace runtime {
class WorkQueue;
}  // namespace runtime

inline constexpr char kPublishKey[] = "publish";

// prometheus.yml, rules/* and targets/* under `dir` (temp files skipped).
// kUnavailable when prometheus.yml is not there yet.
absl::StatusOr<std::map<std::string, std::string>> ReadOutputTree(Filesystem* fs,
                                                                  const std::string& dir);

// Shard `shard` of `shards`: every scrape config gets, last in its
// relabel_configs, prometheus-operator's hashmod pair
//   {source_labels: [__address__], modulus: N, target_label: __tmp_hash, action: hashmod}
//   {source_labels: [__tmp_hash], regex: k, action: keep}
// Everything else is kept; strings that were quoted stay quoted and non-ASCII
// is escaped (safe for YAML 1.1 readers).
absl::StatusOr<std::string> ShardPrometheusConfig(const std::string& prometheus_yml, int shard,
                                                  int shards);

class PublishReconciler final : public runtime::Reconciler {
 public:
  // `elector` may be null (a single replica always publishes). `rendered`
  // says this process has rendered the output dir from synced sources: an
  // emptyDir survives a container restart, and its old files must not be
  // published before they are rebuilt.
  PublishReconciler(std::string dir, std::string output_name, int shards,
                    std::unique_ptr<kube::ConfigMapPublisher> publisher,
                    kube::LeaderElector* elector, Filesystem* fs, std::function<bool()> rendered);

  runtime::ReconcileResult Reconcile(const std::string& key) override;

  // Returns once no publish is in flight; none starts until the elector's
  // fence is up again (on_stopped_leading).
  void WaitForPublishToEnd();

  // Republish this often even without a render, so a deleted or edited
  // ConfigMap is repaired.
  static constexpr absl::Duration kResync = absl::Seconds(30);

 private:
  bool CanWrite() const { return elector_ == nullptr || elector_->CanWrite(); }

  // Constant after construction.
  const std::string dir_;
  const std::string output_name_;
  const int shards_;
  kube::LeaderElector* const elector_;
  Filesystem* const fs_;
  const std::function<bool()> rendered_;

  absl::Mutex publish_mu_;  // held while publishing
  std::unique_ptr<kube::ConfigMapPublisher> publisher_ ABSL_GUARDED_BY(publish_mu_);
};

class PublishedSetReconciler final : public runtime::Reconciler {
 public:
  PublishedSetReconciler(DocumentStore* store, std::string source, std::string ns,
                         std::string name, int shard, std::string dir, Filesystem* fs,
                         HealthTracker* health, runtime::WorkQueue* queue, bool reload_enabled);

  runtime::ReconcileResult Reconcile(const std::string& key) override;
  uint64_t writes() const { return writer_.writes(); }

 private:
  // Constant after construction.
  DocumentStore* const store_;
  const std::string source_, ns_, name_;
  const int shard_;
  HealthTracker* const health_;
  runtime::WorkQueue* const queue_;
  const bool reload_enabled_;

  // Only touched by Reconcile().
  AtomicFileWriter writer_;
  std::string last_problem_;
  bool written_once_ = false;
};

}  // namespace promconf
