#pragma once

// Renders the output tree from the base config and the accepted fragments
// (SPEC "Outputs"): prometheus.yml, rules/*.yml, targets/*.json.
// Deterministic: the same inputs in any order give the same bytes.
// Pure function; thread-safe.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "reconcile/fragment.h"

namespace promconf {

inline constexpr char kPrometheusConfigName[] = "prometheus.yml";
inline constexpr char kRuleFilesGlob[] = "rules/*.yml";

struct RenderInput {
  // The base Prometheus config (YAML text); empty for none. Its
  // scrape_configs come first and its job names win over fragments'.
  std::string base_config;
  struct Item {
    // Index of the source in config order: sorts before the document name.
    int source_index = 0;
    std::string source;
    std::string document;
    const Fragment* fragment = nullptr;  // not owned; kind != kIgnored
  };
  std::vector<Item> fragments;
};

struct RenderRejection {
  std::string source;
  std::string document;
  std::string reason;
  // The fragment's output file clashed with an earlier one's (the fragment
  // contributes nothing); false for a rejected job_name.
  bool output_file = false;
};

struct RenderOutput {
  // Relative path -> bytes, prometheus.yml included. Rule and target files
  // share their fragment's bytes.
  std::map<std::string, std::shared_ptr<const std::string>> files;
  // Fragments (or single scrape configs of them) left out: duplicate
  // job_name, clashing output file.
  std::vector<RenderRejection> rejections;
};

// Fails (InvalidArgument naming line and key) only when the base config is
// not a Prometheus config mapping.
absl::StatusOr<RenderOutput> Render(const RenderInput& input);

// Views of `files` (valid while it is), as AtomicFileWriter takes them.
std::map<std::string, absl::string_view> FileViews(
    const std::map<std::string, std::shared_ptr<const std::string>>& files);

}  // namespace promconf
