#include "runtime/controller.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "util/log.h"

namespace promconf::runtime {

absl::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess: return "success";
    case Outcome::kRequeue: return "requeue";
    case Outcome::kError: break;
  }
  return "error";
}

Outcome HandleReconcileResult(WorkQueue& queue, const std::string& key,
                                        const ReconcileResult& result) {
  const absl::Status& status = result.status;
  switch (status.code()) {
    case absl::StatusCode::kOk:
      queue.Forget(key);
      if (result.requeue_after.has_value()) queue.AddAfter(key, *result.requeue_after);
      return Outcome::kSuccess;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      LOG_DEBUG("reconcile failed, will retry",
                {{"queue", queue.name()}, {"key", key}, {"err", status.ToString()}});
      queue.AddRateLimited(key);
      return Outcome::kRequeue;
    case absl::StatusCode::kCancelled:
      if (queue.ShuttingDown()) {
        queue.Forget(key);
        return Outcome::kError;
      }
      queue.AddRateLimited(key);
      return Outcome::kRequeue;
    default:
      // Retrying cannot help: the input has to change, and that change
      // queues the key again.
      LOG_WARN("reconcile failed permanently",
               {{"queue", queue.name()}, {"key", key}, {"err", status.ToString()}});
      queue.Forget(key);
      return Outcome::kError;
  }
}

void ReconcilerMux::Handle(absl::string_view key, Reconciler* reconciler) {
  absl::MutexLock lock(&mu_);
  exact_.insert_or_assign(std::string(key), reconciler);
}

void ReconcilerMux::HandlePrefix(absl::string_view prefix, Reconciler* reconciler) {
  absl::MutexLock lock(&mu_);
  prefixes_.insert_or_assign(std::string(prefix), reconciler);
}

Reconciler* ReconcilerMux::Route(absl::string_view key) {
  absl::MutexLock lock(&mu_);
  auto exact = exact_.find(key);
  if (exact != exact_.end()) return exact->second;
  Reconciler* best = nullptr;
  size_t best_len = 0;
  for (const auto& [prefix, reconciler] : prefixes_) {
    if (absl::StartsWith(key, prefix) && (best == nullptr || prefix.size() > best_len)) {
      best = reconciler;
      best_len = prefix.size();
    }
  }
  return best;
}

ReconcileResult ReconcilerMux::Reconcile(const std::string& key) {
  Reconciler* reconciler = Route(key);
  if (reconciler == nullptr) {
    return {absl::NotFoundError(absl::StrCat("no reconciler for key \"", key, "\"")),
            std::nullopt};
  }
  return reconciler->Reconcile(key);
}

Controller::Controller(std::string name, WorkQueue* queue, Reconciler* reconciler, Clock* clock,
                       ControllerObserver* observer)
    : name_(std::move(name)),
      queue_(queue),
      reconciler_(reconciler),
      clock_(clock),
      observer_(observer) {}

Controller::~Controller() { Stop(); }

void Controller::Start(int workers) {
  absl::MutexLock lock(&mu_);
  if (started_ || stopped_) return;
  started_ = true;
  workers = std::max(workers, 1);
  workers_.reserve(workers);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { RunWorker(); });
  LOG_INFO("controller started", {{"controller", name_}, {"workers", workers}});
}

void Controller::Stop() {
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    workers.swap(workers_);
  }
  // Outside mu_: draining waits for reconciles, which may take a while.
  queue_->ShutDownWithDrain();
  for (std::thread& t : workers) t.join();
  if (!workers.empty()) LOG_INFO("controller stopped", {{"controller", name_}});
}

bool Controller::ProcessNextItem() {
  std::string key;
  if (!queue_->Get(&key)) return false;
  const absl::Time start = clock_->Now();
  const ReconcileResult result = reconciler_->Reconcile(key);
  const absl::Duration took = clock_->Now() - start;
  const Outcome outcome = HandleReconcileResult(*queue_, key, result);
  queue_->Done(key);
  if (observer_ != nullptr) observer_->OnReconciled(outcome, took);
  return true;
}

void Controller::RunWorker() {
  while (ProcessNextItem()) {
  }
}

}  // namespace promconf::runtime
