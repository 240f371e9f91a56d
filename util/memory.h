#pragma once

namespace promconf {

// Returns free heap pages to the kernel (glibc's malloc_trim; a no-op
// elsewhere). glibc keeps them otherwise, and a daemon that synced 30,000
// fragments once would carry ~20 MiB it no longer uses for the rest of its
// life. Costs a walk of the heap: call after a large burst, not per event.
void ReleaseFreedMemory();

}  // namespace promconf
