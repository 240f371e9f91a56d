#include "informers/kubernetes/kubernetes_source.h"

#include <random>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "informers/informer_thread.h"
#include "informers/kubernetes/reflector.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace promconf::kube {

// The Kubernetes client lives in promconf::kube; this Source is its adapter.

namespace {

class KubernetesSource : public Source, public ReflectorSink {
 public:
  KubernetesSource(const SourceContext& context, const KubernetesSourceConfig& config,
                   const KubernetesSourceTuning& tuning, std::shared_ptr<KubeCredentials> creds)
      : context_(context),
        config_(config),
        tuning_(tuning),
        credentials_(std::move(creds)),
        runtime_(context_.name, context_.clock,
                 tuning.backoff,
                 nullptr, [this] {
                   for (auto& r : reflectors_) r->Cancel();
                 }) {
    std::vector<std::string> namespaces = config_.namespaces;
    if (namespaces.empty()) namespaces.push_back("");
    std::vector<KubeResource> resources;
    if (config_.configmaps) resources.push_back(KubeResource::kConfigMaps);
    if (config_.secrets) resources.push_back(KubeResource::kSecrets);
    for (const std::string& ns : namespaces) {
      Group g;
      g.prefix = ns.empty() ? "" : absl::StrCat(ns, "/");
      g.namespace_ = ns;
      g.listed.assign(resources.size(), false);
      g.pending.resize(resources.size());
      groups_.push_back(std::move(g));
    }
    resources_ = std::move(resources);
    // One reflector per (namespace, resource), each a loop of the runtime.
    std::mt19937_64 seeds(tuning_.seed != 0 ? tuning_.seed : std::random_device{}());
    for (size_t g = 0; g < groups_.size(); ++g) {
      for (size_t m = 0; m < resources_.size(); ++m) {
        Reflector::Options o;
        o.source_name = context_.name;
        o.namespace_ = groups_[g].namespace_;
        o.resource = resources_[m];
        o.label_selector = config_.label_selector;
        o.max_document_bytes = context_.max_document_bytes;
        o.keep_every_document = context_.keep_every_document;
        o.group = static_cast<int>(g);
        o.member = static_cast<int>(m);
        reflectors_.push_back(std::make_unique<Reflector>(std::move(o), tuning_, credentials_,
                                                          this, context_.clock,
                                                          runtime_.stop_notification(), seeds()));
      }
    }
  }

  ~KubernetesSource() override { Stop(); }

  absl::Status Start(SourceCallbacks* callbacks) override {
    std::vector<InformerThread::Loop> loops;
    for (auto& r : reflectors_) {
      Reflector* reflector = r.get();
      loops.push_back([reflector](InformerContext&) { reflector->Run(); });
    }
    return runtime_.Start(callbacks, std::move(loops));
  }

  void Stop() override { runtime_.StopAndJoin(); }

  std::vector<std::string> SyncPrefixes() const override {
    std::vector<std::string> prefixes;
    for (const Group& g : groups_) prefixes.push_back(g.prefix);
    return prefixes;
  }

  absl::Duration progress_deadline() const override {
    if (tuning_.progress_deadline > absl::ZeroDuration()) return tuning_.progress_deadline;
    return tuning_.idle_timeout + tuning_.backoff.max;
  }

  // ReflectorSink. The reflectors of one group (namespace) are merged here,
  // inside the runtime's Deliver: one reflector at a time, no lock of ours.
  void OnListed(int group, int member, std::vector<Document> docs,
                const std::vector<size_t>& changed, std::vector<std::string> removed) override {
    runtime_.Deliver([&](SourceCallbacks& callbacks) {
      Listed(callbacks, groups_[group], member, std::move(docs), changed, removed);
    });
  }

  void OnChanges(int group, int member, std::vector<Document> upserts,
                 std::vector<std::string> deletes) override {
    runtime_.Deliver([&](SourceCallbacks& callbacks) {
      Changes(callbacks, groups_[group], member, std::move(upserts), deletes);
    });
  }

  void OnProgress(int group) override {
    runtime_.Deliver([&](SourceCallbacks& callbacks) {
      if (groups_[group].synced) callbacks.OnProgress();
    });
  }

  void OnError(const absl::Status& status) override {
    runtime_.Deliver([&](SourceCallbacks& callbacks) { callbacks.OnError(status); });
  }

 private:
  struct Group {
    std::string prefix;
    std::string namespace_;
    bool synced = false;
    // Until every resource of the group has listed once: which have, and
    // their documents (kept up to date by their watches).
    std::vector<bool> listed;
    std::vector<absl::flat_hash_map<std::string, Document>> pending;
  };

  void Listed(SourceCallbacks& callbacks, Group& g, int member, std::vector<Document> docs,
              const std::vector<size_t>& changed, const std::vector<std::string>& removed) {
    if (resources_.size() == 1) {
      callbacks.OnSnapshot(g.prefix, std::move(docs));
      g.synced = true;
      return;
    }
    if (!g.synced) {
      auto& pending = g.pending[member];
      pending.clear();
      for (Document& d : docs) {
        std::string name = d.name;
        pending.emplace(std::move(name), std::move(d));
      }
      g.listed[member] = true;
      for (bool listed : g.listed) {
        if (!listed) return;
      }
      std::vector<Document> all;
      for (auto& p : g.pending) {
        for (auto& [name, doc] : p) all.push_back(std::move(doc));
        p.clear();
      }
      callbacks.OnSnapshot(g.prefix, std::move(all));
      g.synced = true;
      return;
    }
    for (const std::string& name : removed) callbacks.OnDelete(name);
    for (size_t i : changed) callbacks.OnUpsert(std::move(docs[i]));
    callbacks.OnProgress();
  }

  void Changes(SourceCallbacks& callbacks, Group& g, int member, std::vector<Document> upserts,
               const std::vector<std::string>& deletes) {
    if (!g.synced) {
      auto& pending = g.pending[member];
      for (const std::string& name : deletes) pending.erase(name);
      for (Document& d : upserts) {
        std::string name = d.name;
        pending[std::move(name)] = std::move(d);
      }
      return;
    }
    for (const std::string& name : deletes) callbacks.OnDelete(name);
    for (Document& d : upserts) callbacks.OnUpsert(std::move(d));
  }

  // Constant after construction.
  const SourceContext context_;
  const KubernetesSourceConfig config_;
  const KubernetesSourceTuning tuning_;
  const std::shared_ptr<KubeCredentials> credentials_;
  std::vector<KubeResource> resources_;

  std::vector<std::unique_ptr<Reflector>> reflectors_;  // fixed after construction

  // The vector's shape is constant after construction; Group contents are
  // touched only inside runtime_.Deliver.
  std::vector<Group> groups_;

  // Last: stopped and joined before the reflectors and groups go.
  InformerThread runtime_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<KubeCredentials>> KubeCredentialsFor(
    const KubernetesSourceConfig& config, const KubernetesSourceTuning& tuning, Clock* clock) {
  absl::StatusOr<KubeRestConfig> rest = config.kubeconfig.empty()
                                            ? InClusterConfig(tuning.in_cluster)
                                            : LoadKubeconfig(config.kubeconfig, config.context);
  if (!rest.ok()) return rest.status();
  return std::make_shared<KubeCredentials>(*std::move(rest), tuning.token_refresh, clock);
}

absl::StatusOr<std::unique_ptr<Source>> NewKubernetesSource(const SourceContext& context,
                                                            const KubernetesSourceConfig& config,
                                                            KubernetesSourceTuning tuning) {
  if (!config.configmaps && !config.secrets) {
    return InvalidSourceConfig("kubernetes", context,
                               "resources must name configmaps and/or secrets");
  }
  for (const std::string& ns : config.namespaces) {
    if (ns.empty() || ns.find('/') != std::string::npos) {
      return InvalidSourceConfig("kubernetes", context, absl::StrCat("bad namespace \"", ns, "\""));
    }
  }
  if (tuning.watch_timeout_max <= tuning.watch_timeout_min) {
    tuning.watch_timeout_max = tuning.watch_timeout_min + absl::Seconds(1);
  }
  absl::StatusOr<std::shared_ptr<KubeCredentials>> credentials =
      KubeCredentialsFor(config, tuning, context.clock);
  if (!credentials.ok()) {
    return absl::Status(credentials.status().code(),
                        absl::StrCat("kubernetes source \"", context.name,
                                     "\": ", credentials.status().message()));
  }
  return std::unique_ptr<Source>(
      std::make_unique<KubernetesSource>(context, config, tuning, *std::move(credentials)));
}

}  // namespace promconf::kube
