#include "controller/app.h"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "rapidjson/document.h"
#include "informers/consul/consul_source.h"
#include "informers/document_store.h"
#include "informers/etcd/etcd_source.h"
#include "informers/file/file_source.h"
#include "informers/kubernetes/kubernetes_source.h"
#include "informers/kubernetes/leader_elector.h"
#include "informers/zookeeper/zookeeper_source.h"
#include "informers/source.h"
#include "controller/configmap_output.h"
#include "controller/rejection_events.h"
#include "controller/source_sink.h"
#include "metrics/metrics.h"
#include "runtime/controller.h"
#include "reconcile/output_reconciler.h"
#include "reconcile/prometheus/scrape_schema.h"
#include "reconcile/yaml_tree.h"
#include "reconcile/promtool.h"
#include "reconcile/reloader.h"
#include "reconcile/render_reconciler.h"
#include "reconcile/second_opinion_reconciler.h"
#include "runtime/workqueue.h"
#include "runtime/workqueue_metrics.h"
#include "util/file.h"
#include "util/http_client.h"
#include "util/json.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace promconf {

using kube::ConfigMapPublisher;
using kube::KubeClient;
using kube::KubeCredentials;
using kube::KubeEventRecorder;
using kube::KubeLeaseLock;
using kube::LeaderElector;
using kube::LeaderElectorOptions;

namespace {

// SourceSink's metric seam, onto Metrics.
class SourceMetricsAdapter final : public SourceMetricsSink {
 public:
  SourceMetricsAdapter(Metrics* metrics, Clock* clock) : metrics_(metrics), clock_(clock) {}

  void AddSource(const std::string& name, const std::string& type) {
    types_[name] = type;
    metrics_->RegisterSource(name, type);
  }

  void SourceEvent(absl::string_view source, SourceEventType type, int count) override {
    for (int i = 0; i < count; ++i) metrics_->SourceEvent(source, type);
    metrics_->SetSourceLastEventTimestamp(source, clock_->Now());
  }
  void SourceUp(absl::string_view source, bool up) override {
    auto it = types_.find(std::string(source));
    if (it != types_.end()) metrics_->SetSourceUp(source, it->second, up);
  }
  void SourceDocuments(absl::string_view source, size_t count) override {
    metrics_->SetSourceDocuments(source, static_cast<int64_t>(count));
  }

 private:
  Metrics* const metrics_;
  Clock* const clock_;
  // Filled before any source starts; read-only afterwards.
  std::map<std::string, std::string> types_;
};

OutputOptions MakeOutputOptions(const Config& config, const AppOptions& options, std::string promtool,
                                Metrics* metrics) {
  OutputOptions o;
  o.metrics = metrics;
  o.dir = config.output.dir;
  o.base_config_path = config.output.base_config;
  o.validation = ToValidationOptions(config);
  o.dry_run = options.dry_run;
  o.promtool_version = promtool.empty() ? "" : PromtoolVersion(promtool);
  o.promtool = std::move(promtool);
  return o;
}

// Remembers each key's last failed reconcile until it succeeds: --once
// reports what failed. Thread-safe.
class FailureRecorder final : public runtime::Reconciler {
 public:
  explicit FailureRecorder(runtime::Reconciler* inner) : inner_(inner) {}

  runtime::ReconcileResult Reconcile(const std::string& key) override {
    runtime::ReconcileResult result = inner_->Reconcile(key);
    absl::MutexLock lock(&mu_);
    if (result.status.ok()) {
      failures_.erase(key);
    } else {
      failures_[key] = result.status;
    }
    return result;
  }
  std::map<std::string, absl::Status> Failures() {
    absl::MutexLock lock(&mu_);
    return failures_;
  }

 private:
  runtime::Reconciler* const inner_;
  absl::Mutex mu_;
  std::map<std::string, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
};

// The health tracker as the render reconciler's readiness gate.
class HealthRenderGate final : public RenderGate {
 public:
  explicit HealthRenderGate(HealthTracker* health) : health_(health) {}
  bool AllSynced() const override { return health_->AllSynced(); }
  void MarkRendered() override { health_->MarkRendered(); }

 private:
  HealthTracker* const health_;
};

std::vector<std::string> SourceNames(const Config& config) {
  std::vector<std::string> names;
  for (const SourceConfig& s : config.sources) names.push_back(s.name);
  return names;
}

class AppImpl final : public App {
 public:
  AppImpl(const Config& config, const AppOptions& options, Metrics* metrics,
          std::unique_ptr<Reloader> reloader, std::string promtool)
      : config_(config),
        options_(options),
        clock_(Clock::Real()),
        store_(SourceNames(config)),
        health_(clock_),
        queue_metrics_(metrics, "promconf"),
        queue_("promconf", clock_, runtime::NewDefaultControllerRateLimiter(clock_), &queue_metrics_),
        output_(&store_, MakeOutputOptions(config, options, std::move(promtool), metrics)),
        reloader_(std::move(reloader)),
        gate_(&health_),
        render_(&output_, &queue_, &gate_, metrics, &events_,
                RenderOptions{reloader_->enabled() && !options.dry_run,
                              config.output.configmap.has_value() && !options.dry_run
                                  ? kPublishKey
                                  : ""}),
        second_opinion_(&output_, &render_, &queue_, metrics, reloader_->enabled() && !options.dry_run,
                        output_.promtool()),
        metrics_(metrics),
        observer_(metrics),
        recorder_(&mux_),
        controller_("promconf", &queue_, &recorder_, clock_, &observer_),
        source_metrics_(metrics, clock_) {
    mux_.Handle(kRenderKey, &render_);
    mux_.Handle(kSecondOpinionKey, &second_opinion_);
    mux_.Handle(Reloader::kKey, reloader_.get());
    queue_metrics_.RefreshOnScrape(&queue_);
  }

  ~AppImpl() override { Stop(); }

  absl::Status CreateSources() {
    for (const SourceConfig& sc : config_.sources) {
      SourceContext context;
      context.name = sc.name;
      context.clock = clock_;
      context.max_document_bytes = config_.validation.max_fragment_bytes;
      context.keep_every_document =
          config_.output.from_configmap.has_value() && config_.output.from_configmap->source == sc.name;
      ASSIGN_OR_RETURN(std::unique_ptr<Source> source,
                       options_.source_factory ? options_.source_factory(context, sc)
                                               : NewSource(context, sc));
      const auto* kube = std::get_if<KubernetesSourceConfig>(&sc.backend);
      if (kube != nullptr && !options_.dry_run) {
        // Rejections become Events on the ConfigMap, through the source's
        // own credentials.
        ASSIGN_OR_RETURN(std::shared_ptr<KubeCredentials> credentials, kube::KubeCredentialsFor(*kube));
        events_.AddSource(sc.name, std::make_unique<KubeEventRecorder>(std::move(credentials)));
      }
      health_.AddSource(sc.name, source->progress_deadline(), source->SyncPrefixes());
      source_metrics_.AddSource(sc.name, sc.type());
      sinks_.push_back(
          std::make_unique<SourceSink>(sc.name, &store_, &queue_, &health_, &source_metrics_));
      sources_.push_back(std::move(source));
    }
    return absl::OkStatus();
  }

  const KubernetesSourceConfig* KubeSource(const std::string& name) const {
    for (const SourceConfig& s : config_.sources) {
      if (s.name == name) return std::get_if<KubernetesSourceConfig>(&s.backend);
    }
    return nullptr;
  }

  // Controller mode (output.configmap, leader_election) and its sidecar
  // (output.from_configmap).
  absl::Status CreateConfigMapOutput() {
    const OutputConfig& out = config_.output;
    if (out.from_configmap) {
      const PublishedInputConfig& in = *out.from_configmap;
      published_input_ = std::make_unique<PublishedSetReconciler>(
          &store_, in.source, in.namespace_, in.name, static_cast<int>(in.shard), out.dir,
          RealFilesystem(), &health_, &queue_, reloader_->enabled() && !options_.dry_run);
      mux_.Handle(kRenderKey, published_input_.get());
    }
    if (!out.configmap || options_.dry_run) return absl::OkStatus();
    const KubernetesSourceConfig* kube = KubeSource(out.configmap->source);
    if (kube == nullptr) return absl::InvalidArgumentError("output.configmap.source: not kubernetes");
    ASSIGN_OR_RETURN(std::shared_ptr<KubeCredentials> credentials, kube::KubeCredentialsFor(*kube));
    const std::string identity = ReplicaIdentity();
    const LeaderElectionConfig& le = config_.leader_election;
    if (le.enabled) {
      const KubernetesSourceConfig* lkube = KubeSource(le.source);
      if (lkube == nullptr) return absl::InvalidArgumentError("leader_election.source: not kubernetes");
      ASSIGN_OR_RETURN(std::shared_ptr<KubeCredentials> lcred, kube::KubeCredentialsFor(*lkube));
      auto client = std::make_unique<KubeClient>(std::move(lcred));
      client->SetUserAgentSuffix(identity);
      LeaderElectorOptions o;
      o.identity = identity;
      o.lease_duration = le.lease_duration;
      o.renew_deadline = le.renew_deadline;
      o.retry_period = le.retry_period;
      o.clock = clock_;
      o.on_started_leading = [this] {
        metrics_->SetLeader(true);
        metrics_->IncLeaderTransitions();
        queue_.Add(kPublishKey);
      };
      o.on_stopped_leading = [this] {
        // CanWrite() is already false: wait for a publish in flight to end.
        publish_->WaitForPublishToEnd();
        metrics_->SetLeader(false);
        metrics_->IncLeaderTransitions();
      };
      o.on_new_leader = [](const std::string& holder) {
        LOG_INFO("leader election: the lease holder changed",
                 {{"holder", holder.empty() ? "(none)" : holder}});
      };
      // A request may take at most renew_deadline (client-go's context).
      elector_ = std::make_unique<LeaderElector>(
          std::move(o), std::make_unique<KubeLeaseLock>(std::move(client), le.namespace_, le.name,
                                                        le.renew_deadline));
      metrics_->SetLeader(false);
    }
    auto client = std::make_unique<KubeClient>(std::move(credentials));
    client->SetUserAgentSuffix(identity);
    if (le.enabled) {
      // A write must not land long after the fence dropped: bound it by the
      // margin between renew_deadline and lease_duration.
      client->SetWriteTimeout(std::max(absl::Seconds(1), le.lease_duration - le.renew_deadline));
    }
    publish_ = std::make_unique<PublishReconciler>(
        out.dir, out.configmap->name, static_cast<int>(out.shards),
        std::make_unique<ConfigMapPublisher>(std::move(client), out.configmap->namespace_, clock_),
        elector_.get(), RealFilesystem(), [this] { return health_.Readyz().ok; });
    mux_.Handle(kPublishKey, publish_.get());
    LOG_INFO("publishing the output as ConfigMaps",
             {{"namespace", out.configmap->namespace_},
              {"name", out.configmap->name},
              {"shards", static_cast<int>(out.shards)},
              {"leader_election", le.enabled},
              {"identity", identity}});
    return absl::OkStatus();
  }

  // client-go's convention: the pod's hostname plus a random suffix, so a
  // restarted pod never mistakes the old incarnation's lease for its own.
  static std::string ReplicaIdentity() {
    char host[256] = {0};
    if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
    std::random_device rd;
    char suffix[17];
    std::snprintf(suffix, sizeof(suffix), "%08x%08x", rd(), rd());
    return absl::StrCat(host[0] != '\0' ? host : "promconf", "_", suffix);
  }

  absl::Status StartSources() {
    for (size_t i = 0; i < sources_.size(); ++i) {
      absl::Status s = sources_[i]->Start(sinks_[i].get());
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat("source \"", config_.sources[i].name,
                                                   "\": ", s.message()));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Start() override {
    RETURN_IF_ERROR(StartSources());
    // One worker: the outputs have one writer, and the queue already keeps a
    // key from running twice at once.
    controller_.Start(1);
    if (elector_ != nullptr) elector_->Start();
    return absl::OkStatus();
  }

  void Stop() override {
    absl::MutexLock lock(&stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    // The lease first: stop publishing, then release it so a successor takes
    // over at once (client-go's ReleaseOnCancel).
    if (elector_ != nullptr) elector_->Stop();
    // Sources next, so nothing is added while the queue drains.
    for (auto& source : sources_) source->Stop();
    controller_.Stop();
    second_opinion_.Join();
    queue_metrics_.StopRefreshing();
  }

  absl::Status RunOnce() override {
    RETURN_IF_ERROR(StartSources());
    if (!health_.WaitAllSynced(options_.sync_timeout)) {
      return absl::DeadlineExceededError(
          absl::StrCat("not every source synced within ",
                       absl::FormatDuration(options_.sync_timeout), ": ",
                       health_.NotSyncedReport()));
    }
    if (elector_ != nullptr) {
      LOG_INFO("--once does not publish ConfigMaps under leader election", {});
    }
    // What the sources hold now is what this run renders: later changes
    // (a rescan, an event) would only render again.
    for (auto& source : sources_) source->Stop();
    // The sources' first snapshots queued "render": the controller takes it
    // and whatever it queues (promtool's second opinion, the reload,
    // publishing) on this thread, as the daemon's worker would.
    absl::Status drove = DriveUntilIdle();
    // Events for rejected fragments go out before the process does.
    events_.Flush(absl::Seconds(5));
    RETURN_IF_ERROR(drove);
    if (published_input_ != nullptr) {
      if (!health_.Readyz().ok) {
        return absl::FailedPreconditionError(
            "output.from_configmap: no complete published set to copy (see the log)");
      }
      return absl::OkStatus();
    }
    const ReconcileReport report = output_.LastReport();
    int rejected = 0;
    for (const auto& [kind, n] : report.rejected) rejected += n;
    if (rejected > 0) {
      LOG_WARN("some fragments were rejected and left out", {{"rejected", rejected}});
    }
    if (options_.dry_run) {
      std::fputs(report.diff.c_str(), stdout);
      std::fflush(stdout);
      LOG_INFO("dry run: nothing written", {{"changed", !report.diff.empty()}});
      return absl::OkStatus();
    }
    LOG_INFO("outputs synced", {{"dir", config_.output.dir},
                                {"written", report.files_written},
                                {"removed", report.files_removed}});
    return absl::OkStatus();
  }

  // Runs the controller on the calling thread until no key is ready and no
  // promtool run is in flight, or until something failed: a retry is not
  // waited for, its error is the run's. REQUIRES: the workers were not
  // started (--once).
  absl::Status DriveUntilIdle() {
    while (queue_.Len() > 0 || second_opinion_.Running()) {
      if (!controller_.ProcessNextItem()) break;
      RETURN_IF_ERROR(OnceFailure());
    }
    return OnceFailure();
  }

  absl::Status OnceFailure() {
    for (const auto& [key, status] : recorder_.Failures()) {
      // An init container runs before Prometheus: nothing listening means
      // nothing to reload, and Prometheus will read the files when it starts.
      if (key == Reloader::kKey && IsNothingListening(status)) {
        if (!said_nothing_listening_) {
          LOG_INFO("nothing listening at reload.url; Prometheus will load the files when it starts",
                   {{"url", config_.reload.url}});
          said_nothing_listening_ = true;
        }
        continue;
      }
      return absl::Status(status.code(), absl::StrCat(key, ": ", status.message()));
    }
    return second_opinion_.LastRunStatus();
  }

  HealthReport Healthz() const override { return health_.Healthz(); }
  HealthReport Readyz() const override { return health_.Readyz(); }

  std::string FragmentsJson() const override {
    // Document names and errors carry tenants' bytes: the shared escaper
    // keeps the answer valid UTF-8 JSON whatever they hold.
    std::string out = "[";
    for (const FragmentStatus& f : output_.FragmentStatuses()) {
      if (out.size() > 1) out.push_back(',');
      out.append("{\"source\":");
      AppendJsonString(&out, f.source);
      out.append(",\"document\":");
      AppendJsonString(&out, f.document);
      out.append(",\"kind\":");
      AppendJsonString(&out, f.kind);
      out.append(",\"status\":");
      AppendJsonString(&out, f.status);
      out.append(",\"error\":");
      AppendJsonString(&out, f.error);
      absl::StrAppend(&out, ",\"bytes\":", f.bytes, "}");
    }
    out.push_back(']');
    return out;
  }

 private:
  // Constant after construction.
  const Config config_;
  const AppOptions options_;
  Clock* const clock_;

  DocumentStore store_;
  HealthTracker health_;
  runtime::QueueMetrics queue_metrics_;
  runtime::WorkQueue queue_;
  OutputReconciler output_;
  std::unique_ptr<Reloader> reloader_;
  RejectionEvents events_;
  HealthRenderGate gate_;
  RenderReconciler render_;
  SecondOpinionReconciler second_opinion_;
  Metrics* const metrics_;
  runtime::ReconcilerMux mux_;
  runtime::ReconcileMetricsObserver observer_;
  FailureRecorder recorder_;
  runtime::Controller controller_;
  SourceMetricsAdapter source_metrics_;
  std::vector<std::unique_ptr<SourceSink>> sinks_;
  std::vector<std::unique_ptr<Source>> sources_;
  // Controller mode: destroyed before the queue and mux they use (members
  // are destroyed in reverse order; ~AppImpl stops everything first).
  std::unique_ptr<LeaderElector> elector_;
  std::unique_ptr<PublishReconciler> publish_;
  std::unique_ptr<PublishedSetReconciler> published_input_;

  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
  // Only touched by RunOnce.
  bool said_nothing_listening_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Source>> NewSource(const SourceContext& context,
                                                  const SourceConfig& config) {
  struct Factory {
    const SourceContext& context;
    absl::StatusOr<std::unique_ptr<Source>> operator()(const FileSourceConfig& c) const {
      return file::NewFileSource(context, c);
    }
    absl::StatusOr<std::unique_ptr<Source>> operator()(const EtcdSourceConfig& c) const {
      return etcd::NewEtcdSource(context, c);
    }
    absl::StatusOr<std::unique_ptr<Source>> operator()(const KubernetesSourceConfig& c) const {
      return kube::NewKubernetesSource(context, c);
    }
    absl::StatusOr<std::unique_ptr<Source>> operator()(const ZookeeperSourceConfig& c) const {
      return zk::NewZookeeperSource(context, c);
    }
    absl::StatusOr<std::unique_ptr<Source>> operator()(const ConsulSourceConfig& c) const {
      return consul::NewConsulSource(context, c);
    }
  };
  return std::visit(Factory{context}, config.backend);
}

ValidationOptions ToValidationOptions(const Config& config) {
  ValidationOptions v;
  v.max_fragment_bytes = config.validation.max_fragment_bytes;
  v.enforce_namespace_label = config.validation.enforce_namespace_label;
  v.job_name_prefix = config.validation.job_name_prefix;
  v.prometheus_version = config.validation.prometheus_version;
  for (const SourceConfig& s : config.sources) {
    if (std::holds_alternative<KubernetesSourceConfig>(s.backend)) {
      v.namespaced_sources.insert(s.name);
    }
    if (s.trusted) v.trusted_sources.insert(s.name);
  }
  // Scrape configs inherit the base config's global intervals: a fragment's
  // scrape_timeout is judged against what Prometheus will apply.
  if (!config.output.base_config.empty()) {
    absl::StatusOr<std::string> text = ReadSmallFile(config.output.base_config, "base config");
    absl::StatusOr<YamlSubsetNode> root =
        text.ok() ? ParseYaml(*text, YamlParseOptions{}) : absl::StatusOr<YamlSubsetNode>(text.status());
    prom::ScrapeCheckOptions globals;
    absl::Status applied = root.ok() ? prom::ApplyGlobalConfig(*root, &globals) : root.status();
    if (applied.ok()) {
      v.global_scrape_interval_ns = globals.global_scrape_interval_ns;
      v.global_scrape_timeout_ns = globals.global_scrape_timeout_ns;
      v.global_name_validation_scheme = globals.global_name_validation_scheme;
    } else {
      LOG_WARN("base config's global section not read; scrape configs are checked against "
               "Prometheus' default intervals",
               {{"path", config.output.base_config}, {"err", applied.message()}});
    }
  }
  return v;
}

std::string DetectPrometheusVersion(const ReloadConfig& reload) {
  // The reload target's /api/v1/status/buildinfo: {"data":{"version":"2.42.0",...}}.
  if (reload.url.empty()) return "";
  const size_t path = reload.url.find("/-/reload");
  if (path == std::string::npos) return "";
  HttpClient http;
  HttpRequest req;
  req.url = reload.url.substr(0, path) + "/api/v1/status/buildinfo";
  req.timeout = absl::Seconds(2);
  req.connect_timeout = absl::Seconds(1);
  absl::StatusOr<HttpResponse> resp = http.Do(req);
  if (!resp.ok() || resp->status != 200) return "";
  return PrometheusVersionFromBuildinfo(resp->body);
}

std::string PrometheusVersionFromBuildinfo(absl::string_view body) {
  rapidjson::Document doc;
  // Iterative: the answer's depth cannot grow the stack.
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return "";
  auto data = doc.FindMember("data");
  if (data == doc.MemberEnd() || !data->value.IsObject()) return "";
  auto version = data->value.FindMember("version");
  if (version == data->value.MemberEnd() || !version->value.IsString()) return "";
  absl::StatusOr<prom::PromVersion> v = prom::ParsePromVersion(
      absl::string_view(version->value.GetString(), version->value.GetStringLength()));
  return v.ok() ? v->ToString() : "";
}

absl::StatusOr<std::unique_ptr<App>> App::Create(const Config& config, const AppOptions& options,
                                                 Metrics* metrics) {
  ReloaderOptions ro;
  ro.url = config.reload.url;
  ro.signal = config.reload.signal;
  ro.pid_file = config.reload.pid_file;
  ro.command = config.reload.command;
  ro.min_interval = config.reload.min_interval;
  ro.timeout = config.reload.timeout;
  ASSIGN_OR_RETURN(std::unique_ptr<Reloader> reloader,
                   Reloader::Create(std::move(ro), Clock::Real(), metrics));
  // validation.promtool: auto uses promtool when it is installed, always
  // insists on it.
  std::string promtool;
  if (config.validation.promtool != PromtoolMode::kNever) promtool = FindPromtool();
  if (config.validation.promtool == PromtoolMode::kAlways && promtool.empty()) {
    return absl::FailedPreconditionError(
        "validation.promtool is \"always\" but there is no promtool on $PATH");
  }
  LOG_INFO("promtool's second opinion on rule fragments (before reloads, never before files)",
           {{"promtool", promtool.empty() ? "(none)" : promtool}});
  // validation.prometheus_version "": the release the reload target runs, when
  // it answers; else the newest one promconf models.
  Config effective = config;
  if (effective.validation.prometheus_version.empty()) {
    effective.validation.prometheus_version = DetectPrometheusVersion(config.reload);
    LOG_INFO("validating fragments for Prometheus",
             {{"version", effective.validation.prometheus_version.empty()
                              ? absl::StrCat(prom::kNewestSupportedVersion.ToString(), " (newest supported)")
                              : absl::StrCat(effective.validation.prometheus_version, " (the reload target's)")}});
  }
  auto app = std::make_unique<AppImpl>(effective, options, metrics, std::move(reloader),
                                       std::move(promtool));
  RETURN_IF_ERROR(app->CreateSources());
  RETURN_IF_ERROR(app->CreateConfigMapOutput());
  return app;
}

}  // namespace promconf
