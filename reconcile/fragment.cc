#include "reconcile/fragment.h"

#include <algorithm>
#include <set>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "reconcile/fragment_schema.h"
#include "reconcile/promql/promql.h"
#include "reconcile/fragment_yaml.h"
#include "reconcile/yaml_subset.h"
#include "reconcile/yaml_tree.h"
#include "util/json.h"

namespace promconf {
namespace {

constexpr size_t kMaxComponent = 120;

// The suffix table lives in informers/document.h: sources drop other names.
absl::string_view StripSuffix(absl::string_view name) {
  const FragmentSuffix* s = FragmentSuffixOf(name);
  return s == nullptr ? name : name.substr(0, name.size() - s->text.size());
}

// The targets file of a file_sd document: groups in order, targets in
// order, labels sorted by name (a null label value is "").
std::string NormalizedTargetsJson(const YamlSubsetNode& root) {
  std::string out = "[";
  bool first_group = true;
  for (const YamlSubsetNode& g : root.seq) {
    out.append(first_group ? "\n" : ",\n");
    first_group = false;
    out.append("  {\n    \"targets\": [");
    bool first = true;
    if (const YamlSubsetNode* targets = g.Find("targets"); targets != nullptr) {
      for (const YamlSubsetNode& t : targets->seq) {
        out.append(first ? "" : ", ");
        first = false;
        AppendJsonString(&out, t.scalar);
      }
    }
    out.append("],\n    \"labels\": {");
    std::vector<const YamlSubsetEntry*> labels;
    if (const YamlSubsetNode* lm = g.Find("labels"); lm != nullptr) {
      for (const YamlSubsetEntry& e : lm->map) labels.push_back(&e);
    }
    std::sort(labels.begin(), labels.end(),
              [](const YamlSubsetEntry* a, const YamlSubsetEntry* b) { return a->key < b->key; });
    first = true;
    for (const YamlSubsetEntry* e : labels) {
      out.append(first ? "\n      " : ",\n      ");
      first = false;
      AppendJsonString(&out, e->key);
      out.append(": ");
      AppendJsonString(&out, e->value.scalar);
    }
    out.append(labels.empty() ? "}\n  }" : "\n    }\n  }");
  }
  out.append(first_group ? "]\n" : "\n]\n");
  return out;
}

// Sets labels[name] = value on a rule (a map), adding the labels map when
// absent.
void StampRuleLabel(YamlSubsetNode* rule, absl::string_view name, absl::string_view value) {
  YamlSubsetNode* labels = nullptr;
  for (YamlSubsetEntry& e : rule->map) {
    if (e.key == "labels") labels = &e.value;
  }
  if (labels == nullptr) {
    rule->map.push_back(YamlSubsetEntry{"labels", YamlSubsetNode()});
    labels = &rule->map.back().value;
  }
  if (!labels->IsMap()) {
    *labels = YamlSubsetNode();
    labels->kind = YamlSubsetNode::Kind::kMap;
  }
  for (YamlSubsetEntry& e : labels->map) {
    if (e.key == name) {
      e.value = YamlStringNode(value);
      return;
    }
  }
  labels->map.push_back(YamlSubsetEntry{std::string(name), YamlStringNode(value)});
}

// prom-label-proxy's rule: every vector selector of the rule's expression
// gets `label="value"`, replacing any matcher on that label, so a team's
// rules see only its own series. The expression is rendered from the AST.
// REQUIRES: the rule passed CheckRuleFile (its expr parses).
void EnforceExprLabel(YamlSubsetNode* rule, const ValidationOptions& options, absl::string_view value) {
  for (YamlSubsetEntry& e : rule->map) {
    if (e.key != "expr" || !e.value.IsScalar()) continue;
    promql::ParseOptions po;
    if (absl::StatusOr<promql::Version> v = promql::ParseVersion(options.prometheus_version); v.ok()) {
      po.version = *v;
    }
    absl::StatusOr<std::unique_ptr<promql::Expr>> expr = promql::ParseExpr(e.value.scalar, po);
    if (!expr.ok()) continue;
    promql::EnforceLabel(**expr, options.enforce_namespace_label, value);
    const int line = e.value.line;
    e.value = YamlStringNode(promql::Print(**expr));
    e.value.line = line;
  }
}

YamlSubsetNode MapNode() {
  YamlSubsetNode n;
  n.kind = YamlSubsetNode::Kind::kMap;
  return n;
}

// ---- namespaces ----------------------------------------------------------

std::string NamespaceOf(absl::string_view source, absl::string_view doc_name,
                        const ValidationOptions& o) {
  if (!o.namespaced_sources.count(source)) return "";
  size_t slash = doc_name.find('/');
  if (slash == absl::string_view::npos || slash == 0) return "";
  return std::string(doc_name.substr(0, slash));
}


}  // namespace

std::string Describe(absl::string_view source, absl::string_view name, const FragmentError& e) {
  std::string msg = absl::StrCat(source, ": ", absl::CHexEscape(name.substr(0, 256)),
                                 name.size() > 256 ? "..." : "");
  if (e.line > 0) absl::StrAppend(&msg, ": line ", e.line);
  if (!e.key.empty()) absl::StrAppend(&msg, ": key \"", e.key, "\"");
  absl::StrAppend(&msg, ": ", e.reason);
  return msg;
}

absl::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kName: return "name";
    case RejectReason::kTooLarge: return "too_large";
    case RejectReason::kYaml: return "yaml";
    case RejectReason::kSchema: return "schema";
    case RejectReason::kExpr: return "expr";
    case RejectReason::kTemplate: return "template";
    case RejectReason::kDuplicateJob: return "duplicate_job";
    case RejectReason::kRender: return "render";
    case RejectReason::kPromtool: return "promtool";
  }
  return "schema";
}

absl::string_view FragmentKindName(FragmentKind kind) {
  switch (kind) {
    case FragmentKind::kRules: return "rules";
    case FragmentKind::kScrape: return "scrape";
    case FragmentKind::kTargets:
    case FragmentKind::kJobTargets: return "targets";
    case FragmentKind::kIgnored: break;
  }
  return "ignored";
}

FragmentKind ClassifyDocument(const Document& doc) {
  if (!doc.job.empty()) return FragmentKind::kJobTargets;
  const FragmentSuffix* s = FragmentSuffixOf(doc.name);
  if (s == nullptr) return FragmentKind::kIgnored;
  switch (s->kind) {
    case FragmentSuffixKind::kRules: return FragmentKind::kRules;
    case FragmentSuffixKind::kScrape: return FragmentKind::kScrape;
    case FragmentSuffixKind::kTargets: return FragmentKind::kTargets;
  }
  return FragmentKind::kIgnored;
}

bool IsValidMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool IsValidLabelName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

uint64_t StableHash(absl::string_view data) {
  uint64_t h = 14695981039346656037ull;
  for (char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string SanitizeFileComponent(absl::string_view name) {
  std::string out;
  out.reserve(std::min(name.size(), kMaxComponent));
  bool changed = name.empty() || name.size() > kMaxComponent || name.front() == '.';
  for (char c : name.substr(0, kMaxComponent)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '_');
    changed |= !ok;
  }
  if (changed) {
    absl::StrAppend(&out, "-", absl::StrFormat("%08x", static_cast<uint32_t>(StableHash(name) >> 32)));
  }
  return out;
}

std::string RulesOutputPath(absl::string_view source, absl::string_view doc_name) {
  return absl::StrCat("rules/", SanitizeFileComponent(source), "_",
                      SanitizeFileComponent(StripSuffix(doc_name)), ".yml");
}

std::string TargetsOutputPath(absl::string_view source, absl::string_view doc_name) {
  return absl::StrCat("targets/", SanitizeFileComponent(source), "_",
                      SanitizeFileComponent(StripSuffix(doc_name)), ".json");
}

std::string JobTargetsOutputPath(absl::string_view source, absl::string_view job) {
  return absl::StrCat("targets/", SanitizeFileComponent(source), "-", SanitizeFileComponent(job),
                      ".json");
}

bool IsOwnedOutputName(absl::string_view dir, absl::string_view name,
                       const std::vector<std::string>& sources) {
  if (absl::StartsWith(name, ".")) return false;
  for (const std::string& s : sources) {
    std::string prefix = SanitizeFileComponent(s);
    if (dir == "rules" && absl::StartsWith(name, prefix + "_") && absl::EndsWith(name, ".yml")) {
      return true;
    }
    if (dir == "targets" && absl::EndsWith(name, ".json") &&
        (absl::StartsWith(name, prefix + "_") || absl::StartsWith(name, prefix + "-"))) {
      return true;
    }
  }
  return false;
}

const std::string& Fragment::output_bytes() const {
  static const std::string* const kEmpty = new std::string();
  return output != nullptr ? *output : *kEmpty;
}

absl::StatusOr<Fragment> ParseFragment(absl::string_view source, const Document& doc,
                                       const ValidationOptions& options, FragmentError* error,
                                       std::shared_ptr<const std::string> shared_data) {
  Fragment frag;
  frag.kind = ClassifyDocument(doc);
  if (frag.kind == FragmentKind::kIgnored) return frag;

  auto reject = [&](FragmentError e) -> absl::Status {
    if (error != nullptr) *error = e;
    return absl::InvalidArgumentError(Describe(source, doc.name, e));
  };
  if (doc.name.find('\0') != std::string::npos) {
    return reject({0, "", "document name contains a NUL byte", RejectReason::kName});
  }
  if (doc.oversized_bytes != 0 || doc.data.size() > options.max_fragment_bytes) {
    uint64_t size = doc.oversized_bytes != 0 ? doc.oversized_bytes : doc.data.size();
    return reject({0, "", absl::StrCat("document is ", size, " bytes, over max_fragment_bytes ",
                                       options.max_fragment_bytes),
                   RejectReason::kTooLarge});
  }

  // One tree, whichever path built it: what is validated below is what is
  // written.
  YamlParseOptions parse_options;
  parse_options.fast_path = options.yaml_fast_path;
  YamlParseError parse_error;
  absl::StatusOr<YamlSubsetNode> parsed = ParseYaml(doc.data, parse_options, &parse_error);
  if (!parsed.ok()) return reject({parse_error.line, parse_error.key, parse_error.reason, RejectReason::kYaml});
  YamlSubsetNode& root = *parsed;

  const std::string ns = NamespaceOf(source, doc.name, options);
  FragmentError err;
  switch (frag.kind) {
    case FragmentKind::kRules: {
      if (!CheckRuleFile(root, options, &err)) return reject(err);
      if (!ns.empty() && !options.enforce_namespace_label.empty()) {
        for (YamlSubsetEntry& top : root.map) {  // only "groups", checked above
          for (YamlSubsetNode& g : top.value.seq) {
            for (YamlSubsetEntry& e : g.map) {
              if (e.key != "rules") continue;
              for (YamlSubsetNode& r : e.value.seq) {
                StampRuleLabel(&r, options.enforce_namespace_label, ns);
                EnforceExprLabel(&r, options, ns);
              }
            }
          }
        }
      }
      // Re-emitted from the validated tree, not copied: comments go, and
      // nothing the checks did not see (an alias, a merge key, a character
      // another YAML reader takes differently) reaches Prometheus.
      std::string bytes;
      if (!root.IsNull()) EmitYamlBlock(root, 0, false, &bytes);
      frag.output_path = RulesOutputPath(source, doc.name);
      // A file already written the way it is emitted shares the store's
      // bytes instead of holding them twice.
      if (shared_data != nullptr && *shared_data == bytes) {
        frag.output = std::move(shared_data);
      } else {
        frag.output = std::make_shared<const std::string>(std::move(bytes));
      }
      break;
    }
    case FragmentKind::kScrape: {
      if (root.IsNull()) break;
      std::vector<YamlSubsetNode*> configs;
      if (root.IsSeq()) {
        for (size_t i = 0; i < root.seq.size(); ++i) {
          if (!CheckScrapeConfig(root.seq[i], source, options, absl::StrCat("[", i, "]"), &err)) return reject(err);
          configs.push_back(&root.seq[i]);
        }
      } else {
        if (!CheckScrapeConfig(root, source, options, "", &err)) return reject(err);
        configs.push_back(&root);
      }
      std::set<std::string> jobs;
      for (YamlSubsetNode* sc : configs) {
        YamlSubsetNode* job_node = nullptr;
        YamlSubsetNode* metric_relabel = nullptr;
        for (YamlSubsetEntry& e : sc->map) {
          if (e.key == "job_name") job_node = &e.value;
          if (e.key == "metric_relabel_configs") metric_relabel = &e.value;
        }
        std::string job = job_node->scalar;
        if (!ns.empty() && options.job_name_prefix == JobNamePrefix::kNamespace) {
          job = absl::StrCat(ns, "/", job);
          const int line = job_node->line;
          *job_node = YamlStringNode(job);
          job_node->line = line;
        }
        if (!jobs.insert(job).second) {
          return reject({job_node->line, "job_name",
                         absl::StrCat("job_name \"", absl::CHexEscape(job), "\" defined twice in this document"),
                         RejectReason::kDuplicateJob});
        }
        if (!ns.empty() && !options.enforce_namespace_label.empty()) {
          YamlSubsetNode stamp = MapNode();
          stamp.map.push_back(YamlSubsetEntry{"action", YamlStringNode("replace")});
          stamp.map.push_back(YamlSubsetEntry{"target_label", YamlStringNode(options.enforce_namespace_label)});
          stamp.map.push_back(YamlSubsetEntry{"replacement", YamlStringNode(ns)});
          if (metric_relabel == nullptr) {
            sc->map.push_back(YamlSubsetEntry{"metric_relabel_configs", YamlSubsetNode()});
            metric_relabel = &sc->map.back().value;
          }
          if (!metric_relabel->IsSeq()) {
            *metric_relabel = YamlSubsetNode();
            metric_relabel->kind = YamlSubsetNode::Kind::kSeq;
          }
          metric_relabel->seq.push_back(std::move(stamp));
        }
        ScrapeEntry entry;
        entry.job_name = job;
        entry.yaml = "- ";
        EmitYamlBlock(*sc, 2, true, &entry.yaml);
        frag.scrape_configs.push_back(std::move(entry));
      }
      break;
    }
    case FragmentKind::kTargets:
    case FragmentKind::kJobTargets: {
      if (!CheckTargetGroups(root, &err)) return reject(err);
      if (frag.kind == FragmentKind::kJobTargets) {
        frag.job = doc.job;
        frag.output_path = JobTargetsOutputPath(source, doc.job);
      } else {
        frag.output_path = TargetsOutputPath(source, doc.name);
      }
      frag.output = std::make_shared<const std::string>(NormalizedTargetsJson(root));
      break;
    }
    case FragmentKind::kIgnored:
      break;
  }
  return frag;
}

}  // namespace promconf
