#pragma once

// The targets file of a file_sd fragment, normalised.

#include <string>

#include "reconcile/yaml_subset.h"

namespace promconf {

// The JSON Prometheus' file_sd reads for validated target groups
// (CheckTargetGroups): groups in order, targets in order, labels sorted by
// name (a null label value is ""), two-space indentation, a final newline.
// Every string goes through util/json.h's escaper.
std::string NormalizedTargetsJson(const YamlSubsetNode& root);

}  // namespace promconf
