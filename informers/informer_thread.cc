#include "informers/informer_thread.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace promconf {

// The SourceCallbacks a loop sees: each call goes through Deliver.
class InformerThread::SerialCallbacks final : public SourceCallbacks {
 public:
  explicit SerialCallbacks(InformerThread* runtime) : runtime_(runtime) {}

  void OnSnapshot(absl::string_view prefix, std::vector<Document> docs) override {
    runtime_->Deliver([&](SourceCallbacks& c) { c.OnSnapshot(prefix, std::move(docs)); });
  }
  void OnUpsert(Document doc) override {
    runtime_->Deliver([&](SourceCallbacks& c) { c.OnUpsert(std::move(doc)); });
  }
  void OnDelete(absl::string_view name) override {
    runtime_->Deliver([&](SourceCallbacks& c) { c.OnDelete(name); });
  }
  void OnProgress() override {
    runtime_->Deliver([&](SourceCallbacks& c) { c.OnProgress(); });
  }
  void OnError(const absl::Status& status) override {
    runtime_->Deliver([&](SourceCallbacks& c) { c.OnError(status); });
  }

 private:
  InformerThread* const runtime_;
};

InformerContext::InformerContext(InformerThread* runtime, uint64_t seed)
    : runtime_(runtime),
      backoff_(runtime->backoff_, seed) {}

bool InformerContext::stopping() const { return runtime_->stop_.HasBeenNotified(); }
Clock* InformerContext::clock() const { return runtime_->clock_; }
absl::Notification* InformerContext::stop_notification() const { return &runtime_->stop_; }

bool InformerContext::Sleep(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return !stopping();
  return !runtime_->clock_->WaitForNotification(&runtime_->stop_, d);
}

absl::Duration InformerContext::NextBackoff() { return backoff_.Next(runtime_->clock_->Now()); }

bool InformerContext::BackOff(absl::Duration at_least) {
  return Sleep(std::max(NextBackoff(), at_least));
}

bool InformerContext::Await(absl::Mutex* mu, const absl::Condition& cond, absl::Duration timeout) {
  absl::Notification* stop = &runtime_->stop_;
  auto ready = [&cond, stop] { return stop->HasBeenNotified() || cond.Eval(); };
  const absl::Time deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : clock()->Now() + timeout;
  runtime_->clock_->AwaitWithDeadline(mu, absl::Condition(&ready), deadline);
  return cond.Eval();
}

bool InformerContext::RunUnlessStopping(absl::FunctionRef<void()> f) {
  absl::MutexLock lock(&runtime_->state_mu_);
  if (runtime_->stopping_) return false;
  f();
  return true;
}

SourceCallbacks& InformerContext::callbacks() { return *runtime_->serial_; }

void InformerContext::Deliver(absl::FunctionRef<void(SourceCallbacks&)> f) {
  runtime_->Deliver(f);
}

InformerThread::InformerThread(std::string source, Clock* clock, BackoffPolicy backoff,
                               absl::Mutex* wake_mu, std::function<void()> on_stop)
    : source_(std::move(source)),
      clock_(clock != nullptr ? clock : Clock::Real()),
      backoff_(backoff),
      wake_mu_(wake_mu),
      on_stop_(std::move(on_stop)) {}

InformerThread::~InformerThread() { StopAndJoin(); }

absl::Status InformerThread::Start(SourceCallbacks* callbacks, std::vector<Loop> loops,
                                   uint64_t seed) {
  absl::MutexLock lock(&lifecycle_mu_);
  {
    absl::MutexLock state(&state_mu_);
    if (started_ || stopping_) {
      return absl::FailedPreconditionError(
          absl::StrCat("source \"", source_, "\": Start called twice or after Stop"));
    }
  }
  started_ = true;
  {
    absl::MutexLock delivery(&delivery_mu_);
    callbacks_ = callbacks;
  }
  serial_ = std::make_unique<SerialCallbacks>(this);
  for (size_t i = 0; i < loops.size(); ++i) {
    // Distinct seeds per loop, so that two loops never back off in lockstep.
    const uint64_t loop_seed = seed == 0 ? 0 : seed * 0x9E3779B97F4A7C15ULL + i + 1;
    contexts_.push_back(std::unique_ptr<InformerContext>(new InformerContext(this, loop_seed)));
  }
  for (size_t i = 0; i < loops.size(); ++i) {
    InformerContext* ctx = contexts_[i].get();
    threads_.emplace_back([ctx, loop = std::move(loops[i])] { loop(*ctx); });
  }
  return absl::OkStatus();
}

void InformerThread::Stop() {
  {
    absl::MutexLock lock(&state_mu_);
    if (stopping_) return;
    stopping_ = true;
    stop_.Notify();  // wakes Sleep/BackOff and clock waits on the notification
    if (on_stop_) on_stop_();
  }
  if (wake_mu_ != nullptr) {
    // Await's condition reads stop_; absl re-evaluates it when the mutex is
    // released, so take and release it once.
    absl::MutexLock lock(wake_mu_);
  }
  // Waits for a callback in progress; none starts after this.
  absl::MutexLock lock(&delivery_mu_);
  closed_ = true;
}

void InformerThread::Join() {
  absl::MutexLock lock(&lifecycle_mu_);
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void InformerThread::Deliver(absl::FunctionRef<void(SourceCallbacks&)> f) {
  absl::MutexLock lock(&delivery_mu_);
  if (closed_ || callbacks_ == nullptr) return;
  f(*callbacks_);
}

}  // namespace promconf
