#pragma once

// "render": the output reconciler, then the policy around it: wait until every
// source synced once (client-go's WaitForCacheSync: a partial first render
// would drop the fragments of a source still listing), the promconf_fragments
// gauges, Events for rejections, and what comes next on the queue (promtool's
// second opinion, the reload — always after the first render —, publishing).
// Each render's outcome comes back as a value (RenderOutcome).
//
// Thread-safety: Render()/Reconcile() are called by one worker at a time (the
// Reconciler contract).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "reconcile/output_reconciler.h"
#include "runtime/reconciler.h"
#include "runtime/workqueue.h"

namespace promconf {

class Metrics;

// The key every document change enqueues: the reconciler rebuilds all outputs
// from the store, so one key coalesces any burst of changes.
inline constexpr char kRenderKey[] = "render";
// The key of promtool's second opinion (SecondOpinionReconciler).
inline constexpr char kSecondOpinionKey[] = "second-opinion";

// Readiness: the health tracker in the daemon.
class RenderGate {
 public:
  virtual ~RenderGate() = default;
  // Every source has delivered its first snapshot.
  virtual bool AllSynced() const = 0;
  // A render succeeded (readiness).
  virtual void MarkRendered() = 0;
};

// Rejected fragments: Kubernetes Events in the daemon.
class RejectionObserver {
 public:
  virtual ~RejectionObserver() = default;
  // Whether Observe could do anything after a render with `rejected`
  // rejections (saves copying every fragment's status).
  virtual bool Interested(int rejected) const = 0;
  // After a render: every fragment's status.
  virtual void Observe(const std::vector<FragmentStatus>& statuses) = 0;
};

struct RenderOptions {
  // Queue Reloader::kKey after the first render and after renders that
  // changed prometheus.yml or a rule file.
  bool reload = false;
  // Queue this key after the first render and whenever an output changed;
  // empty: nothing publishes the outputs.
  std::string publish_key;
};

// What one Render() did.
struct RenderOutcome {
  // What the controller acts on.
  runtime::ReconcileResult result;
  // False while some source has not synced yet, or when the render failed.
  bool rendered = false;
  // This was the reconciler's first successful render.
  bool first = false;
  // "rules"|"scrape"|"targets" -> fragments accepted / rejected.
  std::map<std::string, int> accepted;
  std::map<std::string, int> rejected;
  int files_written = 0;
  int files_removed = 0;
  // What was queued next.
  bool second_opinion_queued = false;
  bool reload_queued = false;
  bool publish_queued = false;
  // Readiness was marked (every successful render marks it).
  bool ready = false;
};

class RenderReconciler final : public runtime::Reconciler {
 public:
  // None are owned; all must outlive the reconciler. `rejections` may be null.
  RenderReconciler(OutputReconciler* output, runtime::WorkQueue* queue, RenderGate* gate,
                   Metrics* metrics, RejectionObserver* rejections, RenderOptions options);

  RenderOutcome Render(const std::string& key);
  runtime::ReconcileResult Reconcile(const std::string& key) override {
    return Render(key).result;
  }

 private:
  // Constant after construction.
  OutputReconciler* const output_;
  runtime::WorkQueue* const queue_;
  RenderGate* const gate_;
  Metrics* const metrics_;
  RejectionObserver* const rejections_;
  const RenderOptions options_;

  // Only touched by Render (one worker at a time per key).
  uint64_t writes_seen_ = 0;
  bool rendered_once_ = false;
};

}  // namespace promconf
