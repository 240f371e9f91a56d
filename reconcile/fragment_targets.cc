#include "reconcile/fragment_targets.h"

#include <algorithm>
#include <vector>

#include "util/json.h"

namespace promconf {

std::string NormalizedTargetsJson(const YamlSubsetNode& root) {
  std::string out = "[";
  bool first_group = true;
  for (const YamlSubsetNode& g : root.seq) {
    out.append(first_group ? "\n" : ",\n");
    first_group = false;
    out.append("  {\n    \"targets\": [");
    bool first = true;
    if (const YamlSubsetNode* targets = g.Find("targets"); targets != nullptr) {
      for (const YamlSubsetNode& t : targets->seq) {
        out.append(first ? "" : ", ");
        first = false;
        AppendJsonString(&out, t.scalar);
      }
    }
    out.append("],\n    \"labels\": {");
    std::vector<const YamlSubsetEntry*> labels;
    if (const YamlSubsetNode* lm = g.Find("labels"); lm != nullptr) {
      for (const YamlSubsetEntry& e : lm->map) labels.push_back(&e);
    }
    std::sort(labels.begin(), labels.end(),
              [](const YamlSubsetEntry* a, const YamlSubsetEntry* b) { return a->key < b->key; });
    first = true;
    for (const YamlSubsetEntry* e : labels) {
      out.append(first ? "\n      " : ",\n      ");
      first = false;
      AppendJsonString(&out, e->key);
      out.append(": ");
      AppendJsonString(&out, e->value.scalar);
    }
    out.append(labels.empty() ? "}\n  }" : "\n    }\n  }");
  }
  out.append(first_group ? "]\n" : "\n]\n");
  return out;
}

}  // namespace promconf
