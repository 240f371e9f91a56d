#pragma once

// promconf.yml (SPEC "The config file"). Strict: unknown keys, wrong types,
// duplicate source names and impossible durations are errors that name the
// file, line and key. `$(VAR)` in string values expands from the environment.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "informers/source_config.h"
#include "reconcile/fragment.h"  // JobNamePrefix

namespace promconf {

struct ConfigMapOutputConfig {
  std::string source;  // a kubernetes source whose connection publishes it
  std::string namespace_;
  std::string name;
};

// Sidecar of a controller: instead of rendering fragments, copy the set a
// controller published (output.configmap) into `dir`. The source must be a
// kubernetes source watching configmaps that selects the set.
struct PublishedInputConfig {
  std::string source;
  std::string namespace_;  // "": any namespace the source watches
  std::string name;        // the controller's output.configmap.name
  uint64_t shard = 0;      // with output.shards > 1: which shard to copy
};

struct OutputConfig {
  std::string dir = "/etc/prometheus/generated";
  std::string base_config;
  std::optional<ConfigMapOutputConfig> configmap;
  // Controller mode: N ConfigMap sets, scrape targets split by hashmod.
  uint64_t shards = 1;
  std::optional<PublishedInputConfig> from_configmap;
};

enum class PromtoolMode { kAuto, kAlways, kNever };

struct ValidationConfig {
  PromtoolMode promtool = PromtoolMode::kAuto;
  std::string enforce_namespace_label;
  uint64_t max_fragment_bytes = 1 << 20;
  JobNamePrefix job_name_prefix = JobNamePrefix::kNone;
};

struct ReloadConfig {
  // At most one of url, signal, command.
  std::string url;
  std::string signal;    // e.g. "SIGHUP"
  std::string pid_file;  // whom to signal
  std::vector<std::string> command;
  absl::Duration min_interval = absl::Seconds(2);
  absl::Duration timeout = absl::Seconds(30);
  bool enabled() const { return !url.empty() || !signal.empty() || !command.empty(); }
};

struct LeaderElectionConfig {
  bool enabled = false;
  std::string source;
  std::string namespace_ = "monitoring";
  std::string name = "promconf";
  absl::Duration lease_duration = absl::Seconds(15);
  absl::Duration renew_deadline = absl::Seconds(10);
  absl::Duration retry_period = absl::Seconds(2);
};

struct Config {
  std::string path;  // the file it came from
  OutputConfig output;
  ValidationConfig validation;
  ReloadConfig reload;
  LeaderElectionConfig leader_election;
  std::vector<SourceConfig> sources;
};

// Parses promconf.yml text; `filename` names it in errors. Relative paths in
// the config (output.dir, base_config, file sources, *_file) are kept as
// written: they resolve against the working directory, as Prometheus does.
absl::StatusOr<Config> ParseConfig(absl::string_view yaml, absl::string_view filename);
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// The config `make run` uses when --config.file is not given: the file source
// on ./examples/fragments, writing to ./out.
extern const char kDefaultConfigYaml[];

}  // namespace promconf
