// The hostile-tenant corpus (issue 8): fragments and documents written by a
// tenant who wants to bend the rendered config, read files on the Prometheus
// host, crash or stall promconf. Every case goes through every source type it
// applies to — the file source, a real etcd, a real ZooKeeper, the fake
// Consul and the fake Kubernetes API server — into the real promconf binary
// (untrusted sources: the default), next to a good fragment of another team.
// For each source the test asserts:
//   - each case's exact outcome on /debug/fragments (accepted, or rejected
//     with the expected reason, or dropped at the source);
//   - the other team's fragments are still rendered;
//   - prometheus.yml passes promtool and, read by a YAML 1.1 reader as
//     Prometheus reads it, has no top-level key but the base config's,
//     `scrape_configs` and `rule_files`, the base's global section unchanged,
//     and only the jobs of accepted fragments;
//   - every rule file holds only `groups`, every targets file is valid JSON;
//   - nothing was written outside the output folder; /debug/fragments is
//     valid UTF-8 JSON; promconf is alive and exits 0 on SIGTERM.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/consul_server.h"
#include "tests/fakes/etcd_server.h"
#include "tests/fakes/kube_apiserver.h"
#include "tests/fakes/zookeeper_server.h"
#include "tests/fakes/test_io.h"
#include "yaml-cpp/yaml.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;

const char kPromconf[] = PROMCONF_BINARY_DIR "/promconf";

// Where a case applies.
enum SourceBit : unsigned {
  kFile = 1,
  kEtcd = 2,
  kZk = 4,
  kConsul = 8,
  kKube = 16,
  kAll = 31,
};

enum class Want {
  kAccepted,  // status accepted
  kRejected,  // status rejected, error contains `reason` (case-insensitive)
  kDropped,   // never a fragment: absent from /debug/fragments or "ignored"
  kEither,    // may go either way; only the invariants are checked
};

struct HostileCase {
  HostileCase(std::string id_, std::string suffix_, std::string data_, Want want_ = Want::kRejected,
              std::string reason_ = "", unsigned sources_ = kAll, std::string name_ = "",
              std::string symlink_to_ = "")
      : id(std::move(id_)),
        suffix(std::move(suffix_)),
        data(std::move(data_)),
        want(want_),
        reason(std::move(reason_)),
        sources(sources_),
        name(std::move(name_)),
        symlink_to(std::move(symlink_to_)) {}

  std::string id;      // [a-z0-9-]: also the ConfigMap's name
  std::string suffix;  // ".scrape.yml", ".rules.yml", ".targets.json", ...
  std::string data;
  Want want;
  std::string reason;  // a substring of the rejection ("" = any reason)
  unsigned sources;
  // Non-empty: the document name below the team folder instead of id+suffix
  // (hostile names; not for kubernetes, whose keys the API restricts).
  std::string name;
  // File source only: the document is a symlink to this path.
  std::string symlink_to;

  std::string DocName() const { return name.empty() ? id + suffix : name; }
};

const char kLS[] = "\xE2\x80\xA8";   // U+2028 LINE SEPARATOR
const char kPS[] = "\xE2\x80\xA9";   // U+2029 PARAGRAPH SEPARATOR
const char kNEL[] = "\xC2\x85";      // U+0085 NEXT LINE
const char kBOM[] = "\xEF\xBB\xBF";  // U+FEFF

// A scrape config of job h-<id> with `extra` appended (block YAML at the
// config's indentation).
std::string Scrape(const std::string& id, const std::string& extra) {
  return absl::StrCat("job_name: h-", id, "\nstatic_configs:\n- targets: ['127.0.0.1:9']\n", extra);
}

std::string Rules(const std::string& id, const std::string& rule_extra,
                  const std::string& expr = "up") {
  return absl::StrCat("groups:\n- name: g-", id, "\n  rules:\n  - alert: A", absl::StrReplaceAll(id, {{"-", "_"}}),
                      "\n    expr: ", expr, "\n", rule_extra);
}

std::string Repeat(absl::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out.append(s.data(), s.size());
  return out;
}

// Billion laughs: 10 levels of 10 aliases each.
std::string Laughs(const std::string& prefix) {
  std::string s = prefix + "a0: &a0 [\"lol\"]\n";
  for (int i = 1; i < 10; ++i) {
    absl::StrAppend(&s, "a", i, ": &a", i, " [");
    for (int j = 0; j < 10; ++j) absl::StrAppend(&s, j ? ", " : "", "*a", i - 1);
    s += "]\n";
  }
  return s;
}

std::vector<HostileCase> Corpus() {
  std::vector<HostileCase> c;
  auto add = [&](HostileCase h) { c.push_back(std::move(h)); };
  const std::string inj = absl::StrCat("remote_write:", kLS, "- url: http://127.0.0.1:1/steal", kLS);

  // --- Injection: line breaks that YAML 1.1 readers see and YAML 1.2 don't.
  add({"inj-ls-path", ".scrape.yml",
       Scrape("inj-ls-path", absl::StrCat("metrics_path: \"/m", kLS, inj, "\"\n")), Want::kAccepted});
  add({"inj-ps-path", ".scrape.yml",
       Scrape("inj-ps-path", absl::StrCat("metrics_path: \"/m", kPS, "global:", kPS, " scrape_interval: 1s\"\n")),
       Want::kAccepted});
  add({"inj-nel-path", ".scrape.yml",
       Scrape("inj-nel-path", absl::StrCat("metrics_path: \"/m", kNEL, "alerting:", kNEL, "\"\n")),
       Want::kAccepted});
  add({"inj-plain-ls", ".scrape.yml",
       Scrape("inj-plain-ls", absl::StrCat("metrics_path: /m", kLS, "remote_write: x\n")), Want::kEither});
  add({"inj-ls-job", ".scrape.yml",
       absl::StrCat("job_name: \"h-inj-ls-job", kLS, "global:", kLS, "\"\nstatic_configs:\n- targets: ['127.0.0.1:9']\n"),
       Want::kAccepted});
  add({"inj-ls-label", ".scrape.yml",
       absl::StrCat("job_name: h-inj-ls-label\nstatic_configs:\n- targets: ['127.0.0.1:9']\n  labels:\n    team: \"a",
                    kLS, inj, "\"\n"),
       Want::kAccepted});
  add({"inj-ls-relabel", ".scrape.yml",
       Scrape("inj-ls-relabel", absl::StrCat("relabel_configs:\n- target_label: team\n  replacement: \"x", kLS,
                                             inj, "\"\n")),
       Want::kAccepted});
  add({"inj-ls-param", ".scrape.yml",
       Scrape("inj-ls-param", absl::StrCat("params:\n  module: [\"a", kPS, inj, "\"]\n")), Want::kAccepted});
  add({"inj-cr", ".scrape.yml", Scrape("inj-cr", "metrics_path: \"/m\\rremote_write:\\r- url: x\"\n"),
       Want::kAccepted});
  // go-yaml (libyaml's reader) refuses a BOM anywhere but at the start.
  add({"inj-bom", ".scrape.yml", Scrape("inj-bom", absl::StrCat("metrics_path: \"/m", kBOM, "x\"\n")),
       Want::kRejected, "U+FEFF"});
  add({"inj-nul-raw", ".scrape.yml", Scrape("inj-nul-raw", std::string("metrics_path: /m\0x\n", 19)),
       Want::kRejected, ""});
  add({"inj-c1-raw", ".scrape.yml", Scrape("inj-c1-raw", "metrics_path: \"/m\x1b[31m\"\n"), Want::kEither});
  add({"inj-rule-annotation", ".rules.yml",
       Rules("inj-rule-annotation", absl::StrCat("    annotations:\n      summary: \"x", kLS, "  - record: evil",
                                                 kLS, "    expr: vector(1)\"\n")),
       Want::kAccepted});
  add({"inj-rule-label", ".rules.yml",
       Rules("inj-rule-label", absl::StrCat("    labels:\n      team: \"a", kNEL, "groups:\"\n")), Want::kAccepted});
  add({"inj-rule-expr-ls", ".rules.yml", Rules("inj-rule-expr-ls", "", absl::StrCat("\"up", kLS, "\"")),
       Want::kRejected, ""});
  add({"inj-topkey", ".scrape.yml",
       "- job_name: h-inj-topkey\n  static_configs:\n  - targets: ['127.0.0.1:9']\n- remote_write:\n  - url: "
       "http://127.0.0.1:1/steal\n",
       Want::kRejected, ""});
  add({"inj-topkey-map", ".scrape.yml",
       "job_name: h-inj-topkey-map\nremote_write:\n- url: http://127.0.0.1:1/steal\n", Want::kRejected,
       "remote_write"});
  add({"inj-rules-topkey", ".rules.yml",
       "groups: []\nremote_write:\n- url: http://127.0.0.1:1/steal\n", Want::kRejected, "remote_write"});
  add({"inj-targets-extra", ".targets.yml",
       "- targets: ['127.0.0.1:9']\n  remote_write: [{url: x}]\n", Want::kRejected, ""});
  add({"inj-job-base", ".scrape.yml",
       "job_name: base\nstatic_configs:\n- targets: ['127.0.0.1:9']\n", Want::kRejected, "base"});
  add({"inj-merge-global", ".scrape.yml",
       Scrape("inj-merge-global", "<<: {global: {scrape_interval: 1s}}\n"), Want::kRejected, "global"});
  add({"inj-multidoc", ".scrape.yml",
       Scrape("inj-multidoc", "---\nglobal:\n  scrape_interval: 1s\nremote_write:\n- url: x\n"), Want::kEither});
  add({"inj-tag", ".scrape.yml", Scrape("inj-tag", "metrics_path: !!python/object:os.system x\n"),
       Want::kEither});

  // --- Files on the Prometheus host, from an untrusted source.
  auto file_case = [&](const std::string& id, const std::string& body, const std::string& reason) {
    add({id, ".scrape.yml", Scrape(id, body), Want::kRejected, reason});
  };
  file_case("f-bearer", "bearer_token_file: /etc/shadow\n", "bearer_token_file");
  file_case("f-credentials",
            "authorization:\n  credentials_file: /var/run/secrets/kubernetes.io/serviceaccount/token\n",
            "credentials_file");
  file_case("f-basic", "basic_auth:\n  username: a\n  password_file: /etc/passwd\n", "password_file");
  file_case("f-oauth2",
            "oauth2:\n  client_id: a\n  client_secret_file: /etc/passwd\n  token_url: http://127.0.0.1:1/t\n",
            "client_secret_file");
  file_case("f-oauth2-tls",
            "oauth2:\n  client_id: a\n  client_secret: s\n  token_url: http://127.0.0.1:1/t\n  tls_config:\n"
            "    cert_file: /etc/ssl/certs/ssl-cert-snakeoil.pem\n    key_file: /etc/ssl/private/ssl-cert-snakeoil.key\n",
            "_file");
  file_case("f-tls-ca", "tls_config:\n  ca_file: /etc/passwd\n", "ca_file");
  file_case("f-tls-cert", "tls_config:\n  cert_file: /etc/a.pem\n  key_file: /etc/a.key\n", "_file");
  file_case("f-sd-abs", "file_sd_configs:\n- files: [/etc/prometheus/*.json]\n", "files");
  file_case("f-sd-dotdot", "file_sd_configs:\n- files: [targets/../../../etc/*.json]\n", "files");
  file_case("f-sd-outside", "file_sd_configs:\n- files: ['../x.json']\n", "files");
  file_case("f-sd-rules", "file_sd_configs:\n- files: ['rules/*.yml']\n", "files");
  file_case("f-kube-kubeconfig", "kubernetes_sd_configs:\n- role: pod\n  kubeconfig_file: /root/.kube/config\n",
            "kubeconfig_file");
  file_case("f-kube-tls", "kubernetes_sd_configs:\n- role: pod\n  tls_config:\n    ca_file: /etc/passwd\n",
            "ca_file");
  file_case("f-consul-tls",
            "consul_sd_configs:\n- server: 127.0.0.1:8500\n  tls_config:\n    key_file: /etc/ssl/private/x.key\n",
            "key_file");
  file_case("f-http-sd",
            "http_sd_configs:\n- url: http://127.0.0.1:1/sd\n  authorization:\n    credentials_file: /etc/passwd\n",
            "credentials_file");
  file_case("f-merge", "basic_auth:\n  username: a\n  <<: {password_file: /etc/passwd}\n", "password_file");
  file_case("f-merge-list", "basic_auth:\n  <<: [{username: a}, {password_file: /etc/passwd}]\n",
            "password_file");
  add({"f-alias", ".scrape.yml",
       "- job_name: h-f-alias-1\n  static_configs:\n  - targets: ['127.0.0.1:9']\n  tls_config: &t\n"
       "    insecure_skip_verify: true\n- job_name: h-f-alias-2\n  static_configs:\n  - targets: ['127.0.0.1:9']\n"
       "  tls_config:\n    <<: *t\n    ca_file: /etc/passwd\n",
       Want::kRejected, "ca_file"});
  file_case("f-config-files", "scrape_config_files: [/etc/*.yml]\n", "scrape_config_files");
  add({"f-sd-ok", ".scrape.yml", Scrape("f-sd-ok", "file_sd_configs:\n- files: ['targets/team_*.json']\n"),
       Want::kAccepted});

  // --- Amplification and depth.
  add({"a-deep-flow", ".scrape.yml", "job_name: h-a-deep-flow\nparams: " + Repeat("[", 1000000) + "\n",
       Want::kRejected, "", kAll & ~kConsul});
  add({"a-deep-flow-small", ".scrape.yml", "job_name: h-a-deep-flow-small\nparams: " + Repeat("[", 300000) + "\n",
       Want::kRejected, ""});
  add({"a-deep-block", ".scrape.yml", Repeat("- ", 400000) + "x\n", Want::kRejected, "", kAll & ~kConsul});
  add({"a-deep-json", ".targets.json", Repeat("[", 500000), Want::kRejected, ""});
  add({"a-laughs", ".targets.yml", Laughs("") + "- targets: *a9\n", Want::kRejected, ""});
  add({"a-laughs-scrape", ".scrape.yml",
       Scrape("a-laughs-scrape", absl::StrCat("params:\n", absl::StrReplaceAll(Laughs(""), {{"\n", "\n  "}}),
                                              "x: *a9\n")),
       Want::kRejected, ""});
  {
    // One 300 KB string, anchored, then used 2,000 times: 600 MB expanded.
    std::string s = "- targets: ['127.0.0.1:9']\n  labels:\n    big: &big \"" + Repeat("x", 300000) + "\"\n";
    for (int i = 0; i < 2000; ++i) absl::StrAppend(&s, "- targets: ['127.0.0.1:9']\n  labels: {big: *big}\n");
    add({"a-alias-bytes", ".targets.yml", s, Want::kRejected, "", kAll & ~kConsul});
  }
  add({"a-too-big", ".rules.yml", "# " + Repeat("x", 1048577) + "\ngroups: []\n", Want::kRejected, "",
       kFile | kEtcd});
  {
    std::string t = "[{\"targets\": [";
    for (int i = 0; i < 20000; ++i) absl::StrAppend(&t, i ? "," : "", "\"10.0.", i / 250, ".", i % 250, ":80\"");
    t += "]}]";
    add({"a-wide", ".targets.json", t, Want::kAccepted});
  }
  add({"a-long-scalar", ".targets.json",
       "[{\"targets\": [\"127.0.0.1:9\"], \"labels\": {\"l\": \"" + Repeat("y", 400000) + "\"}}]", Want::kEither,
       "", kAll & ~kConsul});
  {
    // A map nested 60 deep where a string is expected.
    std::string s = "job_name: h-a-nested-map\nparams:\n";
    std::string pad = "  ";
    for (int i = 0; i < 60; ++i) {
      absl::StrAppend(&s, pad, "k", i, ":\n");
      pad += "  ";
    }
    absl::StrAppend(&s, pad, "v: 1\n");
    add({"a-nested-map", ".scrape.yml", s, Want::kRejected, ""});
  }

  // --- Hostile names.
  add({"n-dotdot", ".rules.yml", Rules("n-dotdot", ""), Want::kAccepted, "", kEtcd | kConsul,
       "../../../../tmp/n-dotdot.rules.yml"});
  add({"n-abs", ".rules.yml", Rules("n-abs", ""), Want::kAccepted, "", kEtcd | kConsul,
       "/etc/cron.d/n-abs.rules.yml"});
  add({"n-ff", ".rules.yml", Rules("n-ff", ""), Want::kAccepted, "", kFile | kEtcd, "n-ff\xff\xfe.rules.yml"});
  add({"n-newline", ".rules.yml", Rules("n-newline", ""), Want::kAccepted, "", kFile | kEtcd | kConsul,
       "n-new\nline.rules.yml"});
  add({"n-ls", ".rules.yml", Rules("n-ls", ""), Want::kAccepted, "", kFile | kEtcd | kConsul | kZk,
       absl::StrCat("n-ls", kLS, ".rules.yml")});
  add({"n-long", ".rules.yml", Rules("n-long", ""), Want::kAccepted, "", kEtcd | kConsul,
       Repeat("n-long/", 500) + "n-long.rules.yml"});
  add({"n-nul", ".rules.yml", Rules("n-nul", ""), Want::kEither, "", kEtcd, std::string("n-nul\0x.rules.yml", 17)});
  add({"n-bin", ".bin", Repeat("\x01\x02", 500000), Want::kDropped, "", kFile | kEtcd});
  add({"n-noext", "", "groups: []\n", Want::kDropped, "", kAll, "README"});
  add({"n-hidden", ".rules.yml", Rules("n-hidden", ""), Want::kDropped, "", kFile, ".n-hidden.rules.yml"});
  add({"n-symlink-passwd", ".rules.yml", "", Want::kDropped, "", kFile, "", "/etc/passwd"});
  add({"n-symlink-out", ".scrape.yml", "", Want::kDropped, "", kFile, "", "OUTSIDE/outside.scrape.yml"});

  // --- Rule files Prometheus would reject (one of them must never stop the others).
  add({"r-name-space", ".rules.yml", "groups:\n- name: g\n  rules:\n  - record: a b\n    expr: up\n",
       Want::kRejected, ""});
  add({"r-for-soon", ".rules.yml", Rules("r-for-soon", "    for: soon\n"), Want::kRejected, "for"});
  add({"r-expr-unclosed", ".rules.yml", Rules("r-expr-unclosed", "", "sum(up"), Want::kRejected, ""});
  add({"r-expr-func", ".rules.yml", Rules("r-expr-func", "", "frobnicate(up)"), Want::kRejected, ""});
  add({"r-expr-range", ".rules.yml", Rules("r-expr-range", "", "rate(up)"), Want::kRejected, ""});
  add({"r-expr-regex", ".rules.yml", Rules("r-expr-regex", "", "'up{job=~\"(\"}'"), Want::kRejected, ""});
  add({"r-tmpl", ".rules.yml", Rules("r-tmpl", "    annotations:\n      s: \"{{ $value\"\n"), Want::kRejected,
       ""});
  add({"r-label-name", ".rules.yml", Rules("r-label-name", "    labels:\n      0bad: x\n"), Want::kRejected, ""});
  add({"r-dup-group", ".rules.yml",
       "groups:\n- name: d\n  rules:\n  - record: a\n    expr: up\n- name: d\n  rules:\n  - record: b\n    expr: up\n",
       Want::kRejected, ""});
  add({"r-unknown", ".rules.yml", Rules("r-unknown", "    bogus: 1\n"), Want::kRejected, "bogus"});
  add({"r-tab", ".rules.yml", "groups:\n- name: t\n  rules:\n\t- record: a\n\t  expr: up\n", Want::kRejected, ""});
  add({"r-crlf", ".rules.yml", "groups:\r\n- name: crlf\r\n  rules:\r\n  - record: crlf\r\n    expr: up\r\n",
       Want::kAccepted});
  add({"r-bad-utf8", ".rules.yml", Rules("r-bad-utf8", "    labels:\n      team: \"a\xff\"\n"), Want::kRejected,
       "", kAll & ~kKube});
  add({"r-alias-ok", ".rules.yml",
       "groups:\n- name: alias-ok\n  rules:\n  - record: a\n    expr: up\n    labels: &lbl {team: a}\n"
       "  - record: b\n    expr: up\n    labels: *lbl\n",
       Want::kAccepted});

  // --- Scrape configs Prometheus would reject.
  add({"s-unknown-tls", ".scrape.yml", Scrape("s-unknown-tls", "tls_config:\n  bogus: 1\n"), Want::kRejected,
       "bogus"});
  add({"s-regex", ".scrape.yml",
       Scrape("s-regex", "relabel_configs:\n- source_labels: [a]\n  regex: '('\n  target_label: b\n"),
       Want::kRejected, ""});
  add({"s-hashmod", ".scrape.yml",
       Scrape("s-hashmod", "relabel_configs:\n- source_labels: [a]\n  action: hashmod\n  target_label: b\n"),
       Want::kRejected, ""});
  add({"s-timeout", ".scrape.yml", Scrape("s-timeout", "scrape_interval: 10s\nscrape_timeout: 20s\n"),
       Want::kRejected, "scrape_timeout"});
  add({"s-bodysize", ".scrape.yml", Scrape("s-bodysize", "body_size_limit: lots\n"), Want::kRejected, ""});
  add({"s-300y", ".scrape.yml", Scrape("s-300y", "scrape_interval: 300y\n"), Want::kRejected, ""});
  add({"s-proxy", ".scrape.yml", Scrape("s-proxy", "proxy_url: '::bad'\n"), Want::kRejected, ""});
  add({"s-url-target", ".scrape.yml",
       "job_name: h-s-url-target\nstatic_configs:\n- targets: ['http://127.0.0.1:9/metrics']\n", Want::kRejected,
       ""});
  add({"s-dup-a", ".scrape.yml", "job_name: h-dup\nstatic_configs:\n- targets: ['127.0.0.1:9']\n",
       Want::kAccepted});
  add({"s-dup-b", ".scrape.yml", "job_name: h-dup\nstatic_configs:\n- targets: ['127.0.0.1:8']\n",
       Want::kRejected, "h-dup"});
  return c;
}

// ---------------------------------------------------------------------------

std::string ReadFileOrEmpty(const fs::path& p) { return ReadWholeFile(p.string()); }

// What /debug/fragments says of one document.
struct Row {
  std::string status, error, kind;
};

// Names as the JSON shows them: invalid UTF-8 bytes may come back as U+FFFD
// or as the code point of the byte; both spellings are looked up.
std::vector<std::string> NameSpellings(const std::string& name) {
  std::string fffd, latin1;
  for (size_t i = 0; i < name.size();) {
    unsigned char b = static_cast<unsigned char>(name[i]);
    size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    bool valid = len > 0 && i + len <= name.size();
    for (size_t k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(name[i + k]) >> 6) == 2;
    if (valid) {
      fffd.append(name, i, len);
      latin1.append(name, i, len);
      i += len;
    } else {
      fffd += "\xEF\xBF\xBD";
      latin1 += static_cast<char>(0xC0 | (b >> 6));
      latin1 += static_cast<char>(0x80 | (b & 0x3F));
      ++i;
    }
  }
  return {name, fffd, latin1};
}

class HostileCorpusTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/promconf-hostile-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "OUTSIDE");
    WriteFileAtomically(dir_ / "OUTSIDE/outside.scrape.yml",
              "job_name: h-outside\nstatic_configs:\n- targets: ['127.0.0.1:9']\n");
    base_ =
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n  external_labels:\n    cluster: c1\n"
        "scrape_configs:\n- job_name: base\n  static_configs:\n  - targets: ['127.0.0.1:9']\n";
    WriteFileAtomically(dir_ / "base.yml", base_);
    port_ = PickFreeLoopbackPort();
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::vector<HostileCase> CasesFor(SourceBit bit) const {
    std::vector<HostileCase> out;
    for (HostileCase& h : Corpus()) {
      if (h.sources & bit) out.push_back(std::move(h));
    }
    return out;
  }

  // The fragments of another team that must survive everything above.
  static std::vector<std::pair<std::string, std::string>> GoodDocs() {
    return {{"zz-good.rules.yml",
             "groups:\n- name: good\n  rules:\n  - record: good:up\n    expr: sum(up)\n"},
            {"zz-good.scrape.yml", "job_name: good\nstatic_configs:\n- targets: ['127.0.0.1:9']\n"},
            {"zz-good.targets.json", "[{\"targets\": [\"127.0.0.1:9\"], \"labels\": {\"team\": \"good\"}}]"}};
  }

  // Runs promconf over `source_yaml` (one untrusted source named "t") until
  // every expected document is on /debug/fragments, then checks everything.
  // `doc_name` maps a case's name to the document name the source reports.
  void RunAndCheck(const std::string& source_yaml, const std::vector<HostileCase>& cases,
                   const std::function<std::string(const std::string&)>& doc_name) {
    const fs::path out = dir_ / "out";
    WriteFileAtomically(dir_ / "promconf.yml",
              absl::StrCat("output:\n  dir: ", out.string(), "\n  base_config: ", (dir_ / "base.yml").string(),
                           "\nsources:\n", source_yaml));
    const std::set<std::string> before = ListDir(dir_);
    ChildProcess daemon({kPromconf, "--config.file=" + (dir_ / "promconf.yml").string(),
                         absl::StrCat("--web.listen-address=127.0.0.1:", port_)},
                        (dir_ / "promconf.log").string(), (dir_ / "promconf.log").string());
    const std::string url = absl::StrCat("http://127.0.0.1:", port_);
    auto log = [&] {
      std::string l = ReadFileOrEmpty(dir_ / "promconf.log");
      return l.size() > 20000 ? l.substr(l.size() - 20000) : l;
    };

    std::map<std::string, Row> rows;
    std::string body;
    auto fetch = [&]() -> bool {
      long status = 0;
      body = HttpGetBody(url + "/debug/fragments", &status);
      if (status != 200) return false;
      rapidjson::Document d;
      d.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
      if (d.HasParseError() || !d.IsArray()) {
        ADD_FAILURE() << "/debug/fragments is not valid UTF-8 JSON: "
                      << rapidjson::GetParseError_En(d.GetParseError()) << " at " << d.GetErrorOffset();
        return true;  // stop polling
      }
      rows.clear();
      for (const auto& r : d.GetArray()) {
        if (!r.IsObject() || !r.HasMember("document")) continue;
        auto str = [&](const char* k) {
          return r.HasMember(k) && r[k].IsString() ? std::string(r[k].GetString(), r[k].GetStringLength())
                                                   : std::string();
        };
        rows[str("document")] = Row{str("status"), str("error"), str("kind")};
      }
      for (const auto& [name, data] : GoodDocs()) {
        if (!rows.count(doc_name(name))) return false;
      }
      for (const HostileCase& h : cases) {
        if (h.want == Want::kDropped) continue;
        if (Find(rows, doc_name(h.DocName())) == nullptr) return false;
      }
      return true;
    };
    long ready = 0;
    ASSERT_TRUE(PollUntil([&] { return fetch(); }, absl::Seconds(120))) << body.substr(0, 4000) << log();
    ASSERT_TRUE(PollUntil(
        [&] {
          HttpGetBody(url + "/readyz", &ready);
          return ready == 200;
        },
        absl::Seconds(60)))
        << log();
    // Let a last batch settle (promtool, the final write).
    absl::SleepFor(absl::Seconds(1));
    ASSERT_TRUE(fetch());

    // Each case's exact outcome.
    std::set<std::string> accepted_jobs = {"base", "good"};
    accepted_jobs.insert(extra_jobs_.begin(), extra_jobs_.end());
    for (const HostileCase& h : cases) {
      SCOPED_TRACE(h.id);
      const Row* row = Find(rows, doc_name(h.DocName()));
      switch (h.want) {
        case Want::kAccepted:
          ASSERT_NE(row, nullptr);
          EXPECT_EQ(row->status, "accepted") << row->error;
          break;
        case Want::kRejected:
          ASSERT_NE(row, nullptr);
          EXPECT_EQ(row->status, "rejected");
          EXPECT_TRUE(absl::StrContains(absl::AsciiStrToLower(row->error), absl::AsciiStrToLower(h.reason)))
              << "reason: " << row->error << "\nwant: " << h.reason;
          break;
        case Want::kDropped:
          if (row != nullptr) {
            EXPECT_EQ(row->status, "ignored") << row->error;
          }
          break;
        case Want::kEither:
          break;
      }
      if (row != nullptr && row->status == "accepted" && absl::EndsWith(h.suffix, ".scrape.yml")) {
        for (std::string& job : JobNames(h.data)) accepted_jobs.insert(std::move(job));
      }
    }
    for (const auto& [name, data] : GoodDocs()) {
      EXPECT_EQ(rows[doc_name(name)].status, "accepted") << name << ": " << rows[doc_name(name)].error;
    }

    // prometheus.yml: promtool accepts it; its structure is the base's plus
    // the accepted fragments' jobs, read as YAML 1.2 (yaml-cpp) and as
    // Prometheus reads it (go-yaml v2, via promtool's own acceptance and the
    // Go reader below when available).
    const fs::path prom = out / "prometheus.yml";
    ASSERT_TRUE(fs::exists(prom)) << log();
    const std::string check =
        absl::StrCat("promtool check config ", prom.string(), " > ", (dir_ / "promtool.log").string(), " 2>&1");
    if (system("command -v promtool >/dev/null") == 0) {
      EXPECT_EQ(std::system(check.c_str()), 0) << ReadFileOrEmpty(dir_ / "promtool.log");
    }
    CheckStructure(ReadFileOrEmpty(prom), accepted_jobs);
    for (const auto& e : fs::directory_iterator(out)) {
      const std::string n = e.path().filename().string();
      EXPECT_TRUE(n == "prometheus.yml" || n == "rules" || n == "targets") << n;
    }
    for (const auto& e : fs::directory_iterator(out / "rules")) {
      YAML::Node r;
      try {
        r = YAML::LoadFile(e.path().string());
      } catch (const std::exception& ex) {
        ADD_FAILURE() << e.path() << ": " << ex.what();
        continue;
      }
      ASSERT_TRUE(r.IsMap()) << e.path();
      for (auto it = r.begin(); it != r.end(); ++it) EXPECT_EQ(it->first.Scalar(), "groups") << e.path();
      EXPECT_FALSE(absl::StrContains(ReadFileOrEmpty(e.path()), "&lbl")) << "anchors survive in " << e.path();
    }
    if (fs::exists(out / "targets")) {
      for (const auto& e : fs::directory_iterator(out / "targets")) {
        const std::string t = ReadFileOrEmpty(e.path());
        rapidjson::Document d;
        d.Parse<rapidjson::kParseValidateEncodingFlag>(t.data(), t.size());
        EXPECT_FALSE(d.HasParseError()) << e.path();
        EXPECT_FALSE(absl::StrContains(t, kLS)) << "raw U+2028 in " << e.path();
      }
    }
    // Nothing outside the output folder: the test folder holds what it held,
    // plus out/ and the log; the targets of hostile paths did not appear.
    std::set<std::string> after = ListDir(dir_);
    after.erase("out");
    after.erase("promconf.log");
    after.erase("promtool.log");
    EXPECT_EQ(after, before);
    EXPECT_FALSE(fs::exists("/tmp/n-dotdot.yml"));
    EXPECT_FALSE(fs::exists("/tmp/n-dotdot.rules.yml"));
    EXPECT_FALSE(absl::StrContains(ReadFileOrEmpty(prom), "root:x:0:0")) << "/etc/passwd leaked";

    // Non-fragment documents are counted.
    const std::string metrics = HttpGetBody(url + "/metrics");
    for (const HostileCase& h : cases) {
      if (h.want == Want::kDropped && h.symlink_to.empty() && h.id != "n-hidden") {
        EXPECT_TRUE(absl::StrContains(metrics, "what=\"non_fragment_documents\"")) << h.id;
      }
    }

    long healthy = 0;
    HttpGetBody(url + "/healthz", &healthy);
    EXPECT_EQ(healthy, 200) << log();
    daemon.Signal(SIGTERM);
    EXPECT_EQ(daemon.Wait(absl::Seconds(30)), 0) << log();
  }

  static std::vector<std::string> JobNames(const std::string& fragment) {
    std::vector<std::string> out;
    try {
      const YAML::Node n = YAML::Load(fragment);
      if (n.IsMap()) out.push_back(n["job_name"].as<std::string>());
      if (n.IsSequence()) {
        for (const YAML::Node& sc : n) out.push_back(sc["job_name"].as<std::string>());
      }
    } catch (const std::exception&) {
    }
    return out;
  }

  static const Row* Find(const std::map<std::string, Row>& rows, const std::string& name) {
    for (const std::string& s : NameSpellings(name)) {
      auto it = rows.find(s);
      if (it != rows.end()) return &it->second;
    }
    return nullptr;
  }

  void CheckStructure(const std::string& text, const std::set<std::string>& accepted_jobs) {
    YAML::Node root, base;
    try {
      root = YAML::Load(text);
      base = YAML::Load(base_);
    } catch (const std::exception& e) {
      FAIL() << "prometheus.yml does not parse: " << e.what();
    }
    std::set<std::string> keys;
    for (auto it = root.begin(); it != root.end(); ++it) keys.insert(it->first.Scalar());
    EXPECT_EQ(keys, (std::set<std::string>{"global", "scrape_configs", "rule_files"}));
    EXPECT_EQ(YAML::Dump(root["global"]), YAML::Dump(base["global"]));
    std::set<std::string> jobs;
    for (const YAML::Node& sc : root["scrape_configs"]) {
      const std::string job = sc["job_name"].as<std::string>();
      EXPECT_TRUE(accepted_jobs.count(job)) << "job not of an accepted fragment: " << job;
      EXPECT_TRUE(jobs.insert(job).second) << "job twice: " << job;
    }
    // Read as Prometheus reads it: every line break a YAML 1.1 reader sees
    // must be one yaml-cpp sees too, so the same structure results.
    for (const char* brk : {kLS, kPS, kNEL}) {
      EXPECT_FALSE(absl::StrContains(text, brk)) << "a raw YAML 1.1 line break in prometheus.yml";
    }
  }

  static std::set<std::string> ListDir(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      std::string rel = fs::relative(e.path(), dir).string();
      if (rel.rfind("out", 0) == 0 || rel.rfind("promconf.log", 0) == 0) continue;
      out.insert(rel);
    }
    return out;
  }

  fs::path dir_;
  std::string base_;
  int port_ = 0;
  // Jobs a target source generates (ZooKeeper serversets).
  std::set<std::string> extra_jobs_;
};

TEST_F(HostileCorpusTest, CorpusHasAtLeastSixtyCases) {
  std::vector<HostileCase> c = Corpus();
  EXPECT_GE(c.size(), 60u);
  std::set<std::string> ids;
  for (const HostileCase& h : c) EXPECT_TRUE(ids.insert(h.id).second) << h.id;
}

TEST_F(HostileCorpusTest, FileSource) {
  const fs::path frag = dir_ / "fragments";
  std::vector<HostileCase> cases = CasesFor(kFile);
  for (const HostileCase& h : cases) {
    const fs::path p = frag / "team-h" / h.DocName();
    fs::create_directories(p.parent_path());
    if (!h.symlink_to.empty()) {
      const fs::path target = h.symlink_to[0] == '/' ? fs::path(h.symlink_to) : dir_ / h.symlink_to;
      fs::create_symlink(target, p);
    } else {
      std::ofstream(p, std::ios::binary) << h.data;
    }
  }
  // A symlinked folder pointing outside the watched tree.
  fs::create_directory_symlink(dir_ / "OUTSIDE", frag / "team-h" / "outside-dir");
  for (const auto& [name, data] : GoodDocs()) WriteFileAtomically(frag / "team-good" / name, data);
  RunAndCheck(absl::StrCat("- name: t\n  file:\n    paths: [", frag.string(), "]\n"), cases,
              [](const std::string& n) {
                return absl::StartsWith(n, "zz-good") ? "team-good/" + n : "team-h/" + n;
              });
}

TEST_F(HostileCorpusTest, Etcd) {
  auto etcd = EtcdServer::Start();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  std::vector<HostileCase> cases = CasesFor(kEtcd);
  for (const HostileCase& h : cases) {
    ASSERT_TRUE((*etcd)->Put("/promconf/team-h/" + h.DocName(), h.data).ok()) << h.id;
  }
  for (const auto& [name, data] : GoodDocs()) {
    ASSERT_TRUE((*etcd)->Put("/promconf/team-good/" + name, data).ok());
  }
  RunAndCheck(absl::StrCat("- name: t\n  etcd:\n    endpoints: [", (*etcd)->endpoint(), "]\n    prefix: /promconf/\n"),
              cases, [](const std::string& n) {
                return absl::StartsWith(n, "zz-good") ? "team-good/" + n : "team-h/" + n;
              });
}

TEST_F(HostileCorpusTest, ZooKeeper) {
  auto zk = ZookeeperServer::Start();
  ASSERT_TRUE(zk.ok()) << zk.status();
  std::vector<HostileCase> cases = CasesFor(kZk);
  for (const HostileCase& h : cases) {
    ASSERT_TRUE((*zk)->Put("/promconf/team-h/" + h.DocName(), h.data).ok()) << h.id;
  }
  for (const auto& [name, data] : GoodDocs()) ASSERT_TRUE((*zk)->Put("/promconf/team-good/" + name, data).ok());
  // A serverset whose members are hostile: 1 MB of '[' (a recursive parser
  // overflows its stack), a host with a YAML 1.1 line break, and a good one.
  ASSERT_TRUE((*zk)->Put("/services/api/member_0000000001", Repeat("[", 1000000)).ok());
  ASSERT_TRUE((*zk)->Put("/services/api/member_0000000002",
                         absl::StrCat(R"({"serviceEndpoint":{"host":"a)", kLS,
                                      R"(b","port":80},"additionalEndpoints":{},"status":"ALIVE"})"))
                  .ok());
  ASSERT_TRUE((*zk)->Put("/services/api/member_0000000003",
                         R"({"serviceEndpoint":{"host":"127.0.0.1","port":9},"additionalEndpoints":{},"status":"ALIVE"})")
                  .ok());
  extra_jobs_ = {"zk-api"};
  RunAndCheck(absl::StrCat("- name: t\n  zookeeper:\n    servers: [", (*zk)->address(),
                           "]\n    paths: [/promconf]\n    serversets:\n    - {path: /services/api, job: zk-api}\n"),
              cases, [](const std::string& n) {
                return absl::StartsWith(n, "zz-good") ? "team-good/" + n : "team-h/" + n;
              });
  const std::string targets = ReadFileOrEmpty(dir_ / "out/targets/t-zk-api.json");
  EXPECT_TRUE(absl::StrContains(targets, "127.0.0.1:9")) << targets;
}

TEST_F(HostileCorpusTest, Consul) {
  auto consul = FakeConsulServer::Start({});
  ASSERT_TRUE(consul.ok()) << consul.status();
  std::vector<HostileCase> cases = CasesFor(kConsul);
  for (const HostileCase& h : cases) (*consul)->PutKV("promconf/team-h/" + h.DocName(), h.data);
  for (const auto& [name, data] : GoodDocs()) (*consul)->PutKV("promconf/team-good/" + name, data);
  RunAndCheck(absl::StrCat("- name: t\n  consul:\n    address: ", (*consul)->address(), "\n    kv_prefix: promconf/\n"),
              cases, [](const std::string& n) {
                return absl::StartsWith(n, "zz-good") ? "team-good/" + n : "team-h/" + n;
              });
}

TEST_F(HostileCorpusTest, Kubernetes) {
  auto api = FakeKubeApiServer::Start({});
  ASSERT_TRUE(api.ok()) << api.status();
  const std::string kubeconfig = (dir_ / "kubeconfig").string();
  ASSERT_TRUE((*api)->WriteKubeconfig(kubeconfig).ok());
  const std::map<std::string, std::string> labels = {{"promconf.io/fragment", "true"}};
  std::vector<HostileCase> cases;
  for (HostileCase& h : CasesFor(kKube)) {
    if (!h.name.empty()) continue;  // ConfigMap keys cannot carry hostile names
    // Text in data, anything else in binaryData (as kubectl would put it).
    bool utf8 = NameSpellings(h.data)[0] == NameSpellings(h.data)[1] && h.data.find('\0') == std::string::npos;
    ASSERT_TRUE((utf8 ? (*api)->ApplyConfigMap("team-h", h.id, labels, {{h.DocName(), h.data}})
                      : (*api)->ApplyConfigMap("team-h", h.id, labels, {}, {{h.DocName(), h.data}}))
                    .ok())
        << h.id;
    cases.push_back(std::move(h));
  }
  const auto good_docs = GoodDocs();
  std::map<std::string, std::string> good(good_docs.begin(), good_docs.end());
  ASSERT_TRUE((*api)->ApplyConfigMap("team-good", "good", labels, good).ok());
  std::map<std::string, std::string> cm_of;
  for (const HostileCase& h : cases) cm_of[h.DocName()] = h.id;
  RunAndCheck(absl::StrCat("- name: t\n  kubernetes:\n    kubeconfig: ", kubeconfig, "\n"), cases,
              [&](const std::string& n) {
                return absl::StartsWith(n, "zz-good") ? "team-good/good/" + n
                                                      : absl::StrCat("team-h/", cm_of[n], "/", n);
              });
}

}  // namespace
}  // namespace promconf
