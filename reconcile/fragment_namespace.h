#pragma once

// Namespace stamping and enforcement (SPEC "Who may write what"): a
// fragment from a namespaced source (kubernetes: "<namespace>/<name>") may
// see and label only its own namespace's series.

#include <string>

#include "absl/strings/string_view.h"
#include "reconcile/fragment.h"
#include "reconcile/yaml_subset.h"

namespace promconf {

// "team-a" for "team-a/x.rules.yml" from a source in
// options.namespaced_sources; "" otherwise (no namespace: nothing below
// applies).
std::string FragmentNamespace(absl::string_view source, absl::string_view doc_name,
                              const ValidationOptions& options);

// With options.enforce_namespace_label set: every rule gets
// labels[label] = ns, and every vector selector of its expression
// label="ns" (prom-label-proxy's rule: any matcher on that label replaced).
// REQUIRES: `root` passed CheckRuleFile; ns non-empty.
void EnforceNamespaceOnRules(YamlSubsetNode* root, absl::string_view ns,
                             const ValidationOptions& options);

// One scrape config of a namespaced fragment. Returns its job name, as
// rewritten to "<ns>/<job_name>" when options.job_name_prefix says so; with
// options.enforce_namespace_label set, appends a metric_relabel_configs
// entry that sets the label to ns on every scraped series.
// REQUIRES: `scrape_config` passed CheckScrapeConfig (job_name is a scalar).
std::string EnforceNamespaceOnScrapeConfig(YamlSubsetNode* scrape_config, absl::string_view ns,
                                           const ValidationOptions& options);

}  // namespace promconf
