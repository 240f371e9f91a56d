#include "reconcile/fragment.h"

// yaml-cpp 0.7's node/impl.h trips GCC 12's -Wdangling-pointer (a false
// positive in the library's operator[]).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "reconcile/fragment_yaml.h"
#include "reconcile/yaml_subset.h"
#include "util/duration.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace promconf {
namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxComponent = 120;

// The suffix table lives in informers/document.h: sources drop other names.
absl::string_view StripSuffix(absl::string_view name) {
  const FragmentSuffix* s = FragmentSuffixOf(name);
  return s == nullptr ? name : name.substr(0, name.size() - s->text.size());
}

// Collects the first error with its line and key path.
class Checker {
 public:
  explicit Checker(size_t node_budget) : budget_(node_budget) {}

  bool Fail(const YAML::Node& at, const std::string& key, std::string reason) {
    if (failed_) return false;
    failed_ = true;
    error_.line = LineOf(at);
    error_.key = key;
    error_.reason = std::move(reason);
    return false;
  }
  bool FailLine(int line, const std::string& key, std::string reason) {
    if (failed_) return false;
    failed_ = true;
    error_.line = line;
    error_.key = key;
    error_.reason = std::move(reason);
    return false;
  }
  bool failed() const { return failed_; }
  const FragmentError& error() const { return error_; }

  static int LineOf(const YAML::Node& n) {
    if (!n.IsDefined()) return 0;
    YAML::Mark m = n.Mark();
    return m.line >= 0 ? m.line + 1 : 0;
  }

  // Whole-tree pass before any validation: node budget (aliases expand to
  // shared nodes, so "billion laughs" shows up as a huge walk), nesting depth,
  // scalar keys, duplicate keys (Prometheus' YAML decoder rejects them).
  bool Walk(const YAML::Node& n, const std::string& path, int depth) {
    if (++visited_ > budget_) {
      return Fail(n, path,
                  absl::StrCat("document expands to more than ", budget_,
                               " YAML nodes (alias bomb?)"));
    }
    if (depth > kMaxDepth) return Fail(n, path, "nesting too deep");
    if (n.IsMap()) {
      std::set<std::string> seen;
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!it->first.IsScalar()) return Fail(it->first, path, "mapping keys must be strings");
        std::string child = Join(path, it->first.Scalar());
        if (!seen.insert(it->first.Scalar()).second) {
          return Fail(it->first, child, "duplicate key");
        }
        if (!Walk(it->second, child, depth + 1)) return false;
      }
    } else if (n.IsSequence()) {
      size_t i = 0;
      for (auto it = n.begin(); it != n.end(); ++it, ++i) {
        if (!Walk(*it, absl::StrCat(path, "[", i, "]"), depth + 1)) return false;
      }
    }
    return true;
  }

  static std::string Join(const std::string& path, absl::string_view key) {
    return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
  }

 private:
  size_t budget_;
  size_t visited_ = 0;
  bool failed_ = false;
  FragmentError error_;
};

bool IsNullish(const YAML::Node& n) { return !n.IsDefined() || n.IsNull(); }

bool ExpectMap(Checker& c, const YAML::Node& n, const std::string& key) {
  if (n.IsMap()) return true;
  return c.Fail(n, key, "expected a mapping");
}
bool ExpectSeq(Checker& c, const YAML::Node& n, const std::string& key) {
  if (n.IsSequence()) return true;
  return c.Fail(n, key, "expected a list");
}
bool ExpectScalar(Checker& c, const YAML::Node& n, const std::string& key) {
  if (n.IsScalar()) return true;
  return c.Fail(n, key, "expected a string");
}

bool CheckKeys(Checker& c, const YAML::Node& map, const std::string& path,
               std::initializer_list<absl::string_view> known,
               bool (*extra)(absl::string_view) = nullptr) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string& k = it->first.Scalar();
    bool ok = false;
    for (absl::string_view kn : known) ok |= (kn == k);
    if (!ok && extra != nullptr) ok = extra(k);
    if (!ok) return c.Fail(it->first, Checker::Join(path, k), absl::StrCat("unknown key \"", k, "\""));
  }
  return true;
}

bool CheckDuration(Checker& c, const YAML::Node& n, const std::string& key, absl::Duration* out) {
  if (!ExpectScalar(c, n, key)) return false;
  absl::StatusOr<absl::Duration> d = ParsePrometheusDuration(n.Scalar());
  if (!d.ok()) return c.Fail(n, key, absl::StrCat("invalid duration \"", n.Scalar(), "\""));
  if (out != nullptr) *out = *d;
  return true;
}

bool CheckBool(Checker& c, const YAML::Node& n, const std::string& key) {
  if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false") && n.Tag() != "!") return true;
  return c.Fail(n, key, "expected true or false");
}

bool CheckUint(Checker& c, const YAML::Node& n, const std::string& key) {
  uint64_t v;
  if (n.IsScalar() && n.Tag() != "!" && absl::SimpleAtoi(n.Scalar(), &v)) return true;
  return c.Fail(n, key, "expected a non-negative integer");
}

bool CheckStringList(Checker& c, const YAML::Node& n, const std::string& key) {
  if (IsNullish(n)) return true;
  if (!ExpectSeq(c, n, key)) return false;
  size_t i = 0;
  for (auto it = n.begin(); it != n.end(); ++it, ++i) {
    if (!ExpectScalar(c, *it, absl::StrCat(key, "[", i, "]"))) return false;
  }
  return true;
}

// labels: {name: string}, names valid label names.
bool CheckLabelMap(Checker& c, const YAML::Node& n, const std::string& key, bool forbid_name) {
  if (IsNullish(n)) return true;
  if (!ExpectMap(c, n, key)) return false;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string& k = it->first.Scalar();
    std::string child = Checker::Join(key, k);
    if (!IsValidLabelName(k) || (forbid_name && k == "__name__")) {
      return c.Fail(it->first, child, absl::StrCat("invalid label name \"", absl::CHexEscape(k), "\""));
    }
    if (!IsNullish(it->second) && !ExpectScalar(c, it->second, child)) return false;
  }
  return true;
}

// ---- rules ---------------------------------------------------------------

bool CheckRule(Checker& c, const YAML::Node& r, const std::string& path) {
  if (!ExpectMap(c, r, path)) return false;
  if (!CheckKeys(c, r, path,
                 {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"})) {
    return false;
  }
  YAML::Node record = r["record"], alert = r["alert"], expr = r["expr"];
  bool has_record = record.IsDefined() && !IsNullish(record);
  bool has_alert = alert.IsDefined() && !IsNullish(alert);
  if (has_record == has_alert) {
    return c.Fail(r, path, "exactly one of \"record\" or \"alert\" must be set");
  }
  if (has_record) {
    if (!ExpectScalar(c, record, path + ".record")) return false;
    if (!IsValidMetricName(record.Scalar())) {
      return c.Fail(record, path + ".record",
                    absl::StrCat("invalid recording rule name \"", record.Scalar(), "\""));
    }
    for (const char* k : {"for", "keep_firing_for", "annotations"}) {
      if (r[k].IsDefined()) {
        return c.Fail(r[k], Checker::Join(path, k), absl::StrCat("\"", k, "\" is only valid for alerting rules"));
      }
    }
  } else {
    if (!ExpectScalar(c, alert, path + ".alert")) return false;
    if (alert.Scalar().empty()) return c.Fail(alert, path + ".alert", "alert name must not be empty");
  }
  if (!expr.IsDefined() || IsNullish(expr)) return c.Fail(r, path + ".expr", "\"expr\" is required");
  if (!ExpectScalar(c, expr, path + ".expr")) return false;
  if (absl::StripAsciiWhitespace(expr.Scalar()).empty()) {
    return c.Fail(expr, path + ".expr", "\"expr\" must not be empty");
  }
  for (const char* k : {"for", "keep_firing_for"}) {
    if (r[k].IsDefined() && !CheckDuration(c, r[k], Checker::Join(path, k), nullptr)) return false;
  }
  if (!CheckLabelMap(c, r["labels"], path + ".labels", true)) return false;
  if (!CheckLabelMap(c, r["annotations"], path + ".annotations", false)) return false;
  return true;
}

bool CheckRuleFile(Checker& c, const YAML::Node& root) {
  if (IsNullish(root)) return true;  // an empty rule file is valid
  if (!ExpectMap(c, root, "")) return false;
  if (!CheckKeys(c, root, "", {"groups"})) return false;
  YAML::Node groups = root["groups"];
  if (IsNullish(groups)) return true;
  if (!ExpectSeq(c, groups, "groups")) return false;
  std::map<std::string, int> names;
  size_t gi = 0;
  for (auto it = groups.begin(); it != groups.end(); ++it, ++gi) {
    const YAML::Node g = *it;  // a handle copy; *it is a temporary
    std::string gp = absl::StrCat("groups[", gi, "]");
    if (!ExpectMap(c, g, gp)) return false;
    // Prometheus 2.42's rulefmt has no group "labels" or "query_offset".
    if (!CheckKeys(c, g, gp, {"name", "interval", "limit", "rules"})) return false;
    YAML::Node name = g["name"];
    if (IsNullish(name)) return c.Fail(g, gp + ".name", "group \"name\" is required");
    if (!ExpectScalar(c, name, gp + ".name")) return false;
    if (name.Scalar().empty()) return c.Fail(name, gp + ".name", "group name must not be empty");
    auto [prev, inserted] = names.emplace(name.Scalar(), Checker::LineOf(name));
    if (!inserted) {
      return c.Fail(name, gp + ".name",
                    absl::StrCat("group name \"", name.Scalar(), "\" repeated (first at line ",
                                 prev->second, ")"));
    }
    if (g["interval"].IsDefined() && !CheckDuration(c, g["interval"], gp + ".interval", nullptr)) {
      return false;
    }
    if (g["limit"].IsDefined() && !CheckUint(c, g["limit"], gp + ".limit")) return false;
    YAML::Node rules = g["rules"];
    if (IsNullish(rules)) continue;
    if (!ExpectSeq(c, rules, gp + ".rules")) return false;
    size_t ri = 0;
    for (auto rt = rules.begin(); rt != rules.end(); ++rt, ++ri) {
      if (!CheckRule(c, *rt, absl::StrCat(gp, ".rules[", ri, "]"))) return false;
    }
  }
  return true;
}

// ---- rule files on the fast path -----------------------------------------

// CheckRuleFile's rules over a ParseYamlSubset tree, without the messages:
// true only when CheckRuleFile would accept the same document. Anything
// else goes to yaml-cpp and CheckRuleFile, which say why.
bool FastDuration(const YamlSubsetNode* n) {
  return n->IsScalar() && ParsePrometheusDuration(n->scalar).ok();
}

bool FastKeys(const YamlSubsetNode& map, std::initializer_list<absl::string_view> known) {
  for (const auto& [k, v] : map.map) {
    bool ok = false;
    for (absl::string_view kn : known) ok |= (kn == k);
    if (!ok) return false;
  }
  return true;
}

bool FastLabelMap(const YamlSubsetNode* n, bool forbid_name) {
  if (n == nullptr || n->IsNull()) return true;
  if (!n->IsMap()) return false;
  for (const auto& [k, v] : n->map) {
    if (!IsValidLabelName(k) || (forbid_name && k == "__name__")) return false;
    if (!v.IsNull() && !v.IsScalar()) return false;
  }
  return true;
}

bool FastRule(const YamlSubsetNode& r) {
  if (!r.IsMap() ||
      !FastKeys(r, {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"})) {
    return false;
  }
  const YamlSubsetNode* record = r.Find("record");
  const YamlSubsetNode* alert = r.Find("alert");
  const YamlSubsetNode* expr = r.Find("expr");
  bool has_record = record != nullptr && !record->IsNull();
  bool has_alert = alert != nullptr && !alert->IsNull();
  if (has_record == has_alert) return false;
  if (has_record) {
    if (!record->IsScalar() || !IsValidMetricName(record->scalar)) return false;
    if (r.Find("for") || r.Find("keep_firing_for") || r.Find("annotations")) return false;
  } else if (!alert->IsScalar() || alert->scalar.empty()) {
    return false;
  }
  if (expr == nullptr || !expr->IsScalar() || absl::StripAsciiWhitespace(expr->scalar).empty()) {
    return false;
  }
  for (const char* k : {"for", "keep_firing_for"}) {
    const YamlSubsetNode* d = r.Find(k);
    if (d != nullptr && !FastDuration(d)) return false;
  }
  return FastLabelMap(r.Find("labels"), true) && FastLabelMap(r.Find("annotations"), false);
}

bool FastRuleFileValid(const YamlSubsetNode& root) {
  if (root.IsNull()) return true;
  if (!root.IsMap() || !FastKeys(root, {"groups"})) return false;
  const YamlSubsetNode* groups = root.Find("groups");
  if (groups == nullptr || groups->IsNull()) return true;
  if (!groups->IsSeq()) return false;
  std::set<absl::string_view> names;
  for (const YamlSubsetNode& g : groups->seq) {
    if (!g.IsMap() || !FastKeys(g, {"name", "interval", "limit", "rules"})) return false;
    const YamlSubsetNode* name = g.Find("name");
    if (name == nullptr || !name->IsScalar() || name->scalar.empty()) return false;
    if (!names.insert(name->scalar).second) return false;
    const YamlSubsetNode* interval = g.Find("interval");
    if (interval != nullptr && !FastDuration(interval)) return false;
    const YamlSubsetNode* limit = g.Find("limit");
    uint64_t v;
    if (limit != nullptr && (!limit->IsScalar() || limit->quoted || !absl::SimpleAtoi(limit->scalar, &v))) {
      return false;
    }
    const YamlSubsetNode* rules = g.Find("rules");
    if (rules == nullptr || rules->IsNull()) continue;
    if (!rules->IsSeq()) return false;
    for (const YamlSubsetNode& r : rules->seq) {
      if (!FastRule(r)) return false;
    }
  }
  return true;
}

// ---- scrape configs ------------------------------------------------------

bool IsOpaqueSdKey(absl::string_view k) {
  // The service discoveries Debian's Prometheus 2.42 build knows (it drops
  // consul, kubernetes, kuma, linode and nomad).
  static constexpr absl::string_view kSd[] = {
      "azure_sd_configs",      "digitalocean_sd_configs", "docker_sd_configs",
      "dockerswarm_sd_configs", "dns_sd_configs",         "ec2_sd_configs",
      "eureka_sd_configs",     "gce_sd_configs",          "hetzner_sd_configs",
      "http_sd_configs",       "ionos_sd_configs",        "lightsail_sd_configs",
      "marathon_sd_configs",   "nerve_sd_configs",        "openstack_sd_configs",
      "ovhcloud_sd_configs",   "puppetdb_sd_configs",     "scaleway_sd_configs",
      "serverset_sd_configs",  "triton_sd_configs",       "uyuni_sd_configs",
      "vultr_sd_configs"};
  for (absl::string_view s : kSd) {
    if (s == k) return true;
  }
  return false;
}

bool CheckRelabelConfigs(Checker& c, const YAML::Node& n, const std::string& key) {
  if (IsNullish(n)) return true;
  if (!ExpectSeq(c, n, key)) return false;
  size_t i = 0;
  for (auto it = n.begin(); it != n.end(); ++it, ++i) {
    std::string p = absl::StrCat(key, "[", i, "]");
    if (!ExpectMap(c, *it, p)) return false;
    if (!CheckKeys(c, *it, p,
                   {"source_labels", "separator", "regex", "modulus", "target_label",
                    "replacement", "action"})) {
      return false;
    }
    YAML::Node action = (*it)["action"];
    if (action.IsDefined()) {
      if (!ExpectScalar(c, action, p + ".action")) return false;
      std::string a = absl::AsciiStrToLower(action.Scalar());
      static const std::set<std::string> kActions = {
          "replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
          "lowercase", "uppercase", "keepequal", "dropequal"};
      if (!kActions.count(a)) {
        return c.Fail(action, p + ".action", absl::StrCat("unknown relabel action \"", action.Scalar(), "\""));
      }
    }
    if (!CheckStringList(c, (*it)["source_labels"], p + ".source_labels")) return false;
    if ((*it)["modulus"].IsDefined() && !CheckUint(c, (*it)["modulus"], p + ".modulus")) return false;
  }
  return true;
}

bool CheckScrapeConfig(Checker& c, const YAML::Node& sc, const std::string& path) {
  if (!ExpectMap(c, sc, path)) return false;
  if (!CheckKeys(c, sc, path,
                 {"job_name", "honor_labels", "honor_timestamps", "params", "scrape_interval",
                  "scrape_timeout", "metrics_path", "scheme", "basic_auth", "authorization",
                  "oauth2", "bearer_token", "bearer_token_file", "follow_redirects",
                  "enable_http2", "tls_config", "proxy_url", "proxy_connect_header",
                  "static_configs", "file_sd_configs", "relabel_configs",
                  "metric_relabel_configs", "body_size_limit", "sample_limit", "target_limit",
                  "label_limit", "label_name_length_limit", "label_value_length_limit"},
                 &IsOpaqueSdKey)) {
    return false;
  }
  YAML::Node job = sc["job_name"];
  if (IsNullish(job)) return c.Fail(sc, path + ".job_name", "\"job_name\" is required");
  if (!ExpectScalar(c, job, path + ".job_name")) return false;
  if (job.Scalar().empty()) return c.Fail(job, path + ".job_name", "\"job_name\" must not be empty");
  for (const char* k : {"honor_labels", "honor_timestamps", "follow_redirects", "enable_http2"}) {
    if (sc[k].IsDefined() && !CheckBool(c, sc[k], Checker::Join(path, k))) return false;
  }
  for (const char* k : {"sample_limit", "target_limit", "label_limit", "label_name_length_limit",
                        "label_value_length_limit"}) {
    if (sc[k].IsDefined() && !CheckUint(c, sc[k], Checker::Join(path, k))) return false;
  }
  for (const char* k : {"metrics_path", "proxy_url", "body_size_limit", "bearer_token",
                        "bearer_token_file"}) {
    if (sc[k].IsDefined() && !ExpectScalar(c, sc[k], Checker::Join(path, k))) return false;
  }
  for (const char* k : {"basic_auth", "authorization", "oauth2", "tls_config", "proxy_connect_header"}) {
    if (sc[k].IsDefined() && !IsNullish(sc[k]) && !ExpectMap(c, sc[k], Checker::Join(path, k))) return false;
  }
  if (sc["scheme"].IsDefined()) {
    if (!ExpectScalar(c, sc["scheme"], path + ".scheme")) return false;
    const std::string& s = sc["scheme"].Scalar();
    if (s != "http" && s != "https") {
      return c.Fail(sc["scheme"], path + ".scheme", absl::StrCat("scheme must be http or https, not \"", s, "\""));
    }
  }
  absl::Duration interval, timeout;
  bool has_interval = sc["scrape_interval"].IsDefined();
  bool has_timeout = sc["scrape_timeout"].IsDefined();
  if (has_interval && !CheckDuration(c, sc["scrape_interval"], path + ".scrape_interval", &interval)) return false;
  if (has_timeout && !CheckDuration(c, sc["scrape_timeout"], path + ".scrape_timeout", &timeout)) return false;
  if (has_interval && interval <= absl::ZeroDuration()) {
    return c.Fail(sc["scrape_interval"], path + ".scrape_interval", "scrape_interval must be positive");
  }
  if (has_interval && has_timeout && timeout > interval) {
    return c.Fail(sc["scrape_timeout"], path + ".scrape_timeout",
                  absl::StrCat("scrape_timeout ", sc["scrape_timeout"].Scalar(),
                               " is greater than scrape_interval ", sc["scrape_interval"].Scalar()));
  }
  YAML::Node params = sc["params"];
  if (!IsNullish(params)) {
    if (!ExpectMap(c, params, path + ".params")) return false;
    for (auto it = params.begin(); it != params.end(); ++it) {
      if (!CheckStringList(c, it->second, Checker::Join(path + ".params", it->first.Scalar()))) return false;
    }
  }
  YAML::Node statics = sc["static_configs"];
  if (!IsNullish(statics)) {
    if (!ExpectSeq(c, statics, path + ".static_configs")) return false;
    size_t i = 0;
    for (auto it = statics.begin(); it != statics.end(); ++it, ++i) {
      std::string p = absl::StrCat(path, ".static_configs[", i, "]");
      if (!ExpectMap(c, *it, p)) return false;
      if (!CheckKeys(c, *it, p, {"targets", "labels"})) return false;
      if (!CheckStringList(c, (*it)["targets"], p + ".targets")) return false;
      if (!CheckLabelMap(c, (*it)["labels"], p + ".labels", false)) return false;
    }
  }
  YAML::Node files = sc["file_sd_configs"];
  if (!IsNullish(files)) {
    if (!ExpectSeq(c, files, path + ".file_sd_configs")) return false;
    size_t i = 0;
    for (auto it = files.begin(); it != files.end(); ++it, ++i) {
      std::string p = absl::StrCat(path, ".file_sd_configs[", i, "]");
      if (!ExpectMap(c, *it, p)) return false;
      if (!CheckKeys(c, *it, p, {"files", "refresh_interval"})) return false;
      if (!CheckStringList(c, (*it)["files"], p + ".files")) return false;
      if ((*it)["refresh_interval"].IsDefined() &&
          !CheckDuration(c, (*it)["refresh_interval"], p + ".refresh_interval", nullptr)) {
        return false;
      }
    }
  }
  for (auto it = sc.begin(); it != sc.end(); ++it) {
    if (IsOpaqueSdKey(it->first.Scalar()) && !IsNullish(it->second) &&
        !ExpectSeq(c, it->second, Checker::Join(path, it->first.Scalar()))) {
      return false;
    }
  }
  if (!CheckRelabelConfigs(c, sc["relabel_configs"], path + ".relabel_configs")) return false;
  if (!CheckRelabelConfigs(c, sc["metric_relabel_configs"], path + ".metric_relabel_configs")) return false;
  return true;
}

// ---- targets -------------------------------------------------------------

bool CheckTargetGroups(Checker& c, const YAML::Node& root) {
  if (IsNullish(root)) return true;
  if (!ExpectSeq(c, root, "")) return false;
  size_t i = 0;
  for (auto it = root.begin(); it != root.end(); ++it, ++i) {
    std::string p = absl::StrCat("[", i, "]");
    if (!ExpectMap(c, *it, p)) return false;
    if (!CheckKeys(c, *it, p, {"targets", "labels"})) return false;
    if (!CheckStringList(c, (*it)["targets"], p + ".targets")) return false;
    if (!CheckLabelMap(c, (*it)["labels"], p + ".labels", false)) return false;
  }
  return true;
}

std::string NormalizedTargetsJson(const YAML::Node& root) {
  std::string out = "[";
  bool first_group = true;
  if (root.IsSequence()) {
    for (auto it = root.begin(); it != root.end(); ++it) {
      out.append(first_group ? "\n" : ",\n");
      first_group = false;
      out.append("  {\n    \"targets\": [");
      YAML::Node targets = (*it)["targets"];
      bool first = true;
      if (targets.IsDefined() && targets.IsSequence()) {
        for (auto t = targets.begin(); t != targets.end(); ++t) {
          out.append(first ? "" : ", ");
          first = false;
          AppendQuoted(t->Scalar(), &out);
        }
      }
      out.append("],\n    \"labels\": {");
      std::map<std::string, std::string> labels;
      YAML::Node lm = (*it)["labels"];
      if (lm.IsDefined() && lm.IsMap()) {
        for (auto l = lm.begin(); l != lm.end(); ++l) {
          labels[l->first.Scalar()] = l->second.IsScalar() ? l->second.Scalar() : "";
        }
      }
      first = true;
      for (const auto& [k, v] : labels) {
        out.append(first ? "\n      " : ",\n      ");
        first = false;
        AppendQuoted(k, &out);
        out.append(": ");
        AppendQuoted(v, &out);
      }
      out.append(labels.empty() ? "}\n  }" : "\n    }\n  }");
    }
  }
  out.append(first_group ? "]\n" : "\n]\n");
  return out;
}

// ---- namespaces ----------------------------------------------------------

std::string NamespaceOf(absl::string_view source, absl::string_view doc_name,
                        const ValidationOptions& o) {
  if (!o.namespaced_sources.count(source)) return "";
  size_t slash = doc_name.find('/');
  if (slash == absl::string_view::npos || slash == 0) return "";
  return std::string(doc_name.substr(0, slash));
}

// Counts the documents of a stream (and where the second starts) without
// building them.
class DocumentCounter : public YAML::EventHandler {
 public:
  int documents = 0;
  int second_line = 0;  // 1-based

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents == 2) second_line = mark.line >= 0 ? mark.line + 1 : 0;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Brackets nest yaml-cpp's recursive-descent parser; refuse absurd depths
// before parsing so a hostile document cannot exhaust the stack.
bool FlowNestingTooDeep(absl::string_view data) {
  int depth = 0;
  for (char ch : data) {
    if (ch == '[' || ch == '{') {
      if (++depth > kMaxDepth) return true;
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
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

  FragmentError err;
  auto reject = [&](FragmentError e) -> absl::Status {
    if (error != nullptr) *error = e;
    return absl::InvalidArgumentError(Describe(source, doc.name, e));
  };
  if (doc.name.find('\0') != std::string::npos) {
    return reject({0, "", "document name contains a NUL byte"});
  }
  if (doc.oversized_bytes != 0 || doc.data.size() > options.max_fragment_bytes) {
    uint64_t size = doc.oversized_bytes != 0 ? doc.oversized_bytes : doc.data.size();
    return reject({0, "", absl::StrCat("document is ", size, " bytes, over max_fragment_bytes ",
                                       options.max_fragment_bytes)});
  }
  if (FlowNestingTooDeep(doc.data)) return reject({0, "", "brackets nest too deep"});

  const std::string ns = NamespaceOf(source, doc.name, options);
  // A rule file copied verbatim (so comments stay), shared when it can be.
  auto verbatim = [&] {
    frag.output_path = RulesOutputPath(source, doc.name);
    if (shared_data != nullptr && (doc.data.empty() || doc.data.back() == '\n')) {
      frag.output = std::move(shared_data);
    } else {
      std::string bytes = doc.data;
      if (!bytes.empty() && bytes.back() != '\n') bytes.push_back('\n');
      frag.output = std::make_shared<const std::string>(std::move(bytes));
    }
  };
  const bool stamp_rules = !ns.empty() && !options.enforce_namespace_label.empty();
  if (frag.kind == FragmentKind::kRules && options.yaml_fast_path && !stamp_rules) {
    std::optional<YamlSubsetNode> tree = ParseYamlSubset(doc.data);
    if (tree.has_value() && FastRuleFileValid(*tree)) {
      verbatim();
      return frag;
    }
  }

  YAML::Node root;
  try {
    // Counted with the event parser, never YAML::LoadAll: yaml-cpp 0.7 never
    // returns from LoadAll on a stray ',' where a document may start
    // (upstream issue 1040), adding empty documents until memory runs out.
    std::istringstream stream(doc.data);
    YAML::Parser parser(stream);
    DocumentCounter counter;
    while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.documents > 1) {
      return reject({counter.second_line, "", "more than one YAML document in the stream"});
    }
    if (counter.documents == 1) root = YAML::Load(doc.data);
  } catch (const YAML::Exception& e) {
    return reject({e.mark.line >= 0 ? e.mark.line + 1 : 0, "", absl::StrCat("invalid YAML: ", e.msg)});
  } catch (const std::exception& e) {
    return reject({0, "", absl::StrCat("invalid YAML: ", e.what())});
  }

  // Without aliases every node costs at least a byte or two of input.
  Checker c(20000 + 2 * doc.data.size());
  try {
    if (!c.Walk(root, "", 0)) return reject(c.error());
    switch (frag.kind) {
      case FragmentKind::kRules: {
        if (!CheckRuleFile(c, root)) return reject(c.error());
        if (stamp_rules && root.IsMap() && root["groups"].IsDefined() &&
            root["groups"].IsSequence()) {
          YAML::Node copy = YAML::Clone(root);
          for (auto g : copy["groups"]) {
            if (!g["rules"].IsDefined() || !g["rules"].IsSequence()) continue;
            for (auto r : g["rules"]) r["labels"][options.enforce_namespace_label] = ns;
          }
          std::string bytes;
          EmitYamlBlock(copy, 0, false, &bytes);
          frag.output_path = RulesOutputPath(source, doc.name);
          frag.output = std::make_shared<const std::string>(std::move(bytes));
        } else {
          verbatim();
        }
        break;
      }
      case FragmentKind::kScrape: {
        if (IsNullish(root)) break;
        std::vector<YAML::Node> configs;
        if (root.IsSequence()) {
          size_t i = 0;
          for (auto it = root.begin(); it != root.end(); ++it, ++i) {
            if (!CheckScrapeConfig(c, *it, absl::StrCat("[", i, "]"))) return reject(c.error());
            configs.push_back(*it);
          }
        } else {
          if (!CheckScrapeConfig(c, root, "")) return reject(c.error());
          configs.push_back(root);
        }
        std::set<std::string> jobs;
        for (YAML::Node sc : configs) {
          YAML::Node copy = YAML::Clone(sc);
          std::string job = sc["job_name"].Scalar();
          if (!ns.empty() && options.job_name_prefix == JobNamePrefix::kNamespace) {
            job = absl::StrCat(ns, "/", job);
            copy["job_name"] = job;
          }
          if (!jobs.insert(job).second) {
            return reject({Checker::LineOf(sc["job_name"]), "job_name",
                           absl::StrCat("job_name \"", job, "\" defined twice in this document")});
          }
          if (!ns.empty() && !options.enforce_namespace_label.empty()) {
            YAML::Node stamp;
            stamp["action"] = "replace";
            stamp["target_label"] = options.enforce_namespace_label;
            stamp["replacement"] = ns;
            if (!copy["metric_relabel_configs"].IsDefined() ||
                !copy["metric_relabel_configs"].IsSequence()) {
              copy["metric_relabel_configs"] = YAML::Node(YAML::NodeType::Sequence);
            }
            copy["metric_relabel_configs"].push_back(stamp);
          }
          ScrapeEntry entry;
          entry.job_name = job;
          entry.yaml = "- ";
          EmitYamlBlock(copy, 2, true, &entry.yaml);
          frag.scrape_configs.push_back(std::move(entry));
        }
        break;
      }
      case FragmentKind::kTargets:
      case FragmentKind::kJobTargets: {
        if (!CheckTargetGroups(c, root)) return reject(c.error());
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
  } catch (const YAML::Exception& e) {
    return reject({e.mark.line >= 0 ? e.mark.line + 1 : 0, "", absl::StrCat("invalid YAML: ", e.msg)});
  }
  return frag;
}

}  // namespace promconf
