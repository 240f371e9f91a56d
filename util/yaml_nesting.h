#pragma once

// A bound on YAML nesting, checked on the text before any parser sees it.
// yaml-cpp parses recursively: 1 MB of '[' or of "- " nests 500k levels and
// overflows the stack long before its own depth guard would help on a small
// thread stack. Conservative on purpose: brackets inside quoted strings count
// too, so only text that no config needs is refused.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace promconf {

struct YamlNestingLimits {
  int max_flow_depth = 64;    // open '[' / '{' at any point
  int max_block_column = 256;  // column of a line's content after indentation
                               // and "- " / "? " indicators (each block level
                               // takes at least one column)
};

// InvalidArgument naming the line when `text` nests deeper than `limits`.
absl::Status CheckYamlNesting(absl::string_view text, YamlNestingLimits limits = {});

}  // namespace promconf
