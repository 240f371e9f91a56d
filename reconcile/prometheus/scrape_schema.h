#pragma once

// Prometheus' scrape_config, written once as data (upstream
// config/config.go, prometheus/common config/http_config.go,
// model/relabel/relabel.go and every discovery/*/ SDConfig), and the one
// check that walks a fragment's tree against it.
//
// Every field carries the Prometheus version it appeared in (and the one
// that removed it), so a fragment is judged for the Prometheus it will be
// loaded by. Fields of type FILE name a file on the Prometheus host; only a
// trusted source may set them (SPEC "Who may write what"), and an untrusted
// source's file_sd_configs may only read promconf's own targets/.
//
// Pure functions over immutable tables; thread-safe.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "reconcile/fragment.h"  // FragmentError
#include "reconcile/yaml_subset.h"

namespace promconf::prom {

// A Prometheus release, major.minor.
struct PromVersion {
  int major = 0;
  int minor = 0;
  constexpr int code() const { return major * 1000 + minor; }
  friend constexpr bool operator<(PromVersion a, PromVersion b) { return a.code() < b.code(); }
  friend constexpr bool operator>=(PromVersion a, PromVersion b) { return !(a < b); }
  friend constexpr bool operator==(PromVersion a, PromVersion b) { return a.code() == b.code(); }
  std::string ToString() const;
};

// The range the schema models: Debian 12's 2.42 through the newest upstream
// release read for it.
inline constexpr PromVersion kOldestSupportedVersion{2, 42};
inline constexpr PromVersion kNewestSupportedVersion{3, 14};

// "2.42", "v2.42.0", "3.1.2" (patch ignored); "" is the newest supported.
// Versions outside the supported range are errors naming the range.
absl::StatusOr<PromVersion> ParsePromVersion(absl::string_view text);

struct ScrapeCheckOptions {
  // false: FILE fields are rejected and file_sd_configs may only name
  // targets_dir/... patterns.
  bool trusted = false;
  PromVersion version = kNewestSupportedVersion;
  // promconf's target files, relative to the directory of prometheus.yml
  // (Prometheus resolves file_sd paths against it).
  std::string targets_dir = "targets";
  // The base config's global section (Prometheus' defaults otherwise): a
  // scrape_timeout is checked against the interval after these apply.
  int64_t global_scrape_interval_ns = 60'000'000'000;
  int64_t global_scrape_timeout_ns = 10'000'000'000;
  // global.metric_name_validation_scheme: "" (Prometheus' default for the
  // version: legacy before 3.0, utf8 since), "legacy" or "utf8".
  std::string global_name_validation_scheme;
};

// Checks one entry of scrape_configs. On the first error returns
// InvalidArgument and fills *error (when given) with the line, the key path
// (prefixed by key_prefix, e.g. "[2]") and the reason. Work is linear in the
// size of the tree; the key path is built only for the error.
absl::Status CheckScrapeConfig(const YamlSubsetNode& sc, const ScrapeCheckOptions& options,
                               FragmentError* error = nullptr, absl::string_view key_prefix = "");

// Whether `name` is a service-discovery key (`kubernetes_sd_configs`, ...)
// of some supported version.
bool IsServiceDiscoveryKey(absl::string_view name);
// Every such key with the release that introduced it.
std::vector<std::pair<std::string, PromVersion>> ServiceDiscoveryKeys();

// Every FILE-typed field of the schema as "<object>.<field>" (e.g.
// "tls_config.key_file", "kubernetes_sd_configs.kubeconfig_file"), so tests
// can prove each is refused from untrusted sources.
std::vector<std::string> FileFieldPaths();

}  // namespace promconf::prom
