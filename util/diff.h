#pragma once

// The dry-run's unified diff (what `--dry-run` prints instead of writing).

#include <string>

#include "absl/strings/string_view.h"

namespace promconf {

// A unified diff ("--- a/path", "+++ b/path", "@@ -l,n +l,n @@" hunks with 3
// lines of context) turning `before` into `after`; "" when equal. A missing
// side is /dev/null. Lines are '\n'-separated; a middle of more than 4e6
// line pairs (after the common prefix and suffix) is shown as replaced
// whole rather than searched for its longest common subsequence.
std::string UnifiedDiff(absl::string_view path, const std::string* before, const std::string* after);

}  // namespace promconf
