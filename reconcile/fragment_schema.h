#pragma once

// The fragment schemas, written once over the one tree (YamlSubsetNode) that
// ParseYaml builds on either path (fast or yaml-cpp): rule files (rulefmt,
// PromQL and alert templates), scrape configs (upstream's scrape_config
// schema, reconcile/prometheus), target groups (file_sd).
//
// Each returns true when the tree is valid, else false with the first error
// (line, key path, reason) in *error. Key paths are built only for that
// error: checking is linear in the tree's size.
//
// Pure functions; thread-safe.

#include "absl/strings/string_view.h"
#include "reconcile/fragment.h"
#include "reconcile/yaml_subset.h"

namespace promconf {

// A rule file's root (null: an empty file, valid), as `promtool check
// rules` of options.prometheus_version judges it: the rulefmt schema of that
// version, every expression through the PromQL parser
// (reconcile/promql), every alert label and annotation through the template
// parser (reconcile/gotemplate).
bool CheckRuleFile(const YamlSubsetNode& root, const ValidationOptions& options, FragmentError* error);

// One scrape config (the document, or one item of a list document) of a
// fragment from `source`, against upstream's scrape_config schema
// (reconcile/prometheus): the source's trust, the version, the base
// config's global intervals. `key_prefix` starts the key of an error ("[1]"
// for the second item, "" for the document).
bool CheckScrapeConfig(const YamlSubsetNode& scrape_config, absl::string_view source,
                       const ValidationOptions& options, absl::string_view key_prefix,
                       FragmentError* error);

// A file_sd document: a list of {targets, labels} (null: no groups).
bool CheckTargetGroups(const YamlSubsetNode& root, FragmentError* error);

}  // namespace promconf
