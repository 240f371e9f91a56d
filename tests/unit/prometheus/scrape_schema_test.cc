#include "reconcile/prometheus/scrape_schema.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "reconcile/prometheus/values.h"
#include "reconcile/yaml_subset.h"

namespace promconf::prom {
namespace {

// ---- scalar grammars ---------------------------------------------------------

TEST(Values, Durations) {
  struct Case {
    const char* text;
    bool ok;
    int64_t nanos;
  };
  const Case cases[] = {
      {"0", true, 0},
      {"30s", true, 30'000'000'000},
      {"1h30m", true, 5'400'000'000'000},
      {"1d2h", true, 93'600'000'000'000},
      {"1w", true, 604'800'000'000'000},
      {"100ms", true, 100'000'000},
      {"0s", true, 0},
      {"292y", true, 292LL * 365 * 24 * 3600 * 1'000'000'000},
      {"300y", false, 0},  // > 2^63-1 ns: "duration out of range"
      {"99999999999999999999s", false, 0},
      {"", false, 0},
      {"30", false, 0},
      {"1.5h", false, 0},
      {"-1s", false, 0},
      {"5m1h", false, 0},  // units from biggest to smallest
      {"1s1s", false, 0},
      {"1us", false, 0},
      {"1 s", false, 0},
      {"s", false, 0},
  };
  for (const Case& c : cases) {
    int64_t n = -1;
    std::string e = CheckDuration(c.text, &n);
    EXPECT_EQ(e.empty(), c.ok) << c.text << ": " << e;
    if (c.ok) {
      EXPECT_EQ(n, c.nanos) << c.text;
    }
  }
  EXPECT_EQ(CheckDuration("300y"), "duration out of range");
}

TEST(Values, Base2Bytes) {
  for (const char* ok : {"0", "10MB", "1KiB", "1KB", "1.5MB", "512B", "2GiB", "1EB", "1MB512KB",
                         "+1MB", ".5MB"}) {
    EXPECT_EQ(CheckBase2Bytes(ok), "") << ok;
  }
  for (const char* bad : {"lots", "100", "", "1kB", "1kb", "1 MB", "MB", "1MiB1MB", "1.MB.",
                          "99999999999EB"}) {
    EXPECT_NE(CheckBase2Bytes(bad), "") << bad;
  }
}

TEST(Values, GoUrls) {
  for (const char* ok : {"http://proxy:3128", "https://user:p@ss@host/p?q#f", "socks5://[::1]:1080",
                         "mailto:x", "/relative/path", "", "http://host:", "proxy.example"}) {
    EXPECT_EQ(CheckGoUrl(ok), "") << ok;
  }
  for (const char* bad : {"http://proxy:port", "://x", "1http:x", "http://[::1", "http://a b/",
                          "http://x/%zz", "1host:3128", "http://x\n", "http://h^t/"}) {
    EXPECT_NE(CheckGoUrl(bad), "") << bad;
  }
}

TEST(Values, Yaml11Scalars) {
  EXPECT_EQ(ParseYaml11Bool("yes"), true);
  EXPECT_EQ(ParseYaml11Bool("Off"), false);
  EXPECT_EQ(ParseYaml11Bool("tRue"), std::nullopt);
  bool neg;
  EXPECT_EQ(ParseYaml11Int("1_000", &neg), 1000u);
  EXPECT_EQ(ParseYaml11Int("0x10", &neg), 16u);
  EXPECT_EQ(ParseYaml11Int("-5", &neg), 5u);
  EXPECT_TRUE(neg);
  EXPECT_EQ(ParseYaml11Int("1e3", &neg), std::nullopt);
  EXPECT_TRUE(IsYaml11Float("1.5"));
  EXPECT_TRUE(IsYaml11Float("1e+3"));
  EXPECT_FALSE(IsYaml11Float("abc"));
}

TEST(Versions, Parse) {
  EXPECT_EQ(ParsePromVersion("").value(), kNewestSupportedVersion);
  EXPECT_EQ(ParsePromVersion("2.42").value(), (PromVersion{2, 42}));
  EXPECT_EQ(ParsePromVersion("v3.1.2").value(), (PromVersion{3, 1}));
  EXPECT_FALSE(ParsePromVersion("2.41").ok());
  EXPECT_FALSE(ParsePromVersion("9.0").ok());
  EXPECT_FALSE(ParsePromVersion("latest").ok());
}

// ---- the schema ---------------------------------------------------------------

struct Verdict {
  bool ok = false;
  FragmentError error;
};

Verdict Check(const std::string& yaml, const ScrapeCheckOptions& options) {
  std::optional<YamlSubsetNode> root = ParseYamlSubset(yaml);
  EXPECT_TRUE(root.has_value()) << "outside the YAML subset:\n" << yaml;
  Verdict v;
  if (!root) return v;
  v.ok = CheckScrapeConfig(*root, options, &v.error).ok();
  return v;
}

ScrapeCheckOptions Opts(const char* version = "", bool trusted = false) {
  ScrapeCheckOptions o;
  o.version = ParsePromVersion(version).value();
  o.trusted = trusted;
  return o;
}

struct SchemaCase {
  const char* name;
  const char* yaml;
  const char* version;  // "" newest
  // nullptr: accepted; else a substring of the reason.
  const char* reason;
  const char* key = nullptr;  // the key path of the error, when checked
};

class SchemaTest : public ::testing::TestWithParam<SchemaCase> {};

TEST_P(SchemaTest, Verdict) {
  const SchemaCase& c = GetParam();
  Verdict v = Check(c.yaml, Opts(c.version));
  if (c.reason == nullptr) {
    EXPECT_TRUE(v.ok) << c.name << ": " << v.error.key << ": " << v.error.reason;
    return;
  }
  ASSERT_FALSE(v.ok) << c.name << " was accepted";
  EXPECT_TRUE(absl::StrContains(v.error.reason, c.reason))
      << c.name << ": got \"" << v.error.reason << "\" want \"" << c.reason << "\"";
  if (c.key != nullptr) {
    EXPECT_EQ(v.error.key, c.key) << c.name;
  }
  EXPECT_GT(v.error.line, 0) << c.name;
}

const SchemaCase kSchemaCases[] = {
    // Issue 9's list.
    {"unknown key in tls_config",
     "job_name: a\ntls_config:\n  insecure_skip_verify: true\n  ca_fiel: x\n", "",
     "unknown key \"ca_fiel\" in tls_config", "tls_config.ca_fiel"},
    {"unknown key in an SD config",
     "job_name: a\nconsul_sd_configs:\n  - server: c:8500\n    servise: [x]\n", "",
     "unknown key \"servise\"", "consul_sd_configs[0].servise"},
    {"relabel regex (", "job_name: a\nrelabel_configs:\n  - source_labels: [a]\n    regex: '('\n",
     "", "invalid regex", "relabel_configs[0].regex"},
    {"target_label 0bad on 2.42",
     "job_name: a\nrelabel_configs:\n  - source_labels: [a]\n    target_label: 0bad\n", "2.42",
     "\"0bad\" is invalid 'target_label' for replace action", "relabel_configs[0].target_label"},
    {"target_label 0bad on 3.x with utf8 names",
     "job_name: a\nrelabel_configs:\n  - source_labels: [a]\n    target_label: 0bad\n", "", nullptr},
    {"target_label 0bad on 3.x with legacy names",
     "job_name: a\nmetric_name_validation_scheme: legacy\nrelabel_configs:\n  - source_labels: [a]\n"
     "    target_label: 0bad\n",
     "", "is invalid 'target_label'"},
    {"scrape_timeout above the interval", "job_name: a\nscrape_interval: 10s\nscrape_timeout: 20s\n",
     "", "scrape timeout greater than scrape interval", "scrape_timeout"},
    {"scrape_timeout above the global interval", "job_name: a\nscrape_timeout: 2m\n", "",
     "scrape timeout greater than scrape interval"},
    {"scrape_interval below the global timeout is fine", "job_name: a\nscrape_interval: 5s\n", "",
     nullptr},
    {"body_size_limit lots", "job_name: a\nbody_size_limit: lots\n", "", "invalid size",
     "body_size_limit"},
    {"body_size_limit 10MB", "job_name: a\nbody_size_limit: 10MB\n", "", nullptr},
    {"body_size_limit plain integer", "job_name: a\nbody_size_limit: 1000\n", "", nullptr},
    {"body_size_limit quoted integer", "job_name: a\nbody_size_limit: '1000'\n", "", "invalid size"},
    {"scrape_interval 300y", "job_name: a\nscrape_interval: 300y\n", "", "duration out of range",
     "scrape_interval"},
    {"bad proxy_url", "job_name: a\nproxy_url: http://proxy:port\n", "", "invalid port",
     "proxy_url"},
    {"proxy_url without scheme", "job_name: a\nproxy_url: '://proxy'\n", "", "missing protocol scheme"},
    {"URL as static target",
     "job_name: a\nstatic_configs:\n  - targets: ['http://host:9100/metrics']\n", "",
     "is not a valid hostname", "static_configs"},
    {"URL as static target fixed by relabeling",
     "job_name: a\nstatic_configs:\n  - targets: ['http://host:9100/metrics']\nrelabel_configs:\n"
     "  - target_label: __address__\n    replacement: host:9100\n",
     "", nullptr},
    {"valid kubernetes_sd_configs",
     "job_name: pods\nkubernetes_sd_configs:\n  - role: pod\n    namespaces:\n      names: [team-a]\n"
     "    selectors:\n      - role: pod\n        label: app=x\nrelabel_configs:\n"
     "  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]\n"
     "    action: keep\n    regex: 'true'\n",
     "", nullptr},
    // Keys and types at depth.
    {"unknown top-level key", "job_name: a\nscrape_intervall: 1m\n", "",
     "unknown key \"scrape_intervall\" in scrape_config"},
    {"unknown key in oauth2.tls_config",
     "job_name: a\noauth2:\n  client_id: c\n  token_url: http://t\n  tls_config:\n    foo: 1\n", "",
     "unknown key", "oauth2.tls_config.foo"},
    {"unknown key in relabel config", "job_name: a\nrelabel_configs:\n  - action: keep\n    regx: a\n",
     "", "unknown key \"regx\"", "relabel_configs[0].regx"},
    {"unknown key in kubernetes attach_metadata",
     "job_name: a\nkubernetes_sd_configs:\n  - role: pod\n    attach_metadata:\n      nodes: true\n",
     "", "unknown key \"nodes\""},
    {"bool as quoted string", "job_name: a\nhonor_labels: 'true'\n", "", "expected true or false"},
    {"YAML 1.1 bool", "job_name: a\nhonor_labels: yes\n", "", nullptr},
    {"negative limit", "job_name: a\nsample_limit: -1\n", "", "non-negative integer"},
    {"params as scalar", "job_name: a\nparams:\n  module: http_2xx\n", "", "expected a list"},
    {"params", "job_name: a\nparams:\n  module: [http_2xx]\n", "", nullptr},
    {"missing job_name", "scrape_interval: 1m\n", "", "job_name is empty"},
    {"not a mapping", "- job_name: a\n", "", "expected a mapping"},
    // HTTP client config exclusions.
    {"basic_auth and bearer_token", "job_name: a\nbasic_auth:\n  username: u\nbearer_token: t\n", "",
     "at most one of basic_auth, oauth2, bearer_token"},
    {"authorization and basic_auth",
     "job_name: a\nbasic_auth:\n  username: u\nauthorization:\n  credentials: c\n", "",
     "at most one of basic_auth, oauth2 & authorization"},
    {"authorization type basic", "job_name: a\nauthorization:\n  type: Basic\n  credentials: x\n", "",
     "authorization type cannot be set to \"basic\""},
    {"oauth2 without token_url", "job_name: a\noauth2:\n  client_id: c\n", "",
     "oauth2 token_url must be configured"},
    {"oauth2 with secret", "job_name: a\noauth2:\n  client_id: c\n  client_secret: s\n"
     "  token_url: https://t/token\n  scopes: [a]\n  endpoint_params:\n    aud: x\n", "", nullptr},
    {"tls cert without key", "job_name: a\ntls_config:\n  cert: abc\n", "",
     "exactly one of key or key_file"},
    {"tls min_version", "job_name: a\ntls_config:\n  min_version: TLS12\n  max_version: TLS13\n", "",
     nullptr},
    {"tls bad min_version", "job_name: a\ntls_config:\n  min_version: TLS14\n", "",
     "unknown min_version \"TLS14\""},
    {"no_proxy without proxy_url", "job_name: a\nno_proxy: localhost\n", "",
     "if no_proxy is configured, proxy_url must also be configured"},
    {"proxy_from_environment and proxy_url",
     "job_name: a\nproxy_from_environment: true\nproxy_url: http://p:3128\n", "",
     "if proxy_from_environment is configured, proxy_url must not be configured"},
    {"proxy_connect_header alone", "job_name: a\nproxy_connect_header:\n  X-A: [b]\n", "",
     "if proxy_connect_header is configured"},
    {"reserved http header", "job_name: a\nhttp_headers:\n  Authorization:\n    values: [x]\n", "",
     "setting header \"Authorization\" is not allowed"},
    {"http header", "job_name: a\nhttp_headers:\n  X-Team:\n    values: [x]\n", "", nullptr},
    {"secret refs", "job_name: a\nauthorization:\n  credentials_ref: vault-x\n", "",
     "secret manager"},
    // Relabel rules per action.
    {"hashmod without modulus",
     "job_name: a\nrelabel_configs:\n  - action: hashmod\n    target_label: t\n", "",
     "requires non-zero modulus"},
    {"hashmod", "job_name: a\nrelabel_configs:\n  - action: HashMod\n    source_labels: [a]\n"
     "    modulus: 4\n    target_label: __tmp_hash\n", "", nullptr},
    {"replace without target", "job_name: a\nrelabel_configs:\n  - source_labels: [a]\n", "",
     "requires 'target_label' value"},
    {"lowercase with replacement",
     "job_name: a\nrelabel_configs:\n  - action: lowercase\n    source_labels: [a]\n"
     "    target_label: b\n    replacement: x\n",
     "", "'replacement' can not be set for lowercase action"},
    {"keepequal with regex",
     "job_name: a\nrelabel_configs:\n  - action: keepequal\n    source_labels: [a]\n"
     "    target_label: b\n    regex: (.*)\n",
     "", "keepequal action requires only 'source_labels' and `target_label`"},
    {"labeldrop with source_labels",
     "job_name: a\nmetric_relabel_configs:\n  - action: labeldrop\n    source_labels: [a]\n"
     "    regex: tmp_.*\n",
     "", "labeldrop action requires only 'regex'"},
    {"labelmap bad replacement on 2.42",
     "job_name: a\nrelabel_configs:\n  - action: labelmap\n    regex: (.*)\n    replacement: 1$1\n",
     "2.42", "is invalid 'replacement' for labelmap action"},
    {"labelmap", "job_name: a\nrelabel_configs:\n  - action: labelmap\n    regex: __meta_(.+)\n", "",
     nullptr},
    {"unknown action", "job_name: a\nrelabel_configs:\n  - action: rename\n", "",
     "unknown action \"rename\""},
    {"source label invalid on 2.42",
     "job_name: a\nrelabel_configs:\n  - source_labels: [a-b]\n    action: keep\n", "2.42",
     "\"a-b\" is not a valid label name"},
    {"null relabel rule", "job_name: a\nrelabel_configs:\n  -\n", "",
     "empty or null target relabeling rule"},
    {"regex with (?i) and classes",
     "job_name: a\nmetric_relabel_configs:\n  - source_labels: [__name__]\n    regex: '(?i)go_\\d+|[[:alpha:]]+'\n"
     "    action: drop\n",
     "", nullptr},
    {"regex with backreference", "job_name: a\nrelabel_configs:\n  - regex: '(a)\\1'\n    action: keep\n",
     "", "invalid regex"},
    // Service discoveries' own rules.
    {"kubernetes without role", "job_name: a\nkubernetes_sd_configs:\n  - namespaces:\n      names: [x]\n",
     "", "role missing", "kubernetes_sd_configs[0].role"},
    {"kubernetes bad role", "job_name: a\nkubernetes_sd_configs:\n  - role: pods\n", "",
     "unknown role \"pods\""},
    {"kubernetes http config without api_server",
     "job_name: a\nkubernetes_sd_configs:\n  - role: pod\n    bearer_token: x\n", "",
     "please provide the 'api_server' URL"},
    {"kubernetes selector role mismatch",
     "job_name: a\nkubernetes_sd_configs:\n  - role: node\n    selectors:\n      - role: pod\n", "",
     "node role supports only node selectors"},
    {"dns A without port", "job_name: a\ndns_sd_configs:\n  - names: [x.example]\n    type: A\n", "",
     "a port is required"},
    {"dns NS on 2.42", "job_name: a\ndns_sd_configs:\n  - names: [x.example]\n    type: NS\n    port: 9\n",
     "2.42", "invalid DNS-SD records type NS"},
    {"dns without names", "job_name: a\ndns_sd_configs:\n  - type: SRV\n", "",
     "at least one SRV record name"},
    {"http sd ftp", "job_name: a\nhttp_sd_configs:\n  - url: ftp://x/\n", "",
     "URL scheme must be 'http' or 'https'"},
    {"ec2 empty filter values",
     "job_name: a\nec2_sd_configs:\n  - region: eu-west-1\n    filters:\n      - name: tag:a\n", "",
     "filter values cannot be empty"},
    {"serverset path", "job_name: a\nserverset_sd_configs:\n  - servers: [zk:2181]\n    paths: [a]\n",
     "", "paths must begin with '/'"},
    {"file_sd bad pattern", "job_name: a\nfile_sd_configs:\n  - files: [targets/*.txt]\n", "",
     "is not valid for file discovery"},
    {"file_sd inside targets", "job_name: a\nfile_sd_configs:\n  - files: [targets/team-*.json]\n"
     "    refresh_interval: 1m\n", "", nullptr},
    {"triton zero refresh",
     "job_name: a\ntriton_sd_configs:\n  - account: a\n    dns_suffix: d\n    endpoint: e\n"
     "    refresh_interval: 0\n",
     "", "positive integer"},
    {"azure defaults to OAuth", "job_name: a\nazure_sd_configs:\n  - subscription_id: s\n", "",
     "requires a tenant_id"},
    {"docker unix socket from untrusted",
     "job_name: a\ndocker_sd_configs:\n  - host: unix:///var/run/docker.sock\n", "",
     "socket on the Prometheus host"},
    // Version gating.
    {"enable_compression on 2.42", "job_name: a\nenable_compression: false\n", "2.42",
     "`enable_compression` needs Prometheus 2.49 or newer (validating for 2.42)",
     "enable_compression"},
    {"enable_compression on 2.49", "job_name: a\nenable_compression: false\n", "2.49", nullptr},
    {"scrape_classic_histograms removed in 3.0", "job_name: a\nscrape_classic_histograms: true\n",
     "3.0", "was removed in Prometheus 3.0"},
    {"scrape_classic_histograms on 2.45", "job_name: a\nscrape_classic_histograms: true\n", "2.45",
     nullptr},
    {"no_proxy on 2.42", "job_name: a\nproxy_url: http://p:1\nno_proxy: x\n", "2.42",
     "`no_proxy` needs Prometheus 2.43"},
    {"stackit sd on 3.4", "job_name: a\nstackit_sd_configs:\n  - project: p\n    region: r\n", "3.4",
     "`stackit_sd_configs` needs Prometheus 3.5"},
    {"PrometheusText1.0.0 on 2.55",
     "job_name: a\nscrape_protocols: [PrometheusText1.0.0]\n", "2.55",
     "needs Prometheus 3.0 or newer"},
    {"scrape_protocols duplicate",
     "job_name: a\nscrape_protocols: [PrometheusProto, prometheusproto]\n", "",
     "unknown"},  // case-sensitive values: the second is unknown
    {"escaping needs utf8",
     "job_name: a\nmetric_name_validation_scheme: legacy\nmetric_name_escaping_scheme: allow-utf-8\n",
     "", "validation scheme is not set to UTF8"},
};

INSTANTIATE_TEST_SUITE_P(Cases, SchemaTest, ::testing::ValuesIn(kSchemaCases),
                         [](const ::testing::TestParamInfo<SchemaCase>& info) {
                           std::string n;
                           for (char c : std::string(info.param.name)) {
                             n.push_back(absl::ascii_isalnum(c) ? c : '_');
                           }
                           return absl::StrCat(info.index, "_", n);
                         });

TEST(Schema, KeyPrefixAndLine) {
  std::optional<YamlSubsetNode> root =
      ParseYamlSubset("job_name: a\nstatic_configs:\n  - targets: [a:1]\n    labels:\n      0x: y\n");
  ASSERT_TRUE(root);
  FragmentError e;
  absl::Status s = CheckScrapeConfig(*root, Opts("2.42"), &e, "[3]");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(e.key, "[3].static_configs[0].labels.0x");
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(std::string(s.message()), e.reason);
}

// ---- every service discovery -----------------------------------------------------

// A minimal config each SD accepts from an untrusted source.
const std::map<std::string, std::string>& MinimalSd() {
  static const auto* m = new std::map<std::string, std::string>{
      {"aws_sd_configs", "role: ec2\n    region: eu-west-1"},
      {"azure_sd_configs", "subscription_id: s\n    tenant_id: t\n    client_id: c\n    client_secret: x"},
      {"consul_sd_configs", "server: consul:8500\n    services: [api]"},
      {"digitalocean_sd_configs", "port: 9100"},
      {"dns_sd_configs", "names: [_prometheus._tcp.example.org]"},
      {"docker_sd_configs", "host: tcp://docker:2375"},
      {"dockerswarm_sd_configs", "host: tcp://docker:2375\n    role: nodes"},
      {"ec2_sd_configs", "region: eu-west-1\n    filters:\n      - name: tag:team\n        values: [a]"},
      {"ecs_sd_configs", "region: eu-west-1\n    clusters: [c]"},
      {"elasticache_sd_configs", "region: eu-west-1"},
      {"eureka_sd_configs", "server: http://eureka:8761/eureka"},
      {"file_sd_configs", "files: [targets/a.json]"},
      {"gce_sd_configs", "project: p\n    zone: europe-west1-b"},
      {"hetzner_sd_configs", "role: hcloud\n    authorization:\n      credentials: x"},
      {"http_sd_configs", "url: https://sd.example/targets"},
      {"ionos_sd_configs", "datacenter_id: d"},
      {"kubernetes_sd_configs", "role: endpoints\n    api_server: https://k8s:6443"},
      {"kuma_sd_configs", "server: http://kuma:5676"},
      {"lightsail_sd_configs", "region: eu-west-1"},
      {"linode_sd_configs", "tag_separator: ','"},
      {"marathon_sd_configs", "servers: [http://marathon:8080]\n    auth_token: t"},
      {"msk_sd_configs", "region: eu-west-1"},
      {"nerve_sd_configs", "servers: [zk:2181]\n    paths: [/nerve]"},
      {"nomad_sd_configs", "server: http://nomad:4646"},
      {"oci_sd_configs", "auth: instance_principal\n    region: eu-frankfurt-1"},
      {"openstack_sd_configs", "role: instance\n    region: r"},
      {"outscale_sd_configs", "region: eu-west-2\n    access_key: a\n    secret_key: s"},
      {"ovhcloud_sd_configs", "application_key: a\n    application_secret: b\n    consumer_key: c\n    service: vps"},
      {"puppetdb_sd_configs", "url: https://puppetdb:8081\n    query: 'resources { type = \"Class\" }'"},
      {"rds_sd_configs", "region: eu-west-1"},
      {"scaleway_sd_configs", "role: instance\n    project_id: p\n    access_key: a\n    secret_key: s"},
      {"serverset_sd_configs", "servers: [zk:2181]\n    paths: [/aurora]"},
      {"stackit_sd_configs", "project: p\n    region: eu01"},
      {"triton_sd_configs", "account: a\n    dns_suffix: d\n    endpoint: e"},
      {"uyuni_sd_configs", "server: https://uyuni\n    username: u\n    password: p"},
      {"vultr_sd_configs", "port: 9100"},
  };
  return *m;
}

std::string SdScrape(const std::string& key, const std::string& body) {
  return absl::StrCat("job_name: sd\n", key, ":\n  - ", body, "\n");
}

TEST(ServiceDiscovery, EveryOneHasAMinimalValidConfig) {
  for (const auto& [key, since] : ServiceDiscoveryKeys()) {
    auto it = MinimalSd().find(key);
    ASSERT_NE(it, MinimalSd().end()) << key << " has no test config";
    Verdict v = Check(SdScrape(key, it->second), Opts());
    EXPECT_TRUE(v.ok) << key << ": " << v.error.key << ": " << v.error.reason;
    // Older than its release: rejected naming the version.
    if (kOldestSupportedVersion < since) {
      ScrapeCheckOptions old = Opts();
      old.version = PromVersion{since.major, since.minor - 1};
      if (since.minor == 0) old.version = PromVersion{2, 55};
      Verdict o = Check(SdScrape(key, it->second), old);
      EXPECT_FALSE(o.ok) << key;
      EXPECT_TRUE(absl::StrContains(o.error.reason, absl::StrCat("needs Prometheus ", since.ToString())))
          << key << ": " << o.error.reason;
    }
    // An unknown key inside it is rejected with its path.
    Verdict u = Check(SdScrape(key, it->second + "\n    no_such_field: 1"), Opts());
    EXPECT_FALSE(u.ok) << key;
    EXPECT_EQ(u.error.key, absl::StrCat(key, "[0].no_such_field")) << key;
  }
  EXPECT_TRUE(IsServiceDiscoveryKey("kubernetes_sd_configs"));
  EXPECT_FALSE(IsServiceDiscoveryKey("static_configs"));
}

// ---- trusted and untrusted sources ---------------------------------------------

// One scrape config per FILE field of the schema, naming a host file there.
// Fields of SD configs that inline the HTTP client config are generated.
std::map<std::string, std::string> FileCases() {
  std::map<std::string, std::string> m = {
      {"scrape_config.bearer_token_file", "job_name: a\nbearer_token_file: /etc/shadow\n"},
      {"scrape_config.scrape_failure_log_file", "job_name: a\nscrape_failure_log_file: /etc/passwd\n"},
      {"authorization.credentials_file",
       "job_name: a\nauthorization:\n  credentials_file: /var/run/secrets/kubernetes.io/serviceaccount/token\n"},
      {"basic_auth.password_file", "job_name: a\nbasic_auth:\n  username: u\n  password_file: /etc/shadow\n"},
      {"basic_auth.username_file", "job_name: a\nbasic_auth:\n  username_file: /etc/hostname\n"},
      {"oauth2.client_secret_file",
       "job_name: a\noauth2:\n  client_id: c\n  token_url: https://t\n  client_secret_file: /etc/shadow\n"},
      {"oauth2.client_certificate_key_file",
       "job_name: a\noauth2:\n  client_id: c\n  token_url: https://t\n"
       "  grant_type: urn:ietf:params:oauth:grant-type:jwt-bearer\n  client_certificate_key_file: /k\n"},
      {"tls_config.ca_file", "job_name: a\ntls_config:\n  ca_file: /etc/ssl/private/ca.pem\n"},
      {"tls_config.cert_file", "job_name: a\ntls_config:\n  cert_file: /c.pem\n  key: k\n"},
      {"tls_config.key_file", "job_name: a\ntls_config:\n  cert: c\n  key_file: /etc/ssl/private/k.pem\n"},
      {"http_headers.<name>.files", "job_name: a\nhttp_headers:\n  X-Token:\n    files: [/etc/shadow]\n"},
      {"kubernetes_sd_config.kubeconfig_file",
       "job_name: a\nkubernetes_sd_configs:\n  - role: pod\n    kubeconfig_file: /root/.kube/config\n"},
      {"marathon_sd_config.auth_token_file",
       "job_name: a\nmarathon_sd_configs:\n  - servers: [http://m:8080]\n    auth_token_file: /t\n"},
      {"scaleway_sd_config.secret_key_file",
       "job_name: a\nscaleway_sd_configs:\n  - role: instance\n    project_id: p\n    access_key: a\n"
       "    secret_key_file: /s\n"},
      {"outscale_sd_config.secret_key_file",
       "job_name: a\noutscale_sd_configs:\n  - region: r\n    access_key: a\n    secret_key_file: /s\n"},
      {"oci_sd_config.key_file",
       "job_name: a\noci_sd_configs:\n  - region: r\n    tenancy: t\n    user: u\n    fingerprint: f\n"
       "    key_file: /k\n"},
      {"oci_sd_config.key_passphrase_file",
       "job_name: a\noci_sd_configs:\n  - region: r\n    tenancy: t\n    user: u\n    fingerprint: f\n"
       "    key_passphrase_file: /p\n    key_file: /k\n"},
      {"stackit_sd_config.service_account_key_path",
       "job_name: a\nstackit_sd_configs:\n  - region: r\n    service_account_key_path: /k\n"},
      {"stackit_sd_config.private_key_path",
       "job_name: a\nstackit_sd_configs:\n  - region: r\n    private_key_path: /k\n"},
      {"stackit_sd_config.credentials_file_path",
       "job_name: a\nstackit_sd_configs:\n  - region: r\n    credentials_file_path: /k\n"},
  };
  for (const auto& [key, since] : ServiceDiscoveryKeys()) {
    auto it = MinimalSd().find(key);
    if (it == MinimalSd().end()) continue;
    std::string type = absl::StrCat(key.substr(0, key.size() - 1));  // "..._sd_config"
    m[absl::StrCat(type, ".bearer_token_file")] =
        SdScrape(key, it->second + "\n    bearer_token_file: /etc/shadow");
  }
  // Auth fields that exclude bearer tokens.
  m["marathon_sd_config.bearer_token_file"] =
      SdScrape("marathon_sd_configs", "servers: [http://m:8080]\n    bearer_token_file: /etc/shadow");
  m["hetzner_sd_config.bearer_token_file"] =
      SdScrape("hetzner_sd_configs", "role: robot\n    bearer_token_file: /etc/shadow");
  return m;
}

TEST(TrustedSources, EveryFileFieldIsRefusedFromUntrustedAndAcceptedFromTrusted) {
  const std::map<std::string, std::string> cases = FileCases();
  const std::vector<std::string> fields = FileFieldPaths();
  EXPECT_GT(fields.size(), 40u);
  for (const std::string& field : fields) {
    auto it = cases.find(field);
    ASSERT_NE(it, cases.end()) << "FILE field " << field << " has no test case";
    const std::string name = field.substr(field.rfind('.') + 1);
    Verdict untrusted = Check(it->second, Opts("", false));
    ASSERT_FALSE(untrusted.ok) << field;
    EXPECT_TRUE(absl::StrContains(untrusted.error.reason, absl::StrCat("`", name, "`")))
        << field << ": " << untrusted.error.reason;
    EXPECT_TRUE(absl::StrContains(untrusted.error.reason, "file on the Prometheus host"))
        << field << ": " << untrusted.error.reason;
    Verdict trusted = Check(it->second, Opts("", true));
    EXPECT_TRUE(trusted.ok) << field << ": " << trusted.error.key << ": " << trusted.error.reason;
  }
}

TEST(TrustedSources, FileSdPaths) {
  struct Case {
    const char* pattern;
    bool untrusted_ok;
  };
  const Case cases[] = {
      {"targets/a.json", true},       {"targets/team-*.yml", true},
      {"targets/sub/x.yaml", true},   {"/etc/prometheus/targets/a.json", false},
      {"targets/../a.json", false},   {"../targets/a.json", false},
      {"./targets/a.json", false},    {"other/a.json", false},
      {"targets.json", false},        {"targets//a.json", false},
      {"/var/lib/kubelet/a.json", false},
  };
  for (const Case& c : cases) {
    const std::string yaml =
        absl::StrCat("job_name: a\nfile_sd_configs:\n  - files: ['", c.pattern, "']\n");
    Verdict u = Check(yaml, Opts("", false));
    EXPECT_EQ(u.ok, c.untrusted_ok) << c.pattern << ": " << u.error.reason;
    if (!u.ok) {
      EXPECT_TRUE(absl::StrContains(u.error.reason, "outside promconf's own targets/"));
    }
    EXPECT_TRUE(Check(yaml, Opts("", true)).ok) << c.pattern;
  }
}

TEST(TrustedSources, TrustedStillChecksExclusions) {
  Verdict v = Check("job_name: a\nbasic_auth:\n  username: u\n  password: p\n  password_file: /f\n",
                    Opts("", true));
  EXPECT_FALSE(v.ok);
  EXPECT_TRUE(absl::StrContains(v.error.reason, "at most one of basic_auth password")) << v.error.reason;
}

TEST(TrustedSources, DockerSocketOnlyFromTrusted) {
  const std::string yaml = "job_name: a\ndocker_sd_configs:\n  - host: unix:///var/run/docker.sock\n";
  EXPECT_FALSE(Check(yaml, Opts("", false)).ok);
  EXPECT_TRUE(Check(yaml, Opts("", true)).ok);
}

// ---- linear work --------------------------------------------------------------

TEST(Schema, LargeInputsStayLinear) {
  // 20,000 static targets and 2,000 relabel rules: one pass, no per-node path strings.
  std::string yaml = "job_name: big\nstatic_configs:\n  - targets:\n";
  for (int i = 0; i < 20000; ++i) absl::StrAppend(&yaml, "      - host", i, ":9100\n");
  yaml += "relabel_configs:\n";
  for (int i = 0; i < 2000; ++i) {
    absl::StrAppend(&yaml, "  - source_labels: [a]\n    regex: 'x", i, "|y'\n    target_label: t", i, "\n");
  }
  EXPECT_TRUE(Check(yaml, Opts()).ok);
}

}  // namespace
}  // namespace promconf::prom
