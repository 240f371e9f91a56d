// Under ThreadSanitizer only (empty otherwise): Debian's abseil is built
// without TSan, so the happens-before edges of absl::Mutex / CondVar /
// Notification are invisible to it and every access they guard is reported
// as a race. This file interposes their out-of-line entry points (an
// executable's definitions win over the shared library's, also for abseil's
// own PLT calls such as Notification -> Mutex::Lock), forwards to the real
// ones found with dlsym(RTLD_NEXT) and reports the acquire/release to TSan.
// Unlocked accesses are still reported. tests/CMakeLists.txt forces this
// object into every test through promconf_tsan_absl_sync_anchor.
//
// Not covered: the inline Notification::HasBeenNotified() (its flag is set
// by uninstrumented code), so data handed over by Notify() must be read after
// a WaitForNotification*() call, not after HasBeenNotified() alone.
#if defined(__SANITIZE_THREAD__)  // gcc
#define PROMCONF_TSAN_ABSL_SYNC 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)  // clang
#define PROMCONF_TSAN_ABSL_SYNC 1
#endif
#endif

#ifdef PROMCONF_TSAN_ABSL_SYNC

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

// Referenced by a linker -u flag so the archive member is always linked.
extern "C" int promconf_tsan_absl_sync_anchor;
int promconf_tsan_absl_sync_anchor = 0;

namespace {

#define PROMCONF_STR2(x) #x
#define PROMCONF_STR(x) PROMCONF_STR2(x)

// The real entry point: "_ZN4absl" + <len><inline namespace> + `rest`; a
// `rest` starting with 'K' names a const member function (_ZNK4absl...).
// Needs abseil as a shared library (a static one would clash at link time).
template <typename Fn>
Fn Real(const char* rest) {
  const std::string ns = PROMCONF_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const bool is_const = rest[0] == 'K';
  const std::string name = std::string(is_const ? "_ZNK4absl" : "_ZN4absl") +
                           std::to_string(ns.size()) + ns + (is_const ? rest + 1 : rest);
  void* sym = dlsym(RTLD_NEXT, name.c_str());
  if (sym == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(sym);
}

void Acquire(const void* p) { __tsan_acquire(const_cast<void*>(p)); }
void Release(const void* p) { __tsan_release(const_cast<void*>(p)); }

// abseil evaluates a Condition with the mutex held, also inside the real
// Await/LockWhen around its internal (invisible) unlock and re-lock, in the
// waiter or in the unlocking thread: each evaluation is a critical section.
struct AcquiringCondition {
  bool operator()() const {
    Acquire(mu);
    const bool result = cond->Eval();
    Release(mu);
    return result;
  }
  const absl::Condition* cond;
  const absl::Mutex* mu;
};

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex4LockEv");
  real(this);
  Acquire(this);
}
void Mutex::ReaderLock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  real(this);
  Acquire(this);
}
bool Mutex::TryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  const bool ok = real(this);
  if (ok) Acquire(this);
  return ok;
}
bool Mutex::ReaderTryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  const bool ok = real(this);
  if (ok) Acquire(this);
  return ok;
}
void Mutex::Unlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex6UnlockEv");
  Release(this);
  real(this);
}
void Mutex::ReaderUnlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  Release(this);
  real(this);
}
void Mutex::LockWhen(const Condition& cond) {
  const AcquiringCondition wrapped{&cond, this};
  static auto real = Real<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  real(this, absl::Condition(&wrapped));
  Acquire(this);
}
void Mutex::ReaderLockWhen(const Condition& cond) {
  const AcquiringCondition wrapped{&cond, this};
  static auto real =
      Real<void (*)(Mutex*, const Condition&)>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  real(this, absl::Condition(&wrapped));
  Acquire(this);
}
bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  const AcquiringCondition wrapped{&cond, this};
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const bool r = real(this, absl::Condition(&wrapped), timeout);
  Acquire(this);
  return r;
}
bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  const AcquiringCondition wrapped{&cond, this};
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const bool r = real(this, absl::Condition(&wrapped), deadline);
  Acquire(this);
  return r;
}
bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  const AcquiringCondition wrapped{&cond, this};
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const bool r = real(this, absl::Condition(&wrapped), timeout);
  Acquire(this);
  return r;
}
bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  const AcquiringCondition wrapped{&cond, this};
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const bool r = real(this, absl::Condition(&wrapped), deadline);
  Acquire(this);
  return r;
}
void Mutex::Await(const Condition& cond) {
  const AcquiringCondition wrapped{&cond, this};
  static auto real = Real<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  Release(this);
  real(this, absl::Condition(&wrapped));
  Acquire(this);
}
bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  const AcquiringCondition wrapped{&cond, this};
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Release(this);
  const bool r = real(this, absl::Condition(&wrapped), timeout);
  Acquire(this);
  return r;
}
bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  const AcquiringCondition wrapped{&cond, this};
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release(this);
  const bool r = real(this, absl::Condition(&wrapped), deadline);
  Acquire(this);
  return r;
}

void CondVar::Wait(Mutex* mu) {
  static auto real = Real<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  Release(mu);
  real(this, mu);
  Acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, absl::Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mu);
  const bool r = real(this, mu, timeout);
  Acquire(mu);
  return r;
}
bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, absl::Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mu);
  const bool r = real(this, mu, deadline);
  Acquire(mu);
  return r;
}

void Notification::Notify() {
  static auto real = Real<void (*)(Notification*)>("12Notification6NotifyEv");
  Release(this);
  real(this);
}
void Notification::WaitForNotification() const {
  static auto real = Real<void (*)(const Notification*)>("K12Notification19WaitForNotificationEv");
  real(this);
  Acquire(this);
}
bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  static auto real = Real<bool (*)(const Notification*, absl::Duration)>(
      "K12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool r = real(this, timeout);
  if (r) Acquire(this);
  return r;
}
bool Notification::WaitForNotificationWithDeadline(absl::Time deadline) const {
  static auto real = Real<bool (*)(const Notification*, absl::Time)>(
      "K12Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool r = real(this, deadline);
  if (r) Acquire(this);
  return r;
}

ABSL_NAMESPACE_END
}  // namespace absl

#endif  // PROMCONF_TSAN_ABSL_SYNC
