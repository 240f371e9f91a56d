#include "controller/check_command.h"

#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controller/app.h"
#include "controller/config.h"
#include "informers/document.h"
#include "reconcile/fragment.h"
#include "util/file.h"
#include "util/json.h"
#include "yaml-cpp/yaml.h"

namespace promconf {
namespace {

constexpr char kCheckUsage[] = R"(usage: promconf check [flags] FILE...

Validates fragments exactly as the daemon would, without running it: each
FILE is a fragment named by its suffix (.rules.yml, .scrape.yml,
.targets.json, ...) or a Kubernetes manifest (.yaml/.yml) whose ConfigMaps'
data keys are fragments. Exit status 0 when every fragment is accepted, 1 when
any is rejected or cannot be read, 2 on a usage error.

Flags:
  --config.file=FILE     take validation settings and sources from promconf's
                         config file (default: the built-in defaults)
  --source=NAME          check as that source of the config file would
  --as-source=TYPE       check as an untrusted source of this type would:
                         file, etcd, zookeeper, consul or kubernetes
                         (default file)
  --namespace=NS         kubernetes: the namespace of plain fragment files
                         (default "default"; manifests carry their own)
  --format=FORMAT        text or json (default text)
)";

const char* const kSourceTypes[] = {"file", "etcd", "zookeeper", "consul", "kubernetes"};

struct CheckFlags {
  std::string config_file;
  std::string source;
  std::string as_source = "file";
  std::string namespace_ = "default";
  std::string format = "text";
  std::vector<std::string> files;
};

bool ParseCheckFlags(const std::vector<std::string>& args, CheckFlags* flags, std::string* error) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!absl::StartsWith(arg, "--")) {
      flags->files.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      *error = absl::StrCat("--", name, " needs a value");
      return false;
    }
    if (name == "config.file") flags->config_file = value;
    else if (name == "source") flags->source = value;
    else if (name == "as-source") flags->as_source = value;
    else if (name == "namespace") flags->namespace_ = value;
    else if (name == "format") flags->format = value;
    else {
      *error = absl::StrCat("unknown flag --", name);
      return false;
    }
  }
  if (flags->format != "text" && flags->format != "json") {
    *error = "--format must be text or json";
    return false;
  }
  bool known = false;
  for (const char* t : kSourceTypes) known |= flags->as_source == t;
  if (!known) {
    *error = "--as-source must be file, etcd, zookeeper, consul or kubernetes";
    return false;
  }
  if (flags->files.empty()) {
    *error = "no FILE to check";
    return false;
  }
  return true;
}

// One fragment to check: where it came from and the document a source
// would have made of it.
struct Candidate {
  std::string file;
  Document doc;
};

struct Verdict {
  std::string file;
  std::string document;
  std::string kind;
  bool accepted = false;
  FragmentError error;
  std::string message;  // the daemon's one-line rejection
};

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A manifest's ConfigMaps: every data key a document named as the Kubernetes
// source names it ("<namespace>/<configmap>/<key>").
absl::Status ConfigMapCandidates(const std::string& file, const std::string& text,
                                 const std::string& default_namespace, std::vector<Candidate>* out) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", e.what()));
  }
  size_t found = 0;
  try {
    for (const YAML::Node& d : docs) {
      if (!d.IsMap() || !d["kind"] || d["kind"].Scalar() != "ConfigMap") continue;
      ++found;
      const YAML::Node meta = d["metadata"];
      std::string ns = default_namespace, name = "unnamed";
      if (meta && meta.IsMap()) {
        if (meta["namespace"] && meta["namespace"].IsScalar()) ns = meta["namespace"].Scalar();
        if (meta["name"] && meta["name"].IsScalar()) name = meta["name"].Scalar();
      }
      for (const char* field : {"data", "binaryData"}) {
        const YAML::Node data = d[field];
        if (!data || !data.IsMap()) continue;
        for (auto it = data.begin(); it != data.end(); ++it) {
          Candidate c;
          c.file = file;
          c.doc.name = absl::StrCat(ns, "/", name, "/", it->first.Scalar());
          const std::string value = it->second.IsScalar() ? it->second.Scalar() : "";
          if (std::string(field) == "binaryData") {
            if (!absl::Base64Unescape(value, &c.doc.data)) {
              return absl::InvalidArgumentError(
                  absl::StrCat(file, ": ", c.doc.name, ": binaryData is not base64"));
            }
          } else {
            c.doc.data = value;
          }
          out->push_back(std::move(c));
        }
      }
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", e.what()));
  }
  if (found == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": neither a fragment (by its suffix) nor a manifest with a ConfigMap"));
  }
  return absl::OkStatus();
}

// Built with util/json.h's escaper: file and document names come from the
// user's tree and may hold any byte; the output stays valid UTF-8 JSON.
void PrintJson(const std::vector<Verdict>& verdicts) {
  std::string out = "[";
  for (size_t i = 0; i < verdicts.size(); ++i) {
    const Verdict& v = verdicts[i];
    if (i > 0) out.push_back(',');
    auto field = [&](absl::string_view key, absl::string_view value, bool first = false) {
      if (!first) out.push_back(',');
      AppendJsonString(&out, key);
      out.push_back(':');
      AppendJsonString(&out, value);
    };
    out.push_back('{');
    field("file", v.file, true);
    field("document", v.document);
    field("kind", v.kind);
    field("status", v.accepted ? "accepted" : "rejected");
    if (!v.accepted) {
      absl::StrAppend(&out, ",\"line\":", v.error.line);
      field("key", v.error.key);
      field("reason", v.error.reason);
      field("message", v.message);
    }
    out.push_back('}');
  }
  out.push_back(']');
  std::printf("%s\n", out.c_str());
}

}  // namespace

int RunCheckCommand(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(kCheckUsage, stdout);
      return 0;
    }
  }
  CheckFlags flags;
  std::string error;
  if (!ParseCheckFlags(args, &flags, &error)) {
    std::fprintf(stderr, "promconf check: %s\n\n%s", error.c_str(), kCheckUsage);
    return 2;
  }
  absl::StatusOr<Config> config = flags.config_file.empty()
                                      ? ParseConfig("output: {dir: ./out}\nsources: []\n", "<defaults>")
                                      : LoadConfigFile(flags.config_file);
  if (!config.ok()) {
    std::fprintf(stderr, "promconf check: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  // The policy a source of that type gets: its name, and whether its
  // documents are namespaced ("<namespace>/<configmap>/<key>").
  std::string source_name = flags.source.empty() ? "check" : flags.source;
  bool kubernetes = flags.as_source == "kubernetes";
  if (!flags.source.empty()) {
    const SourceConfig* found = nullptr;
    for (const SourceConfig& s : config->sources) {
      if (s.name == flags.source) found = &s;
    }
    if (found == nullptr) {
      std::fprintf(stderr, "promconf check: no source named \"%s\" in %s\n", flags.source.c_str(),
                   flags.config_file.c_str());
      return 2;
    }
    kubernetes = std::holds_alternative<KubernetesSourceConfig>(found->backend);
  } else {
    // A source of the chosen type that is not in the config file.
    SourceConfig s;
    s.name = source_name;
    if (kubernetes) s.backend = KubernetesSourceConfig{};
    config->sources.push_back(std::move(s));
  }
  const ValidationOptions options = ToValidationOptions(*config);

  std::vector<Candidate> candidates;
  int status = 0;
  for (const std::string& file : flags.files) {
    absl::StatusOr<std::string> text = ReadSmallFile(file, "file");
    if (!text.ok()) {
      std::fprintf(stderr, "promconf check: %s\n", std::string(text.status().message()).c_str());
      status = 1;
      continue;
    }
    Candidate c;
    c.file = file;
    c.doc.name = kubernetes ? absl::StrCat(flags.namespace_, "/local/", BaseName(file)) : BaseName(file);
    c.doc.data = *std::move(text);
    if (ClassifyDocument(c.doc) != FragmentKind::kIgnored) {
      candidates.push_back(std::move(c));
      continue;
    }
    if (absl::EndsWith(file, ".yaml") || absl::EndsWith(file, ".yml")) {
      if (absl::Status s = ConfigMapCandidates(file, c.doc.data, flags.namespace_, &candidates); !s.ok()) {
        std::fprintf(stderr, "promconf check: %s\n", std::string(s.message()).c_str());
        status = 1;
      }
      continue;
    }
    std::fprintf(stderr,
                 "promconf check: %s: not a fragment: the name must end in .rules.yml, .scrape.yml, "
                 ".targets.json (or .yaml variants)\n",
                 file.c_str());
    status = 1;
  }

  std::vector<Verdict> verdicts;
  for (const Candidate& c : candidates) {
    Verdict v;
    v.file = c.file;
    v.document = c.doc.name;
    FragmentKind kind = ClassifyDocument(c.doc);
    v.kind = std::string(FragmentKindName(kind));
    if (kind == FragmentKind::kIgnored) continue;  // a manifest's other keys
    absl::StatusOr<Fragment> f = ParseFragment(source_name, c.doc, options, &v.error);
    v.accepted = f.ok();
    if (!f.ok()) {
      v.message = std::string(f.status().message());
      status = 1;
    }
    verdicts.push_back(std::move(v));
  }
  if (flags.format == "json") {
    PrintJson(verdicts);
  } else {
    for (const Verdict& v : verdicts) {
      if (v.accepted) {
        std::printf("%s: %s: accepted (%s)\n", v.file.c_str(), v.document.c_str(), v.kind.c_str());
      } else {
        std::printf("%s:%d: %s: rejected (%s): %s%s%s\n", v.file.c_str(), v.error.line, v.document.c_str(),
                    v.kind.c_str(), v.error.key.empty() ? "" : v.error.key.c_str(),
                    v.error.key.empty() ? "" : ": ", v.error.reason.c_str());
      }
    }
  }
  return status;
}

}  // namespace promconf
