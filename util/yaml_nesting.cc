#include "util/yaml_nesting.h"

#include "absl/strings/str_cat.h"

namespace promconf {

absl::Status CheckYamlNesting(absl::string_view text, YamlNestingLimits limits) {
  int flow = 0;
  int line = 1;
  size_t i = 0;
  while (i < text.size()) {
    // Start of a line: indentation and block indicators.
    size_t col = 0;
    while (i < text.size()) {
      const char c = text[i];
      const bool indicator = (c == '-' || c == '?') &&
                             (i + 1 == text.size() || text[i + 1] == ' ' ||
                              text[i + 1] == '\n' || text[i + 1] == '\t');
      if (c != ' ' && c != '\t' && !indicator) break;
      ++col;
      ++i;
      if (col > static_cast<size_t>(limits.max_block_column)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "line ", line, ": indentation and block indicators nest deeper than ",
            limits.max_block_column, " columns"));
      }
    }
    // The rest of the line: flow brackets.
    for (; i < text.size() && text[i] != '\n'; ++i) {
      const char c = text[i];
      if (c == '[' || c == '{') {
        if (++flow > limits.max_flow_depth) {
          return absl::InvalidArgumentError(absl::StrCat(
              "line ", line, ": brackets nest deeper than ", limits.max_flow_depth));
        }
      } else if ((c == ']' || c == '}') && flow > 0) {
        --flow;
      }
    }
    if (i < text.size()) ++i;  // the newline
    ++line;
  }
  return absl::OkStatus();
}

}  // namespace promconf
