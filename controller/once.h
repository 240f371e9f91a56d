#pragma once

// --once and --dry-run, interruptible: the run happens on its own thread
// while the caller's waits for SIGTERM/SIGINT, so that an unreachable or
// slow source (the sync waits up to a minute) cannot hold an init container
// or a CI job that is being stopped.

#include <signal.h>

#include "controller/app.h"

namespace promconf {

// Runs app->RunOnce() then app->Stop(). Returns 0 or 1 (with the error
// logged) when the run ends by itself. On SIGTERM/SIGINT it gives the run a
// short grace (300 ms) to finish what it is doing, then exits the process
// with 128+signal without unwinding: the run may be blocked in a connect.
// Every output file is replaced by rename, so the output stays whole.
// REQUIRES: `signals` (SIGTERM, SIGINT) are blocked in every thread.
int RunOnceInterruptibly(App* app, bool dry_run, const sigset_t& signals);

}  // namespace promconf
