#include "controller/health.h"

#include "absl/strings/str_cat.h"

namespace promconf {

HealthTracker::HealthTracker(Clock* clock) : clock_(clock) {}

void HealthTracker::AddSource(const std::string& name, absl::Duration progress_deadline,
                              std::vector<std::string> sync_prefixes) {
  absl::MutexLock lock(&mu_);
  SourceState& s = sources_[name];
  s.deadline = progress_deadline;
  s.last_progress = clock_->Now();
  s.pending_prefixes = std::set<std::string>(sync_prefixes.begin(), sync_prefixes.end());
}

void HealthTracker::Progress(absl::string_view source) {
  absl::MutexLock lock(&mu_);
  auto it = sources_.find(source);
  if (it == sources_.end()) return;
  it->second.last_progress = clock_->Now();
  it->second.last_error.clear();
}

void HealthTracker::Error(absl::string_view source, const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  auto it = sources_.find(source);
  if (it != sources_.end()) it->second.last_error = std::string(status.message());
}

void HealthTracker::Synced(absl::string_view source, absl::string_view prefix) {
  absl::MutexLock lock(&mu_);
  auto it = sources_.find(source);
  if (it == sources_.end()) return;
  it->second.last_progress = clock_->Now();
  it->second.last_error.clear();
  // A whole-source snapshot syncs every prefix.
  if (prefix.empty()) {
    it->second.pending_prefixes.clear();
  } else {
    it->second.pending_prefixes.erase(std::string(prefix));
  }
}

void HealthTracker::MarkRendered() {
  absl::MutexLock lock(&mu_);
  rendered_ = true;
}

HealthReport HealthTracker::Healthz() const {
  absl::MutexLock lock(&mu_);
  HealthReport r{false, ""};
  const absl::Time now = clock_->Now();
  for (const auto& [name, s] : sources_) {
    if (s.deadline == absl::InfiniteDuration()) continue;
    const absl::Duration idle = now - s.last_progress;
    if (idle > s.deadline) {
      absl::StrAppend(&r.body, "source ", name, " stalled: no progress for ",
                      absl::FormatDuration(absl::Trunc(idle, absl::Seconds(1))), " (deadline ",
                      absl::FormatDuration(s.deadline), ")");
      if (!s.last_error.empty()) absl::StrAppend(&r.body, ": ", s.last_error);
      r.body.push_back('\n');
    }
  }
  r.ok = r.body.empty();
  if (r.ok) r.body = "ok\n";
  return r;
}

bool HealthTracker::AllSyncedLocked() const {
  for (const auto& [name, s] : sources_) {
    if (!s.pending_prefixes.empty()) return false;
  }
  return true;
}

HealthReport HealthTracker::Readyz() const {
  absl::MutexLock lock(&mu_);
  HealthReport r{false, ""};
  for (const auto& [name, s] : sources_) {
    if (s.pending_prefixes.empty()) continue;
    absl::StrAppend(&r.body, "source ", name, " not synced yet");
    if (!s.last_error.empty()) absl::StrAppend(&r.body, ": ", s.last_error);
    r.body.push_back('\n');
  }
  if (!rendered_) absl::StrAppend(&r.body, "first render not written yet\n");
  r.ok = r.body.empty();
  if (r.ok) r.body = "ok\n";
  return r;
}

bool HealthTracker::AllSynced() const {
  absl::MutexLock lock(&mu_);
  return AllSyncedLocked();
}

bool HealthTracker::WaitAllSynced(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(
      absl::Condition(+[](const HealthTracker* t) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return t->AllSyncedLocked();
      }, this),
      timeout);
}

std::string HealthTracker::NotSyncedReport() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, s] : sources_) {
    if (s.pending_prefixes.empty()) continue;
    if (!out.empty()) out.append("; ");
    absl::StrAppend(&out, "source ", name, " not synced");
    if (!s.last_error.empty()) absl::StrAppend(&out, " (", s.last_error, ")");
  }
  return out;
}

}  // namespace promconf
