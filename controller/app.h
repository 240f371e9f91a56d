#pragma once

// The one place that names concrete types and wires them together: sources
// from the config, the store, the work queue, the controller with its
// reconcilers (render, reload), the health tracker. One App per loaded
// config: SIGHUP builds a new App and, once it is valid, stops the old one.
// The metrics registry and the HTTP listener outlive Apps (main owns them).

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controller/config.h"
#include "controller/health.h"
#include "informers/source.h"
#include "reconcile/fragment.h"

namespace promconf {

class Metrics;

// The validation settings the config gives every fragment (max size, the
// namespace label, job name prefixes, which sources are namespaced).
ValidationOptions ToValidationOptions(const Config& config);

// validation.prometheus_version "": the release ("2.42") the reload target
// reports on /api/v1/status/buildinfo, when reload.url is Prometheus'
// /-/reload and it answers within 2 s; "" otherwise (the newest supported
// release then applies).
std::string DetectPrometheusVersion(const ReloadConfig& reload);
// The release ("2.42") in a /api/v1/status/buildinfo answer
// ({"data":{"version":"2.42.0",...}}); "" when there is none or it is not a
// supported one.
std::string PrometheusVersionFromBuildinfo(absl::string_view body);

// Builds the Source of one sources[] entry.
using SourceFactory = std::function<absl::StatusOr<std::unique_ptr<Source>>(
    const SourceContext& context, const SourceConfig& config)>;

// The real backends: the one switch that names every concrete Source.
absl::StatusOr<std::unique_ptr<Source>> NewSource(const SourceContext& context,
                                                  const SourceConfig& config);

struct AppOptions {
  bool dry_run = false;  // render into a diff on stdout, write nothing
  // --once / --dry-run: how long to wait for every source's first sync.
  absl::Duration sync_timeout = absl::Seconds(60);
  // How the App builds its sources (tests inject fakes).
  SourceFactory source_factory = NewSource;
};

class App {
 public:
  // `metrics` must outlive the App.
  static absl::StatusOr<std::unique_ptr<App>> Create(const Config& config,
                                                     const AppOptions& options, Metrics* metrics);
  virtual ~App() = default;

  // Starts the sources and the controller's worker; returns at once.
  virtual absl::Status Start() = 0;
  // Drains the work queue, stops the sources. Idempotent.
  virtual void Stop() = 0;

  // --once and --dry-run: sync every source once, then run the daemon's own
  // controller on this thread until no key is ready (render, promtool's
  // second opinion, reload, publish: the same reconcilers, the same Events),
  // and write (or print the diff). Non-OK names the key that failed; a
  // reload.url with nothing listening is not a failure.
  virtual absl::Status RunOnce() = 0;

  virtual HealthReport Healthz() const = 0;
  virtual HealthReport Readyz() const = 0;
  virtual std::string FragmentsJson() const = 0;
};

}  // namespace promconf
