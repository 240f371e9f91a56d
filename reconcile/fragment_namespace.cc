#include "reconcile/fragment_namespace.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "reconcile/fragment_yaml.h"
#include "reconcile/promql/promql.h"
#include "reconcile/yaml_tree.h"

namespace promconf {
namespace {

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

}  // namespace

std::string FragmentNamespace(absl::string_view source, absl::string_view doc_name,
                              const ValidationOptions& o) {
  if (!o.namespaced_sources.count(source)) return "";
  size_t slash = doc_name.find('/');
  if (slash == absl::string_view::npos || slash == 0) return "";
  return std::string(doc_name.substr(0, slash));
}

void EnforceNamespaceOnRules(YamlSubsetNode* root, absl::string_view ns,
                             const ValidationOptions& options) {
  if (options.enforce_namespace_label.empty()) return;
  for (YamlSubsetEntry& top : root->map) {  // only "groups", checked before
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

std::string EnforceNamespaceOnScrapeConfig(YamlSubsetNode* sc, absl::string_view ns,
                                           const ValidationOptions& options) {
  YamlSubsetNode* job_node = nullptr;
  YamlSubsetNode* metric_relabel = nullptr;
  for (YamlSubsetEntry& e : sc->map) {
    if (e.key == "job_name") job_node = &e.value;
    if (e.key == "metric_relabel_configs") metric_relabel = &e.value;
  }
  std::string job = job_node->scalar;
  if (options.job_name_prefix == JobNamePrefix::kNamespace) {
    job = absl::StrCat(ns, "/", job);
    const int line = job_node->line;
    *job_node = YamlStringNode(job);
    job_node->line = line;
  }
  if (!options.enforce_namespace_label.empty()) {
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
  return job;
}

}  // namespace promconf
