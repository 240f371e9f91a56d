#include "reconcile/second_opinion_reconciler.h"

#include <utility>

#include "absl/time/time.h"
#include "metrics/metrics.h"
#include "reconcile/reloader.h"
#include "util/log.h"

namespace promconf {

SecondOpinionReconciler::SecondOpinionReconciler(OutputReconciler* output,
                                                 RenderReconciler* render,
                                                 runtime::WorkQueue* queue, Metrics* metrics,
                                                 bool reload_enabled, std::string promtool,
                                                 std::unique_ptr<runtime::RateLimiter> backoff)
    : output_(output),
      render_(render),
      queue_(queue),
      metrics_(metrics),
      reload_enabled_(reload_enabled),
      promtool_(std::move(promtool)),
      backoff_(backoff != nullptr ? std::move(backoff)
                                  : runtime::NewItemExponentialFailureRateLimiter(
                                        absl::Seconds(1), absl::Minutes(5))) {}

SecondOpinionReconciler::~SecondOpinionReconciler() { Join(); }

void SecondOpinionReconciler::Join() {
  if (thread_.joinable()) thread_.join();
}

bool SecondOpinionReconciler::Running() {
  absl::MutexLock lock(&mu_);
  return running_;
}

absl::Status SecondOpinionReconciler::LastRunStatus() {
  absl::MutexLock lock(&mu_);
  return last_run_;
}

runtime::ReconcileResult SecondOpinionReconciler::Reconcile(const std::string& key) {
  absl::StatusOr<std::vector<std::string>> verdicts;
  {
    absl::MutexLock lock(&mu_);
    if (running_) return {};  // the run queues this key again when done
    if (!finished_) return Start(key);
    finished_ = false;
    verdicts = std::move(verdicts_);
    last_run_ = verdicts.status();
  }
  Join();
  if (!verdicts.ok()) {
    // The fragments stay pending (and the reload waits for them). The
    // controller would Forget the key when the next run starts, so the
    // backoff is this reconciler's own: it grows until promtool runs.
    const absl::Duration delay = backoff_->When(key);
    LOG_WARN("promtool could not run; its second opinion is retried",
             {{"promtool", promtool_},
              {"err", verdicts.status().message()},
              {"retry_in", absl::FormatDuration(delay)}});
    return {absl::OkStatus(), delay};
  }
  backoff_->Forget(key);
  const SecondOpinionReport r = output_->ApplySecondOpinion(batch_, *verdicts);
  batch_ = SecondOpinionBatch{};
  if (r.disagreements > 0) metrics_->IncValidationDisagreements("rules", r.disagreements);
  if (r.skipped > 0) metrics_->IncValidationSkipped("rules", r.skipped);
  // Renders again when something was reverted, and either way queues what
  // comes next: another run for fragments changed meanwhile, or the reload.
  if (r.rerender_needed) return render_->Reconcile(kRenderKey);
  if (output_->SecondOpinionPending()) {
    queue_->Add(key);
  } else if (reload_enabled_) {
    queue_->Add(Reloader::kKey);
  }
  return {};
}

runtime::ReconcileResult SecondOpinionReconciler::Start(const std::string& key) {
  if (!output_->SecondOpinionPending()) {
    if (reload_enabled_) queue_->Add(Reloader::kKey);
    return {};
  }
  batch_ = output_->TakeSecondOpinionBatch();
  running_ = true;
  if (thread_.joinable()) thread_.join();
  thread_ = std::thread([this, key] {
    absl::StatusOr<std::vector<std::string>> v = RunSecondOpinion(promtool_, batch_);
    absl::MutexLock lock(&mu_);
    verdicts_ = std::move(v);
    running_ = false;
    finished_ = true;
    // Under mu_: once Running() is false the key is already back (--once
    // stops when neither is left).
    queue_->Add(key);
  });
  return {};
}

}  // namespace promconf
