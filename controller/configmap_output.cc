#include "controller/configmap_output.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controller/health.h"
#include "reconcile/reloader.h"
#include "runtime/workqueue.h"
#include "util/log.h"
#include "yaml-cpp/yaml.h"

namespace promconf {
namespace {

// Emits a yaml-cpp tree. Scalars that were quoted in the input (tag "!")
// stay double-quoted: "true" or "0123" must stay strings. Non-ASCII is
// escaped, so U+0085/U+2028/U+2029 never reach a YAML 1.1 reader raw.
void EmitNode(YAML::Emitter& out, const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (const auto& kv : n) {
        out << YAML::Key;
        EmitNode(out, kv.first);
        out << YAML::Value;
        EmitNode(out, kv.second);
      }
      out << YAML::EndMap;
      break;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& v : n) EmitNode(out, v);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Scalar:
      if (n.Tag() == "!") out << YAML::DoubleQuoted;
      out << n.Scalar();
      break;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out << YAML::Null;
      break;
  }
}

bool Owned(absl::string_view dir, absl::string_view name) {
  if (absl::StartsWith(name, kTempFilePrefix)) return false;
  if (dir.empty()) return name == "prometheus.yml";
  if (dir == "rules") return absl::EndsWith(name, ".yml") || absl::EndsWith(name, ".yaml");
  if (dir == "targets") {
    return absl::EndsWith(name, ".json") || absl::EndsWith(name, ".yml") ||
           absl::EndsWith(name, ".yaml");
  }
  return false;
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ReadOutputTree(Filesystem* fs,
                                                                  const std::string& dir) {
  std::map<std::string, std::string> files;
  absl::StatusOr<std::string> config = fs->ReadFile(absl::StrCat(dir, "/prometheus.yml"));
  if (!config.ok()) {
    return absl::UnavailableError(absl::StrCat("no ", dir, "/prometheus.yml to publish yet: ",
                                               config.status().message()));
  }
  files["prometheus.yml"] = *std::move(config);
  for (const char* sub : {"rules", "targets"}) {
    absl::StatusOr<std::vector<std::string>> names = fs->ListDir(absl::StrCat(dir, "/", sub));
    if (!names.ok()) {
      if (absl::IsNotFound(names.status())) continue;
      return names.status();
    }
    for (const std::string& name : *names) {
      if (!Owned(sub, name)) continue;
      absl::StatusOr<std::string> data = fs->ReadFile(absl::StrCat(dir, "/", sub, "/", name));
      if (absl::IsNotFound(data.status())) continue;  // removed meanwhile
      if (!data.ok()) return data.status();
      files[absl::StrCat(sub, "/", name)] = *std::move(data);
    }
  }
  return files;
}

absl::StatusOr<std::string> ShardPrometheusConfig(const std::string& prometheus_yml, int shard,
                                                  int shards) {
  YAML::Node root;
  try {
    root = YAML::Load(prometheus_yml);
  } catch (const YAML::Exception& e) {
    return absl::InternalError(absl::StrCat("prometheus.yml: ", e.msg));
  }
  if (!root.IsMap()) return absl::InternalError("prometheus.yml: not a mapping");
  YAML::Emitter out;
  out.SetOutputCharset(YAML::EscapeNonAscii);
  try {
    YAML::Node scrape = root["scrape_configs"];
    if (scrape && scrape.IsSequence()) {
      for (YAML::Node sc : scrape) {
        if (!sc.IsMap()) continue;
        YAML::Node relabel = sc["relabel_configs"];
        if (!relabel || !relabel.IsSequence()) {
          relabel = YAML::Node(YAML::NodeType::Sequence);
        }
        YAML::Node hash(YAML::NodeType::Map);
        YAML::Node address(YAML::NodeType::Sequence);
        address.push_back("__address__");
        hash["source_labels"] = address;
        hash["modulus"] = shards;
        hash["target_label"] = "__tmp_hash";
        hash["action"] = "hashmod";
        YAML::Node keep(YAML::NodeType::Map);
        YAML::Node tmp(YAML::NodeType::Sequence);
        tmp.push_back("__tmp_hash");
        keep["source_labels"] = tmp;
        YAML::Node regex(absl::StrCat(shard));
        regex.SetTag("!");  // a string, quoted: "^(?:1)$" in Prometheus
        keep["regex"] = regex;
        keep["action"] = "keep";
        relabel.push_back(hash);
        relabel.push_back(keep);
        sc["relabel_configs"] = relabel;
      }
    }
    EmitNode(out, root);
  } catch (const YAML::Exception& e) {
    return absl::InternalError(absl::StrCat("prometheus.yml: ", e.msg));
  }
  if (!out.good()) return absl::InternalError(absl::StrCat("prometheus.yml: ", out.GetLastError()));
  return absl::StrCat(out.c_str(), "\n");
}

PublishReconciler::PublishReconciler(std::string dir, std::string output_name, int shards,
                                     std::unique_ptr<kube::ConfigMapPublisher> publisher,
                                     kube::LeaderElector* elector, Filesystem* fs,
                                     std::function<bool()> rendered)
    : dir_(std::move(dir)),
      output_name_(std::move(output_name)),
      shards_(shards),
      elector_(elector),
      fs_(fs),
      rendered_(std::move(rendered)),
      publisher_(std::move(publisher)) {}

void PublishReconciler::WaitForPublishToEnd() { absl::MutexLock lock(&publish_mu_); }

runtime::ReconcileResult PublishReconciler::Reconcile(const std::string& key) {
  (void)key;
  // Followers render but do not publish; becoming the leader queues us.
  // Not rendered yet: the first render queues us again.
  if (!CanWrite() || !rendered_()) return {};
  absl::MutexLock lock(&publish_mu_);
  absl::StatusOr<std::map<std::string, std::string>> files = ReadOutputTree(fs_, dir_);
  if (!files.ok()) return {files.status(), std::nullopt};
  int written = 0;
  for (int k = 0; k < shards_; ++k) {
    kube::PublishedSetId id{output_name_, k, shards_};
    std::map<std::string, std::string> shard_files = *files;
    if (shards_ > 1) {
      absl::StatusOr<std::string> config =
          ShardPrometheusConfig(shard_files["prometheus.yml"], k, shards_);
      if (!config.ok()) return {config.status(), std::nullopt};
      shard_files["prometheus.yml"] = *std::move(config);
    }
    absl::StatusOr<std::vector<kube::PublishedConfigMap>> layout =
        kube::LayoutPublishedSet(shard_files, id);
    if (!layout.ok()) return {layout.status(), std::nullopt};
    absl::StatusOr<kube::PublishStats> stats =
        publisher_->Publish(id, *layout, [this] { return CanWrite(); });
    if (!stats.ok()) {
      // Lost the lease half way: the next leader publishes the whole set.
      if (!CanWrite()) return {};
      LOG_WARN("publishing the output ConfigMaps failed",
               {{"output", id.SetName()}, {"err", stats.status().message()}});
      absl::Status s = stats.status();
      // A ConfigMap promconf does not own blocks the name: retry slowly.
      if (absl::IsFailedPrecondition(s)) return {s, kResync};
      return {absl::UnavailableError(s.message()), std::nullopt};
    }
    written += stats->written();
    if (stats->written() > 0) {
      LOG_INFO("published the output ConfigMaps",
               {{"output", id.SetName()},
                {"configmaps", static_cast<int>(layout->size())},
                {"created", stats->created},
                {"updated", stats->updated},
                {"deleted", stats->deleted},
                {"unchanged", stats->unchanged}});
    }
  }
  (void)written;
  return {absl::OkStatus(), kResync};
}

PublishedSetReconciler::PublishedSetReconciler(DocumentStore* store, std::string source,
                                               std::string ns, std::string name, int shard,
                                               std::string dir, Filesystem* fs,
                                               HealthTracker* health, runtime::WorkQueue* queue,
                                               bool reload_enabled)
    : store_(store),
      source_(std::move(source)),
      ns_(std::move(ns)),
      name_(std::move(name)),
      shard_(shard),
      health_(health),
      queue_(queue),
      reload_enabled_(reload_enabled),
      writer_(fs, std::move(dir)) {}

runtime::ReconcileResult PublishedSetReconciler::Reconcile(const std::string& key) {
  (void)key;
  if (!health_->AllSynced()) return {};
  std::shared_ptr<const StoreSnapshot> snap = store_->Snapshot();
  const StoreSnapshot::Source* docs = nullptr;
  for (const auto& s : snap->sources) {
    if (s.name == source_) docs = &s;
  }
  if (docs == nullptr) return {absl::InternalError("from_configmap: unknown source"), std::nullopt};
  // Documents are "<namespace>/<configmap>/<key>", sorted.
  std::map<std::pair<std::string, std::string>, absl::string_view> values;  // (ns/cm, key)
  std::vector<std::pair<std::string, const std::string*>> indexes;          // (ns/cm, json)
  for (const auto& stored : docs->docs) {
    const std::string& n = stored->doc.name;
    const size_t last = n.rfind('/');
    if (last == std::string::npos) continue;
    std::string cm = n.substr(0, last);
    std::string k = n.substr(last + 1);
    if (k == kube::kPublishedIndexKey) indexes.emplace_back(cm, &stored->doc.data);
    values[{std::move(cm), std::move(k)}] = stored->doc.data;
  }
  std::string problem;
  std::string chosen_cm;
  const std::string* chosen = nullptr;
  for (const auto& [cm, json] : indexes) {
    const std::string ns = cm.substr(0, cm.find('/'));
    if (!ns_.empty() && ns != ns_) continue;
    absl::StatusOr<kube::PublishedIndex> index = kube::ParsePublishedIndex(*json);
    if (!index.ok() || index->output != name_ || index->shard != shard_) continue;
    if (chosen != nullptr) {
      problem = absl::StrCat("more than one published set matches output \"", name_, "\" shard ",
                             shard_, " (", chosen_cm, ", ", cm,
                             "): set output.from_configmap.namespace or narrow the source");
      chosen = nullptr;
      break;
    }
    chosen = json;
    chosen_cm = cm;
  }
  if (chosen == nullptr && problem.empty()) {
    problem = absl::StrCat("no published set for output \"", name_, "\" shard ", shard_,
                           " among source \"", source_, "\"'s ConfigMaps yet");
  }
  absl::StatusOr<std::map<std::string, std::string>> files;
  if (chosen != nullptr) {
    const std::string ns = chosen_cm.substr(0, chosen_cm.find('/'));
    files = kube::AssemblePublishedSet(
        *chosen, [&](const std::string& cm, const std::string& k) -> std::optional<absl::string_view> {
          auto it = values.find({absl::StrCat(ns, "/", cm), k});
          if (it == values.end()) return std::nullopt;
          return it->second;
        });
    if (!files.ok()) problem = std::string(files.status().message());
  }
  if (!problem.empty()) {
    // A set caught half-written completes with the next watch event: keep
    // the files as they are and say so once.
    if (problem != last_problem_) {
      LOG_WARN("not copying the published set", {{"reason", problem}});
      last_problem_ = problem;
    }
    return {};
  }
  last_problem_.clear();
  std::map<std::string, absl::string_view> views;
  for (const auto& [path, data] : *files) views[path] = data;
  absl::StatusOr<AtomicFileWriter::SyncResult> result =
      writer_.SyncTree(views, {"", "rules", "targets"}, Owned);
  if (!result.ok()) return {absl::UnavailableError(result.status().message()), std::nullopt};
  if (result->changed()) {
    LOG_INFO("copied the published set", {{"configmap", chosen_cm},
                                          {"written", result->written},
                                          {"removed", result->removed}});
  }
  const bool config_changed = result->dirs.count("") > 0 || result->dirs.count("rules") > 0;
  if (reload_enabled_ && (config_changed || !written_once_)) queue_->Add(Reloader::kKey);
  written_once_ = true;
  health_->MarkRendered();
  return {};
}

}  // namespace promconf
