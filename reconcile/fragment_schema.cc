#include "reconcile/fragment_schema.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "reconcile/gotemplate/template.h"
#include "reconcile/prometheus/scrape_schema.h"
#include "reconcile/promql/promql.h"
#include "util/duration.h"

namespace promconf {
namespace {

using Node = YamlSubsetNode;

// A key path kept on the stack while checking; turned into a string
// ("groups[0].rules[2].expr") only for the error reported.
struct KeyPath {
  const KeyPath* parent = nullptr;
  absl::string_view key;  // a map key, or a raw prefix at the root
  size_t index = 0;
  bool is_index = false;

  KeyPath Key(absl::string_view k) const { return KeyPath{this, k, 0, false}; }
  KeyPath Index(size_t i) const { return KeyPath{this, {}, i, true}; }

  std::string String() const {
    std::vector<const KeyPath*> chain;
    for (const KeyPath* p = this; p != nullptr; p = p->parent) chain.push_back(p);
    std::string out;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      const KeyPath& p = **it;
      if (p.is_index) {
        absl::StrAppend(&out, "[", p.index, "]");
      } else if (!p.key.empty()) {
        if (!out.empty() && p.key.front() != '[') out.push_back('.');
        out.append(p.key.data(), p.key.size());
      }
    }
    return out;
  }
};

// Keeps the first error.
class Checker {
 public:
  explicit Checker(FragmentError* error) : error_(error) {}

  bool Fail(int line, const KeyPath& path, std::string reason,
            RejectReason category = RejectReason::kSchema) {
    if (error_ != nullptr) {
      error_->line = line;
      error_->key = path.String();
      error_->reason = std::move(reason);
      error_->category = category;
    }
    return false;
  }

 private:
  FragmentError* error_;
};

bool IsNullish(const Node* n) { return n == nullptr || n->IsNull(); }

bool ExpectMap(Checker& c, const Node& n, const KeyPath& path) {
  return n.IsMap() || c.Fail(n.line, path, "expected a mapping");
}
bool ExpectSeq(Checker& c, const Node& n, const KeyPath& path) {
  return n.IsSeq() || c.Fail(n.line, path, "expected a list");
}
bool ExpectScalar(Checker& c, const Node& n, const KeyPath& path) {
  return n.IsScalar() || c.Fail(n.line, path, "expected a string");
}

bool CheckKeys(Checker& c, const Node& map, const KeyPath& path,
               std::initializer_list<absl::string_view> known,
               bool (*extra)(absl::string_view) = nullptr) {
  for (const YamlSubsetEntry& e : map.map) {
    bool ok = std::find(known.begin(), known.end(), e.key) != known.end();
    if (!ok && extra != nullptr) ok = extra(e.key);
    if (!ok) {
      return c.Fail(e.value.key_line, path.Key(e.key),
                    absl::StrCat("unknown key \"", absl::CHexEscape(e.key), "\""));
    }
  }
  return true;
}

bool CheckDuration(Checker& c, const Node& n, const KeyPath& path, absl::Duration* out) {
  if (!ExpectScalar(c, n, path)) return false;
  absl::StatusOr<absl::Duration> d = ParsePrometheusDuration(n.scalar);
  if (!d.ok()) return c.Fail(n.line, path, absl::StrCat("invalid duration \"", absl::CHexEscape(n.scalar), "\""));
  if (out != nullptr) *out = *d;
  return true;
}

bool CheckUint(Checker& c, const Node& n, const KeyPath& path) {
  uint64_t v;
  if (n.IsScalar() && !n.quoted && absl::SimpleAtoi(n.scalar, &v)) return true;
  return c.Fail(n.line, path, "expected a non-negative integer");
}

bool CheckStringList(Checker& c, const Node* n, const KeyPath& path) {
  if (IsNullish(n)) return true;
  if (!ExpectSeq(c, *n, path)) return false;
  for (size_t i = 0; i < n->seq.size(); ++i) {
    if (!ExpectScalar(c, n->seq[i], path.Index(i))) return false;
  }
  return true;
}

// labels: {name: string}, names valid label names.
bool CheckLabelMap(Checker& c, const Node* n, const KeyPath& path, bool forbid_name) {
  if (IsNullish(n)) return true;
  if (!ExpectMap(c, *n, path)) return false;
  for (const YamlSubsetEntry& e : n->map) {
    const KeyPath child = path.Key(e.key);
    if (!IsValidLabelName(e.key) || (forbid_name && e.key == "__name__")) {
      return c.Fail(e.value.key_line, child, absl::StrCat("invalid label name \"", absl::CHexEscape(e.key), "\""));
    }
    if (!e.value.IsNull() && !ExpectScalar(c, e.value, child)) return false;
  }
  return true;
}

// ---- rules ---------------------------------------------------------------

// What a rule check needs besides the tree: the versions each parser models.
struct RuleContext {
  promql::ParseOptions promql;
  gotemplate::ParseOptions templates;
  prom::PromVersion version;
};

// Prometheus parses an alert's labels and annotations as templates at load
// (rulefmt's validation); a recording rule's labels are plain strings.
bool CheckTemplates(Checker& c, const Node* map, const KeyPath& path, const RuleContext& rc,
                    absl::string_view alert) {
  if (map == nullptr || !map->IsMap()) return true;
  gotemplate::ParseOptions o = rc.templates;
  o.name = absl::StrCat("__alert_", alert);
  for (const YamlSubsetEntry& e : map->map) {
    if (!e.value.IsScalar()) continue;
    gotemplate::TemplateError terr;
    if (!gotemplate::CheckAlertTemplate(e.value.scalar, o, &terr).ok()) {
      return c.Fail(e.value.line + (terr.line > 0 ? terr.line - 1 : 0), path.Key(e.key),
                    absl::StrCat("template: ", terr.line, ":", terr.column, ": ", terr.message),
                    RejectReason::kTemplate);
    }
  }
  return true;
}

bool CheckRule(Checker& c, const Node& r, const KeyPath& path, const RuleContext& rc) {
  if (!ExpectMap(c, r, path)) return false;
  if (!CheckKeys(c, r, path, {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"})) {
    return false;
  }
  const Node* record = r.Find("record");
  const Node* alert = r.Find("alert");
  const Node* expr = r.Find("expr");
  const bool has_record = !IsNullish(record);
  const bool has_alert = !IsNullish(alert);
  if (has_record == has_alert) return c.Fail(r.line, path, "exactly one of \"record\" or \"alert\" must be set");
  if (has_record) {
    const KeyPath p = path.Key("record");
    if (!ExpectScalar(c, *record, p)) return false;
    if (!IsValidMetricName(record->scalar)) {
      return c.Fail(record->line, p,
                    absl::StrCat("invalid recording rule name \"", absl::CHexEscape(record->scalar), "\""));
    }
    for (const char* k : {"for", "keep_firing_for", "annotations"}) {
      if (const Node* v = r.Find(k); v != nullptr) {
        return c.Fail(v->line, path.Key(k), absl::StrCat("\"", k, "\" is only valid for alerting rules"));
      }
    }
  } else {
    const KeyPath p = path.Key("alert");
    if (!ExpectScalar(c, *alert, p)) return false;
    if (alert->scalar.empty()) return c.Fail(alert->line, p, "alert name must not be empty");
  }
  const KeyPath ep = path.Key("expr");
  if (IsNullish(expr)) return c.Fail(r.line, ep, "\"expr\" is required");
  if (!ExpectScalar(c, *expr, ep)) return false;
  if (absl::StripAsciiWhitespace(expr->scalar).empty()) return c.Fail(expr->line, ep, "\"expr\" must not be empty");
  {
    promql::ParseError perr;
    if (!promql::ParseExpr(expr->scalar, rc.promql, &perr).ok()) {
      return c.Fail(expr->line + (perr.line > 0 ? perr.line - 1 : 0), ep,
                    absl::StrCat("could not parse expression: ", perr.ToString()), RejectReason::kExpr);
    }
  }
  for (const char* k : {"for", "keep_firing_for"}) {
    if (const Node* v = r.Find(k); v != nullptr && !CheckDuration(c, *v, path.Key(k), nullptr)) return false;
  }
  if (!CheckLabelMap(c, r.Find("labels"), path.Key("labels"), true)) return false;
  if (!CheckLabelMap(c, r.Find("annotations"), path.Key("annotations"), false)) return false;
  if (has_alert) {
    if (!CheckTemplates(c, r.Find("labels"), path.Key("labels"), rc, alert->scalar)) return false;
    if (!CheckTemplates(c, r.Find("annotations"), path.Key("annotations"), rc, alert->scalar)) return false;
  }
  return true;
}

// The one version setting, as each parser spells it.
bool ResolveVersions(const ValidationOptions& options, prom::PromVersion* schema, promql::ParseOptions* promql,
                     gotemplate::ParseOptions* templates) {
  absl::StatusOr<prom::PromVersion> v = prom::ParsePromVersion(options.prometheus_version);
  if (!v.ok()) return false;
  *schema = *v;
  promql->version = promql::Version{v->major, v->minor};
  templates->version = gotemplate::PrometheusVersion{v->major, v->minor};
  return true;
}

}  // namespace

bool CheckRuleFile(const YamlSubsetNode& root, const ValidationOptions& options, FragmentError* error) {
  Checker c(error);
  RuleContext rc;
  if (!ResolveVersions(options, &rc.version, &rc.promql, &rc.templates)) {
    return c.Fail(0, KeyPath{}, absl::StrCat("validation.prometheus_version \"", options.prometheus_version,
                                             "\" is not a supported Prometheus version"));
  }
  const KeyPath top;
  if (root.IsNull()) return true;  // an empty rule file is valid
  if (!ExpectMap(c, root, top)) return false;
  if (!CheckKeys(c, root, top, {"groups"})) return false;
  const Node* groups = root.Find("groups");
  if (IsNullish(groups)) return true;
  const KeyPath gsp = top.Key("groups");
  if (!ExpectSeq(c, *groups, gsp)) return false;
  absl::flat_hash_map<absl::string_view, int> names;  // group name -> line
  for (size_t gi = 0; gi < groups->seq.size(); ++gi) {
    const Node& g = groups->seq[gi];
    const KeyPath gp = gsp.Index(gi);
    if (!ExpectMap(c, g, gp)) return false;
    // rulefmt's RuleGroup; query_offset came with 2.53, group labels with 3.0.
    if (!CheckKeys(c, g, gp, {"name", "interval", "query_offset", "limit", "rules", "labels"})) return false;
    for (const auto& [key, since] : {std::pair<const char*, prom::PromVersion>{"query_offset", {2, 53}},
                                     std::pair<const char*, prom::PromVersion>{"labels", {3, 0}}}) {
      if (const Node* v = g.Find(key); v != nullptr && rc.version < since) {
        return c.Fail(v->line, gp.Key(key),
                      absl::StrCat("\"", key, "\" needs Prometheus ", since.ToString(),
                                   " or newer (validating for ", rc.version.ToString(), ")"));
      }
    }
    if (const Node* v = g.Find("query_offset");
        v != nullptr && !CheckDuration(c, *v, gp.Key("query_offset"), nullptr)) {
      return false;
    }
    if (!CheckLabelMap(c, g.Find("labels"), gp.Key("labels"), false)) return false;
    const Node* name = g.Find("name");
    const KeyPath np = gp.Key("name");
    if (IsNullish(name)) return c.Fail(g.line, np, "group \"name\" is required");
    if (!ExpectScalar(c, *name, np)) return false;
    if (name->scalar.empty()) return c.Fail(name->line, np, "group name must not be empty");
    auto [prev, inserted] = names.emplace(name->scalar, name->line);
    if (!inserted) {
      return c.Fail(name->line, np,
                    absl::StrCat("group name \"", absl::CHexEscape(name->scalar), "\" repeated (first at line ",
                                 prev->second, ")"));
    }
    if (const Node* v = g.Find("interval"); v != nullptr && !CheckDuration(c, *v, gp.Key("interval"), nullptr)) {
      return false;
    }
    if (const Node* v = g.Find("limit"); v != nullptr && !CheckUint(c, *v, gp.Key("limit"))) return false;
    const Node* rules = g.Find("rules");
    if (IsNullish(rules)) continue;
    const KeyPath rp = gp.Key("rules");
    if (!ExpectSeq(c, *rules, rp)) return false;
    for (size_t ri = 0; ri < rules->seq.size(); ++ri) {
      if (!CheckRule(c, rules->seq[ri], rp.Index(ri), rc)) return false;
    }
  }
  return true;
}

bool CheckScrapeConfig(const YamlSubsetNode& scrape_config, absl::string_view source,
                       const ValidationOptions& options, absl::string_view key_prefix,
                       FragmentError* error) {
  prom::ScrapeCheckOptions o;
  promql::ParseOptions unused_promql;
  gotemplate::ParseOptions unused_templates;
  if (!ResolveVersions(options, &o.version, &unused_promql, &unused_templates)) {
    if (error != nullptr) {
      *error = {0, "", absl::StrCat("validation.prometheus_version \"", options.prometheus_version,
                                    "\" is not a supported Prometheus version")};
    }
    return false;
  }
  o.trusted = options.trusted_sources.count(source) > 0;
  o.global_scrape_interval_ns = options.global_scrape_interval_ns;
  o.global_scrape_timeout_ns = options.global_scrape_timeout_ns;
  o.global_name_validation_scheme = options.global_name_validation_scheme;
  return prom::CheckScrapeConfig(scrape_config, o, error, key_prefix).ok();
}

bool CheckTargetGroups(const YamlSubsetNode& root, FragmentError* error) {
  Checker c(error);
  const KeyPath top;
  if (root.IsNull()) return true;
  if (!ExpectSeq(c, root, top)) return false;
  for (size_t i = 0; i < root.seq.size(); ++i) {
    const Node& g = root.seq[i];
    const KeyPath p = top.Index(i);
    if (!ExpectMap(c, g, p)) return false;
    if (!CheckKeys(c, g, p, {"targets", "labels"})) return false;
    if (!CheckStringList(c, g.Find("targets"), p.Key("targets"))) return false;
    if (!CheckLabelMap(c, g.Find("labels"), p.Key("labels"), false)) return false;
  }
  return true;
}

}  // namespace promconf
