#include "controller/once.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "util/log.h"

namespace promconf {

int RunOnceInterruptibly(App* app, bool dry_run, const sigset_t& signals) {
  absl::Notification done;
  absl::Status result;  // written by the worker before done.Notify()
  std::thread worker([app, &done, &result] {
    result = app->RunOnce();
    app->Stop();
    done.Notify();
  });
  constexpr absl::Duration kGrace = absl::Milliseconds(300);
  while (!done.HasBeenNotified()) {
    const timespec tick = {0, 50 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig != SIGTERM && sig != SIGINT) continue;  // timeout, EINTR, SIGHUP
    LOG_WARN(dry_run ? "dry run interrupted" : "sync interrupted",
             {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    done.WaitForNotificationWithTimeout(kGrace);
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(128 + sig);
  }
  worker.join();
  if (!result.ok()) {
    LOG_ERROR(dry_run ? "dry run failed" : "sync failed", {{"err", result.message()}});
    return 1;
  }
  return 0;
}

}  // namespace promconf
