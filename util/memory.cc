#include "util/memory.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace promconf {

void ReleaseFreedMemory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace promconf
