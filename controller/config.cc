#include "controller/config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "reconcile/prometheus/scrape_schema.h"
#include "util/duration.h"
#include "util/status_macros.h"
#include "util/yaml_nesting.h"

namespace promconf {

const char kDefaultConfigYaml[] = R"(# promconf's embedded default: the example fragments, written to ./out.
output:
  dir: ./out
  base_config: ./examples/base.yml
sources:
  - name: local
    file:
      paths: [./examples/fragments]
)";

namespace {

// Reads one YAML mapping strictly: every getter marks its key as known,
// Finish() rejects the rest. The first error wins; later calls are no-ops.
class Block {
 public:
  Block(YAML::Node node, std::string where, std::string file, absl::Status* error)
      : node_(std::move(node)), where_(std::move(where)), file_(std::move(file)), error_(error) {
    if (!node_.IsDefined() || node_.IsNull()) return;
    if (!node_.IsMap()) {
      Fail(node_, where_, "expected a mapping");
      return;
    }
    std::set<std::string> seen;
    for (const auto& kv : node_) {
      std::string key = kv.first.Scalar();
      if (!seen.insert(key).second) Fail(kv.first, Key(key), "duplicate key");
    }
  }

  bool ok() const { return error_->ok(); }

  void String(const char* key, std::string* out) {
    YAML::Node n = Get(key);
    if (!n) return;
    if (!n.IsScalar()) return Fail(n, Key(key), "expected a string");
    absl::StatusOr<std::string> v = ExpandEnv(n.Scalar());
    if (!v.ok()) return Fail(n, Key(key), v.status().message());
    *out = *std::move(v);
  }

  void Bool(const char* key, bool* out) {
    YAML::Node n = Get(key);
    if (!n) return;
    bool v;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      return Fail(n, Key(key), "expected true or false");
    }
    *out = v;
  }

  void UInt(const char* key, uint64_t* out) {
    YAML::Node n = Get(key);
    if (!n) return;
    uint64_t v;
    if (!n.IsScalar() || n.Scalar().empty() || n.Scalar()[0] == '-' ||
        !YAML::convert<uint64_t>::decode(n, v)) {
      return Fail(n, Key(key), "expected a non-negative integer");
    }
    *out = v;
  }

  void Duration(const char* key, absl::Duration* out, bool allow_zero = false) {
    YAML::Node n = Get(key);
    if (!n) return;
    if (!n.IsScalar()) return Fail(n, Key(key), "expected a duration such as 30s");
    absl::StatusOr<absl::Duration> d = ParsePrometheusDuration(n.Scalar());
    if (!d.ok()) return Fail(n, Key(key), d.status().message());
    if (!allow_zero && *d <= absl::ZeroDuration()) {
      return Fail(n, Key(key), "must be greater than zero");
    }
    *out = *d;
  }

  void StringList(const char* key, std::vector<std::string>* out) {
    YAML::Node n = Get(key);
    if (!n) return;
    if (!n.IsSequence()) return Fail(n, Key(key), "expected a list of strings");
    out->clear();
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string where = absl::StrCat(Key(key), "[", i, "]");
      if (!n[i].IsScalar()) return Fail(n[i], where, "expected a string");
      absl::StatusOr<std::string> v = ExpandEnv(n[i].Scalar());
      if (!v.ok()) return Fail(n[i], where, v.status().message());
      out->push_back(*std::move(v));
    }
  }

  // A nested mapping (absent: an empty block that reads nothing).
  Block Child(const char* key) {
    YAML::Node n = Get(key);
    return Block(n ? n : YAML::Node(), Key(key), file_, error_);
  }

  bool Has(const char* key) const { return node_.IsMap() && node_[key].IsDefined(); }

  // A list of mappings.
  std::vector<Block> List(const char* key) {
    std::vector<Block> out;
    YAML::Node n = Get(key);
    if (!n) return out;
    if (!n.IsSequence()) {
      Fail(n, Key(key), "expected a list");
      return out;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      out.emplace_back(n[i], absl::StrCat(Key(key), "[", i, "]"), file_, error_);
    }
    return out;
  }

  // Rejects every key no getter asked for.
  void Finish() {
    if (!node_.IsMap()) return;
    for (const auto& kv : node_) {
      const std::string key = kv.first.Scalar();
      if (known_.count(key) == 0) return Fail(kv.first, Key(key), "unknown key");
    }
  }

  void Fail(const YAML::Node& at, const std::string& where, absl::string_view why) {
    if (!error_->ok()) return;
    const YAML::Mark mark = at.Mark();
    *error_ = absl::InvalidArgumentError(
        absl::StrCat(file_, ":", mark.line + 1, ":", mark.column + 1, ": ", where, ": ", why));
  }
  void Fail(const std::string& where, absl::string_view why) { Fail(node_, where, why); }
  // Points at `key`'s value when present, else at this block.
  void FailKey(const char* key, absl::string_view why) {
    const YAML::Node& self = node_;
    YAML::Node n = self.IsMap() ? self[key] : YAML::Node();
    Fail(n.IsDefined() ? n : node_, Key(key), why);
  }

  const std::string& where() const { return where_; }
  const YAML::Node& node() const { return node_; }

 private:
  std::string Key(absl::string_view key) const {
    return where_.empty() ? std::string(key) : absl::StrCat(where_, ".", key);
  }

  YAML::Node Get(const char* key) {
    known_.insert(key);
    if (!ok() || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    YAML::Node n = node_[key];
    if (!n.IsDefined() || n.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
    return n;
  }

  static absl::StatusOr<std::string> ExpandEnv(const std::string& in) {
    std::string out;
    size_t pos = 0;
    while (pos < in.size()) {
      size_t start = in.find("$(", pos);
      if (start == std::string::npos) break;
      size_t end = in.find(')', start + 2);
      if (end == std::string::npos) break;
      std::string var = in.substr(start + 2, end - start - 2);
      const char* value = std::getenv(var.c_str());
      if (value == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("environment variable ", var, " (used as $(", var, ")) is not set"));
      }
      out.append(in, pos, start - pos).append(value);
      pos = end + 1;
    }
    out.append(in, pos, std::string::npos);
    return out;
  }

  YAML::Node node_;
  std::string where_;
  std::string file_;
  absl::Status* error_;
  std::set<std::string> known_;
};

void ReadTls(Block b, TlsConfig* tls) {
  b.String("ca_file", &tls->ca_file);
  b.String("cert_file", &tls->cert_file);
  b.String("key_file", &tls->key_file);
  b.Bool("insecure_skip_verify", &tls->insecure_skip_verify);
  b.Finish();
  if (tls->cert_file.empty() != tls->key_file.empty()) {
    b.Fail(b.where(), "cert_file and key_file go together");
  }
}

void ReadKubernetes(Block b, KubernetesSourceConfig* k) {
  b.String("kubeconfig", &k->kubeconfig);
  b.String("context", &k->context);
  b.StringList("namespaces", &k->namespaces);
  b.String("label_selector", &k->label_selector);
  std::vector<std::string> resources;
  bool has_resources = b.Has("resources");
  b.StringList("resources", &resources);
  b.Finish();
  if (has_resources) {
    k->configmaps = k->secrets = false;
    for (const std::string& r : resources) {
      if (r == "configmaps") k->configmaps = true;
      else if (r == "secrets") k->secrets = true;
      else b.Fail(b.where() + ".resources", absl::StrCat("unknown resource \"", r,
                                                         "\" (configmaps, secrets)"));
    }
    if (resources.empty()) b.Fail(b.where() + ".resources", "must name configmaps and/or secrets");
  }
}

void ReadEtcd(Block b, EtcdSourceConfig* e) {
  b.StringList("endpoints", &e->endpoints);
  b.String("prefix", &e->prefix);
  b.String("username", &e->username);
  b.String("password_file", &e->password_file);
  ReadTls(b.Child("tls"), &e->tls);
  b.Finish();
  if (e->endpoints.empty()) b.Fail(b.where() + ".endpoints", "needs at least one endpoint");
  if (!e->username.empty() && e->password_file.empty()) {
    b.Fail(b.where() + ".password_file", "username needs password_file");
  }
}

// Why `path` is not an absolute znode path, or "" when it is.
std::string ZnodePathProblem(const std::string& path) {
  if (path.empty() || path[0] != '/') return "must start with /";
  if (path == "/") return "";
  if (path.back() == '/') return "must not end with /";
  for (absl::string_view part : absl::StrSplit(absl::string_view(path).substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") return "has an empty, . or .. element";
  }
  if (path.find('\0') != std::string::npos) return "contains NUL";
  return "";
}

void ReadZookeeper(Block b, ZookeeperSourceConfig* z) {
  b.StringList("servers", &z->servers);
  b.Duration("session_timeout", &z->session_timeout);
  b.StringList("paths", &z->paths);
  b.String("auth_file", &z->auth_file);
  for (const std::string& path : z->paths) {
    std::string problem = ZnodePathProblem(path);
    if (!problem.empty()) b.Fail(b.where() + ".paths", absl::StrCat("\"", path, "\" ", problem));
  }
  std::set<std::string> jobs;
  for (Block s : b.List("serversets")) {
    ServersetConfig set;
    s.String("path", &set.path);
    s.String("job", &set.job);
    s.String("format", &set.format);
    s.Finish();
    if (set.path.empty() || set.job.empty()) s.Fail(s.where(), "needs path and job");
    std::string problem = set.path.empty() ? "" : ZnodePathProblem(set.path);
    if (!problem.empty()) s.Fail(s.where() + ".path", absl::StrCat("\"", set.path, "\" ", problem));
    if (set.format != "serverset" && set.format != "nerve") {
      s.Fail(s.where() + ".format", "must be serverset or nerve");
    }
    if (!set.job.empty() && !jobs.insert(set.job).second) {
      s.Fail(s.where() + ".job", absl::StrCat("job \"", set.job, "\" is already used by another serverset"));
    }
    z->serversets.push_back(set);
  }
  b.Finish();
  if (z->servers.empty()) b.Fail(b.where() + ".servers", "needs at least one server");
  if (z->paths.empty() && z->serversets.empty()) b.Fail(b.where(), "needs paths or serversets");
  if (z->session_timeout < absl::Milliseconds(100)) {
    b.Fail(b.where() + ".session_timeout", "must be at least 100ms");
  }
}

void ReadConsul(Block b, ConsulSourceConfig* c) {
  b.String("address", &c->address);
  b.String("token_file", &c->token_file);
  b.String("datacenter", &c->datacenter);
  b.String("kv_prefix", &c->kv_prefix);
  ReadTls(b.Child("tls"), &c->tls);
  std::set<std::string> jobs;
  for (Block s : b.List("services")) {
    ConsulServiceConfig svc;
    s.String("name", &svc.name);
    s.String("job", &svc.job);
    s.StringList("tags", &svc.tags);
    s.Bool("passing_only", &svc.passing_only);
    s.Finish();
    if (svc.name.empty()) s.Fail(s.where(), "needs name");
    if (svc.job.empty()) svc.job = svc.name;
    if (!svc.job.empty() && !jobs.insert(svc.job).second) {
      s.Fail(s.where() + ".job", absl::StrCat("job \"", svc.job, "\" is already used by another service"));
    }
    c->services.push_back(svc);
  }
  b.Finish();
  if (!absl::StartsWith(c->address, "http://") && !absl::StartsWith(c->address, "https://")) {
    b.Fail(b.where() + ".address", "must start with http:// or https://");
  }
  if (absl::StartsWith(c->kv_prefix, "/")) {
    b.Fail(b.where() + ".kv_prefix", "must not start with / (Consul keys never do)");
  }
  if (c->kv_prefix.empty() && c->services.empty()) b.Fail(b.where(), "needs kv_prefix or services");
}

void ReadFile(Block b, FileSourceConfig* f) {
  b.StringList("paths", &f->paths);
  b.Finish();
  if (f->paths.empty()) b.Fail(b.where() + ".paths", "needs at least one path");
}

// The `key:` block of a sources[] entry, when present, as its backend;
// counts the backends named so that the caller can insist on exactly one.
template <typename BackendConfig>
void ReadBackend(Block& s, const char* key, void (*read)(Block, BackendConfig*),
                 SourceConfig* source, int* backends) {
  if (!s.Has(key)) return;
  ++*backends;
  BackendConfig c;
  read(s.Child(key), &c);
  source->backend = std::move(c);
}

}  // namespace

absl::StatusOr<Config> ParseConfig(absl::string_view yaml, absl::string_view filename) {
  const std::string file(filename);
  // yaml-cpp recurses per nesting level: bound it before it parses.
  if (absl::Status deep = CheckYamlNesting(yaml); !deep.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", deep.message()));
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
  Config config;
  config.path = file;
  absl::Status error;
  try {
    Block top(root, "", file, &error);
    if (root.IsDefined() && !root.IsNull() && !root.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": expected a mapping at the top"));
    }

    Block output = top.Child("output");
    output.String("dir", &config.output.dir);
    output.String("base_config", &config.output.base_config);
    if (output.Has("configmap")) {
      Block cm = output.Child("configmap");
      ConfigMapOutputConfig c;
      cm.String("source", &c.source);
      cm.String("namespace", &c.namespace_);
      cm.String("name", &c.name);
      cm.Finish();
      if (c.source.empty() || c.namespace_.empty() || c.name.empty()) {
        cm.Fail(cm.where(), "needs source, namespace and name");
      }
      config.output.configmap = c;
    }
    output.UInt("shards", &config.output.shards);
    if (output.Has("from_configmap")) {
      Block fc = output.Child("from_configmap");
      PublishedInputConfig c;
      fc.String("source", &c.source);
      fc.String("namespace", &c.namespace_);
      fc.String("name", &c.name);
      fc.UInt("shard", &c.shard);
      fc.Finish();
      if (c.source.empty() || c.name.empty()) fc.Fail(fc.where(), "needs source and name");
      config.output.from_configmap = c;
    }
    output.Finish();
    if (config.output.shards < 1 || config.output.shards > 1000) {
      output.FailKey("shards", "must be between 1 and 1000");
    }
    if (config.output.shards > 1 && !config.output.configmap) {
      output.FailKey("shards", "needs output.configmap (shards are published ConfigMap sets)");
    }
    if (config.output.from_configmap && config.output.configmap) {
      output.FailKey("from_configmap",
                     "cannot be combined with output.configmap (a sidecar copies what a "
                     "controller publishes)");
    }
    if (config.output.from_configmap &&
        config.output.from_configmap->shard >= 1000) {
      output.Child("from_configmap").FailKey("shard", "must be below 1000");
    }
    if (config.output.dir.empty()) output.FailKey("dir", "must not be empty");

    Block validation = top.Child("validation");
    std::string promtool = "auto", prefix = "none";
    validation.String("promtool", &promtool);
    validation.String("prometheus_version", &config.validation.prometheus_version);
    validation.String("enforce_namespace_label", &config.validation.enforce_namespace_label);
    validation.UInt("max_fragment_bytes", &config.validation.max_fragment_bytes);
    validation.String("job_name_prefix", &prefix);
    validation.Finish();
    if (promtool == "auto") config.validation.promtool = PromtoolMode::kAuto;
    else if (promtool == "always") config.validation.promtool = PromtoolMode::kAlways;
    else if (promtool == "never") config.validation.promtool = PromtoolMode::kNever;
    else validation.FailKey("promtool", "must be auto, always or never");
    if (prefix == "none") config.validation.job_name_prefix = JobNamePrefix::kNone;
    else if (prefix == "namespace") config.validation.job_name_prefix = JobNamePrefix::kNamespace;
    else validation.FailKey("job_name_prefix", "must be none or namespace");
    if (absl::StatusOr<prom::PromVersion> v =
            prom::ParsePromVersion(config.validation.prometheus_version);
        !v.ok()) {
      validation.FailKey("prometheus_version", v.status().message());
    }
    if (config.validation.max_fragment_bytes == 0) {
      validation.FailKey("max_fragment_bytes", "must be greater than zero");
    }

    Block reload = top.Child("reload");
    reload.String("url", &config.reload.url);
    reload.String("signal", &config.reload.signal);
    reload.String("pid_file", &config.reload.pid_file);
    reload.StringList("command", &config.reload.command);
    reload.Duration("min_interval", &config.reload.min_interval, /*allow_zero=*/true);
    reload.Duration("timeout", &config.reload.timeout);
    reload.Finish();
    int methods = !config.reload.url.empty() + !config.reload.signal.empty() +
                  !config.reload.command.empty();
    if (methods > 1) reload.Fail("reload", "set at most one of url, signal, command");
    if (!config.reload.signal.empty() && config.reload.pid_file.empty()) {
      reload.FailKey("pid_file", "signal needs pid_file (whom to signal)");
    }

    Block le = top.Child("leader_election");
    le.Bool("enabled", &config.leader_election.enabled);
    le.String("source", &config.leader_election.source);
    le.String("namespace", &config.leader_election.namespace_);
    le.String("name", &config.leader_election.name);
    le.Duration("lease_duration", &config.leader_election.lease_duration);
    le.Duration("renew_deadline", &config.leader_election.renew_deadline);
    le.Duration("retry_period", &config.leader_election.retry_period);
    le.Finish();
    const LeaderElectionConfig& l = config.leader_election;
    if (l.renew_deadline >= l.lease_duration) {
      le.FailKey("renew_deadline", "must be shorter than lease_duration");
    }
    if (l.retry_period >= l.renew_deadline) {
      le.FailKey("retry_period", "must be shorter than renew_deadline");
    }

    std::set<std::string> names;
    for (Block s : top.List("sources")) {
      SourceConfig source;
      s.String("name", &source.name);
      s.Bool("trusted", &source.trusted);
      if (source.name.empty()) s.FailKey("name", "every source needs a name");
      if (!names.insert(source.name).second) {
        s.FailKey("name", absl::StrCat("duplicate source name \"", source.name, "\""));
      }
      int backends = 0;
      ReadBackend(s, "kubernetes", &ReadKubernetes, &source, &backends);
      ReadBackend(s, "etcd", &ReadEtcd, &source, &backends);
      ReadBackend(s, "zookeeper", &ReadZookeeper, &source, &backends);
      ReadBackend(s, "consul", &ReadConsul, &source, &backends);
      ReadBackend(s, "file", &ReadFile, &source, &backends);
      s.Finish();
      if (backends != 1) {
        s.Fail(s.where(), "needs exactly one of kubernetes, etcd, zookeeper, consul, file");
      }
      config.sources.push_back(std::move(source));
    }
    top.Finish();

    auto is_kubernetes = [&](const std::string& name) {
      for (const SourceConfig& s : config.sources) {
        if (s.name == name) return std::holds_alternative<KubernetesSourceConfig>(s.backend);
      }
      return false;
    };
    if (config.output.configmap && !is_kubernetes(config.output.configmap->source)) {
      output.Child("configmap").FailKey("source",
                  absl::StrCat("\"", config.output.configmap->source,
                               "\" is not the name of a kubernetes source"));
    }
    if (l.enabled && !is_kubernetes(l.source)) {
      le.FailKey("source",
              absl::StrCat("\"", l.source, "\" is not the name of a kubernetes source"));
    }
    // Replicas each write their own output.dir; only a published ConfigMap
    // is shared, so that is what leader election guards.
    if (l.enabled && !config.output.configmap) {
      le.FailKey("enabled", "needs output.configmap: only the published ConfigMaps are shared "
                            "between replicas");
    }
    // The published ConfigMaps must not come back as fragments: a source
    // that publishes and watches the output namespace needs a selector that
    // leaves them out (they carry app.kubernetes.io/managed-by=promconf).
    if (config.output.configmap) {
      for (const SourceConfig& s : config.sources) {
        const auto* k = std::get_if<KubernetesSourceConfig>(&s.backend);
        if (k == nullptr || !k->configmaps || !k->label_selector.empty()) continue;
        const bool watches_output =
            k->namespaces.empty() ||
            std::find(k->namespaces.begin(), k->namespaces.end(),
                      config.output.configmap->namespace_) != k->namespaces.end();
        if (watches_output) {
          output.Child("configmap").FailKey("namespace", absl::StrCat(
              "source \"", s.name, "\" watches every ConfigMap in \"",
              config.output.configmap->namespace_,
              "\" and would read the published output back as fragments: give it a "
              "label_selector (e.g. promconf.io/fragment=true)"));
        }
      }
    }
    if (config.output.from_configmap) {
      const std::string& src = config.output.from_configmap->source;
      bool ok = false;
      for (const SourceConfig& s : config.sources) {
        const auto* k = std::get_if<KubernetesSourceConfig>(&s.backend);
        if (s.name == src && k != nullptr && k->configmaps) ok = true;
      }
      if (!ok) {
        output.Child("from_configmap").FailKey("source",
            absl::StrCat("\"", src, "\" is not a kubernetes source watching configmaps"));
      }
    }
  } catch (const YAML::Exception& e) {
    if (error.ok()) {
      error = absl::InvalidArgumentError(
          absl::StrCat(file, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
    }
  }
  RETURN_IF_ERROR(error);
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return ParseConfig(buf.str(), path);
}

}  // namespace promconf
