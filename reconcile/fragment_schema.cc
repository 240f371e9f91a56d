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

  bool Fail(int line, const KeyPath& path, std::string reason) {
    if (error_ != nullptr) {
      error_->line = line;
      error_->key = path.String();
      error_->reason = std::move(reason);
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

bool CheckBool(Checker& c, const Node& n, const KeyPath& path) {
  if (n.IsScalar() && !n.quoted && (n.scalar == "true" || n.scalar == "false")) return true;
  return c.Fail(n.line, path, "expected true or false");
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

bool CheckRule(Checker& c, const Node& r, const KeyPath& path) {
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
  for (const char* k : {"for", "keep_firing_for"}) {
    if (const Node* v = r.Find(k); v != nullptr && !CheckDuration(c, *v, path.Key(k), nullptr)) return false;
  }
  if (!CheckLabelMap(c, r.Find("labels"), path.Key("labels"), true)) return false;
  if (!CheckLabelMap(c, r.Find("annotations"), path.Key("annotations"), false)) return false;
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
  return std::find(std::begin(kSd), std::end(kSd), k) != std::end(kSd);
}

bool CheckRelabelConfigs(Checker& c, const Node* n, const KeyPath& path) {
  if (IsNullish(n)) return true;
  if (!ExpectSeq(c, *n, path)) return false;
  for (size_t i = 0; i < n->seq.size(); ++i) {
    const Node& rc = n->seq[i];
    const KeyPath p = path.Index(i);
    if (!ExpectMap(c, rc, p)) return false;
    if (!CheckKeys(c, rc, p,
                   {"source_labels", "separator", "regex", "modulus", "target_label", "replacement",
                    "action"})) {
      return false;
    }
    if (const Node* action = rc.Find("action"); action != nullptr) {
      if (!ExpectScalar(c, *action, p.Key("action"))) return false;
      static constexpr absl::string_view kActions[] = {
          "replace",   "keep",      "drop",      "hashmod",  "labelmap", "labeldrop",
          "labelkeep", "lowercase", "uppercase", "keepequal", "dropequal"};
      const std::string a = absl::AsciiStrToLower(action->scalar);
      if (std::find(std::begin(kActions), std::end(kActions), a) == std::end(kActions)) {
        return c.Fail(action->line, p.Key("action"),
                      absl::StrCat("unknown relabel action \"", absl::CHexEscape(action->scalar), "\""));
      }
    }
    if (!CheckStringList(c, rc.Find("source_labels"), p.Key("source_labels"))) return false;
    if (const Node* m = rc.Find("modulus"); m != nullptr && !CheckUint(c, *m, p.Key("modulus"))) return false;
  }
  return true;
}

bool CheckScrape(Checker& c, const Node& sc, const KeyPath& path) {
  if (!ExpectMap(c, sc, path)) return false;
  if (!CheckKeys(c, sc, path,
                 {"job_name", "honor_labels", "honor_timestamps", "params", "scrape_interval",
                  "scrape_timeout", "metrics_path", "scheme", "basic_auth", "authorization", "oauth2",
                  "bearer_token", "bearer_token_file", "follow_redirects", "enable_http2", "tls_config",
                  "proxy_url", "proxy_connect_header", "static_configs", "file_sd_configs",
                  "relabel_configs", "metric_relabel_configs", "body_size_limit", "sample_limit",
                  "target_limit", "label_limit", "label_name_length_limit", "label_value_length_limit"},
                 &IsOpaqueSdKey)) {
    return false;
  }
  const Node* job = sc.Find("job_name");
  if (IsNullish(job)) return c.Fail(sc.line, path.Key("job_name"), "\"job_name\" is required");
  if (!ExpectScalar(c, *job, path.Key("job_name"))) return false;
  if (job->scalar.empty()) return c.Fail(job->line, path.Key("job_name"), "\"job_name\" must not be empty");
  for (const char* k : {"honor_labels", "honor_timestamps", "follow_redirects", "enable_http2"}) {
    if (const Node* v = sc.Find(k); v != nullptr && !CheckBool(c, *v, path.Key(k))) return false;
  }
  for (const char* k : {"sample_limit", "target_limit", "label_limit", "label_name_length_limit",
                        "label_value_length_limit"}) {
    if (const Node* v = sc.Find(k); v != nullptr && !CheckUint(c, *v, path.Key(k))) return false;
  }
  for (const char* k : {"metrics_path", "proxy_url", "body_size_limit", "bearer_token", "bearer_token_file"}) {
    if (const Node* v = sc.Find(k); v != nullptr && !ExpectScalar(c, *v, path.Key(k))) return false;
  }
  for (const char* k : {"basic_auth", "authorization", "oauth2", "tls_config", "proxy_connect_header"}) {
    if (const Node* v = sc.Find(k); !IsNullish(v) && !ExpectMap(c, *v, path.Key(k))) return false;
  }
  if (const Node* scheme = sc.Find("scheme"); scheme != nullptr) {
    if (!ExpectScalar(c, *scheme, path.Key("scheme"))) return false;
    if (scheme->scalar != "http" && scheme->scalar != "https") {
      return c.Fail(scheme->line, path.Key("scheme"),
                    absl::StrCat("scheme must be http or https, not \"", absl::CHexEscape(scheme->scalar), "\""));
    }
  }
  absl::Duration interval, timeout;
  const Node* si = sc.Find("scrape_interval");
  const Node* st = sc.Find("scrape_timeout");
  if (si != nullptr && !CheckDuration(c, *si, path.Key("scrape_interval"), &interval)) return false;
  if (st != nullptr && !CheckDuration(c, *st, path.Key("scrape_timeout"), &timeout)) return false;
  if (si != nullptr && interval <= absl::ZeroDuration()) {
    return c.Fail(si->line, path.Key("scrape_interval"), "scrape_interval must be positive");
  }
  if (si != nullptr && st != nullptr && timeout > interval) {
    return c.Fail(st->line, path.Key("scrape_timeout"),
                  absl::StrCat("scrape_timeout ", st->scalar, " is greater than scrape_interval ", si->scalar));
  }
  if (const Node* params = sc.Find("params"); !IsNullish(params)) {
    const KeyPath pp = path.Key("params");
    if (!ExpectMap(c, *params, pp)) return false;
    for (const YamlSubsetEntry& e : params->map) {
      if (!CheckStringList(c, &e.value, pp.Key(e.key))) return false;
    }
  }
  if (const Node* statics = sc.Find("static_configs"); !IsNullish(statics)) {
    const KeyPath sp = path.Key("static_configs");
    if (!ExpectSeq(c, *statics, sp)) return false;
    for (size_t i = 0; i < statics->seq.size(); ++i) {
      const Node& g = statics->seq[i];
      const KeyPath p = sp.Index(i);
      if (!ExpectMap(c, g, p)) return false;
      if (!CheckKeys(c, g, p, {"targets", "labels"})) return false;
      if (!CheckStringList(c, g.Find("targets"), p.Key("targets"))) return false;
      if (!CheckLabelMap(c, g.Find("labels"), p.Key("labels"), false)) return false;
    }
  }
  if (const Node* files = sc.Find("file_sd_configs"); !IsNullish(files)) {
    const KeyPath fp = path.Key("file_sd_configs");
    if (!ExpectSeq(c, *files, fp)) return false;
    for (size_t i = 0; i < files->seq.size(); ++i) {
      const Node& f = files->seq[i];
      const KeyPath p = fp.Index(i);
      if (!ExpectMap(c, f, p)) return false;
      if (!CheckKeys(c, f, p, {"files", "refresh_interval"})) return false;
      if (!CheckStringList(c, f.Find("files"), p.Key("files"))) return false;
      if (const Node* ri = f.Find("refresh_interval");
          ri != nullptr && !CheckDuration(c, *ri, p.Key("refresh_interval"), nullptr)) {
        return false;
      }
    }
  }
  for (const YamlSubsetEntry& e : sc.map) {
    if (IsOpaqueSdKey(e.key) && !e.value.IsNull() && !ExpectSeq(c, e.value, path.Key(e.key))) return false;
  }
  if (!CheckRelabelConfigs(c, sc.Find("relabel_configs"), path.Key("relabel_configs"))) return false;
  if (!CheckRelabelConfigs(c, sc.Find("metric_relabel_configs"), path.Key("metric_relabel_configs"))) {
    return false;
  }
  return true;
}

}  // namespace

bool CheckRuleFile(const YamlSubsetNode& root, FragmentError* error) {
  Checker c(error);
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
    // Prometheus 2.42's rulefmt has no group "labels" or "query_offset".
    if (!CheckKeys(c, g, gp, {"name", "interval", "limit", "rules"})) return false;
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
      if (!CheckRule(c, rules->seq[ri], rp.Index(ri))) return false;
    }
  }
  return true;
}

bool CheckScrapeConfig(const YamlSubsetNode& scrape_config, absl::string_view key_prefix,
                       FragmentError* error) {
  Checker c(error);
  const KeyPath top{nullptr, key_prefix, 0, false};
  return CheckScrape(c, scrape_config, top);
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
