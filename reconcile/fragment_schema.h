#pragma once

// The fragment schemas, written once over the one tree (YamlSubsetNode) that
// ParseYaml builds on either path (fast or yaml-cpp): rule files (Prometheus
// 2.42's rulefmt), scrape configs (the checks promconf has made so far; the
// full upstream scrape_config schema replaces CheckScrapeConfig), target
// groups (file_sd).
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

// A rule file's root (null: an empty file, valid).
bool CheckRuleFile(const YamlSubsetNode& root, FragmentError* error);

// One scrape config: the document, or one item of a list document.
// `key_prefix` starts the key of an error ("[1]" for the second item, ""
// for the document).
bool CheckScrapeConfig(const YamlSubsetNode& scrape_config, absl::string_view key_prefix,
                       FragmentError* error);

// A file_sd document: a list of {targets, labels} (null: no groups).
bool CheckTargetGroups(const YamlSubsetNode& root, FragmentError* error);

}  // namespace promconf
