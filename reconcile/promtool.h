#pragma once

// promtool as a second opinion on rule fragments (validation.promtool).
// promconf's own validation knows the rule file's structure but not PromQL
// or alert templates; Prometheus' rule loading is all-or-nothing across
// files, so one team's unparsable expression would keep everyone's rules
// from reloading. promtool, from the same Prometheus release, rejects what
// Prometheus would.
//
// One promtool process checks a whole batch of files (a process per file
// would cost ~20 ms each); each file gets its own verdict.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace promconf {

// The promtool on $PATH, or "" when there is none.
std::string FindPromtool();

// The release of that promtool, "major.minor" ("2.42"), from
// `promtool --version`; "" when it cannot be told.
std::string PromtoolVersion(const std::string& promtool);

// Runs `promtool check rules --lint=none` over `files` (rule file bytes) in
// a private temp directory. Returns one entry per file: "" when promtool
// accepts it, otherwise its messages with the temp file name replaced by
// nothing ("5:11: group \"g\", rule 1, \"a:b\": could not parse ...").
// An error when promtool itself could not run, crashed or took longer than
// `timeout`.
absl::StatusOr<std::vector<std::string>> PromtoolCheckRules(
    const std::string& promtool, const std::vector<absl::string_view>& files,
    absl::Duration timeout = absl::Seconds(60));

}  // namespace promconf
