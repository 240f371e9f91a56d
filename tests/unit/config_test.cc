#include "controller/config.h"

#include <cstdlib>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;

TEST(ConfigTest, ParsesTheSpecExample) {
  const char* yaml = R"(
output:
  dir: /etc/prometheus/generated
  base_config: /etc/promconf/base.yml
  configmap: {source: cluster, namespace: monitoring, name: prometheus-generated}
validation:
  promtool: always
  prometheus_version: "2.42"
  enforce_namespace_label: namespace
  max_fragment_bytes: 2048
  job_name_prefix: namespace
reload:
  url: http://127.0.0.1:9090/-/reload
  min_interval: 2s
  timeout: 30s
leader_election:
  enabled: true
  source: cluster
  namespace: monitoring
  name: promconf
  lease_duration: 15s
  renew_deadline: 10s
  retry_period: 2s
sources:
  - name: cluster
    kubernetes:
      kubeconfig: ""
      context: ""
      namespaces: [a, b]
      label_selector: promconf.io/fragment=true
      resources: [configmaps, secrets]
  - name: kv
    etcd:
      endpoints: [http://127.0.0.1:2379]
      prefix: /promconf/
      username: root
      password_file: /run/secrets/etcd
      tls: {ca_file: ca.pem, cert_file: c.pem, key_file: k.pem, insecure_skip_verify: false}
  - name: zk
    zookeeper:
      servers: [127.0.0.1:2181]
      session_timeout: 10s
      paths: [/promconf]
      auth_file: /run/secrets/zk
      serversets:
        - {path: /aurora/prod/api, job: api, format: serverset}
  - name: consul
    consul:
      address: http://127.0.0.1:8500
      token_file: ""
      datacenter: ""
      kv_prefix: promconf/
      services:
        - {name: api, job: api, tags: [], passing_only: true}
      tls: {ca_file: consul-ca.pem, insecure_skip_verify: false}
  - name: local
    trusted: true
    file:
      paths: [./fragments]
)";
  absl::StatusOr<Config> c = ParseConfig(yaml, "promconf.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->output.dir, "/etc/prometheus/generated");
  ASSERT_TRUE(c->output.configmap.has_value());
  EXPECT_EQ(c->output.configmap->name, "prometheus-generated");
  EXPECT_EQ(c->validation.promtool, PromtoolMode::kAlways);
  EXPECT_EQ(c->validation.max_fragment_bytes, 2048u);
  EXPECT_EQ(c->validation.job_name_prefix, JobNamePrefix::kNamespace);
  EXPECT_EQ(c->reload.min_interval, absl::Seconds(2));
  EXPECT_TRUE(c->leader_election.enabled);
  ASSERT_EQ(c->sources.size(), 5u);
  EXPECT_STREQ(c->sources[0].type(), "kubernetes");
  const auto& k = std::get<KubernetesSourceConfig>(c->sources[0].backend);
  EXPECT_TRUE(k.configmaps);
  EXPECT_TRUE(k.secrets);
  EXPECT_EQ(k.namespaces.size(), 2u);
  const auto& e = std::get<EtcdSourceConfig>(c->sources[1].backend);
  EXPECT_EQ(e.tls.ca_file, "ca.pem");
  const auto& z = std::get<ZookeeperSourceConfig>(c->sources[2].backend);
  ASSERT_EQ(z.serversets.size(), 1u);
  EXPECT_EQ(z.serversets[0].job, "api");
  EXPECT_EQ(z.auth_file, "/run/secrets/zk");
  EXPECT_STREQ(c->sources[3].type(), "consul");
  EXPECT_EQ(std::get<ConsulSourceConfig>(c->sources[3].backend).tls.ca_file, "consul-ca.pem");
  EXPECT_STREQ(c->sources[4].type(), "file");
  EXPECT_EQ(c->validation.prometheus_version, "2.42");
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(c->sources[i].trusted) << i;  // the default
  EXPECT_TRUE(c->sources[4].trusted);
}

TEST(ConfigTest, ParsesShardsAndTheSidecarsPublishedInput) {
  auto c = ParseConfig(R"(
output:
  configmap: {source: k, namespace: m, name: p}
  shards: 3
sources:
  - name: k
    kubernetes: {label_selector: promconf.io/fragment=true}
)", "promconf.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->output.shards, 3u);
  auto s = ParseConfig(R"(
output:
  from_configmap: {source: k, namespace: m, name: p, shard: 2}
sources:
  - name: k
    kubernetes: {namespaces: [m], label_selector: promconf.io/output=p}
)", "promconf.yml");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->output.from_configmap.has_value());
  EXPECT_EQ(s->output.from_configmap->name, "p");
  EXPECT_EQ(s->output.from_configmap->namespace_, "m");
  EXPECT_EQ(s->output.from_configmap->shard, 2u);
}

TEST(ConfigTest, EmbeddedDefaultParses) {
  absl::StatusOr<Config> c = ParseConfig(kDefaultConfigYaml, "<default>");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->output.dir, "./out");
  ASSERT_EQ(c->sources.size(), 1u);
}

TEST(ConfigTest, ExpandsEnvironment) {
  setenv("PROMCONF_TEST_NS", "team-a", 1);
  absl::StatusOr<Config> c = ParseConfig(
      "sources:\n- name: k\n  kubernetes:\n    namespaces: [\"$(PROMCONF_TEST_NS)\"]\n", "f.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(std::get<KubernetesSourceConfig>(c->sources[0].backend).namespaces[0], "team-a");
}

struct BadCase {
  const char* name;
  const char* yaml;
  const char* want;  // substring of the error, which also names file:line:col
};

class ConfigErrorTest : public testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrorTest, NamesFileLineAndKey) {
  absl::StatusOr<Config> c = ParseConfig(GetParam().yaml, "promconf.yml");
  ASSERT_FALSE(c.ok()) << GetParam().name;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("promconf.yml:"));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(GetParam().want));
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigErrorTest,
    testing::Values(
        BadCase{"unknown_top", "outptu:\n  dir: x\n", "promconf.yml:1:1: outptu: unknown key"},
        BadCase{"unknown_nested", "output:\n  dir: x\n  bogus: 1\n",
                "promconf.yml:3:3: output.bogus: unknown key"},
        BadCase{"wrong_type", "output:\n  dir: [a]\n", "output.dir: expected a string"},
        BadCase{"bad_duration", "reload:\n  url: http://x\n  min_interval: 2 seconds\n",
                "promconf.yml:3:17: reload.min_interval: not a valid duration"},
        BadCase{"zero_timeout", "reload:\n  timeout: 0s\n", "reload.timeout: must be greater"},
        BadCase{"negative_int", "validation:\n  max_fragment_bytes: -5\n",
                "validation.max_fragment_bytes: expected a non-negative integer"},
        BadCase{"dup_source", "sources:\n- name: a\n  file: {paths: [x]}\n- name: a\n  file: {paths: [y]}\n",
                "promconf.yml:4:9: sources[1].name: duplicate source name \"a\""},
        BadCase{"two_backends", "sources:\n- name: a\n  file: {paths: [x]}\n  etcd: {}\n",
                "sources[0]: needs exactly one of"},
        BadCase{"no_backend", "sources:\n- name: a\n", "needs exactly one of"},
        BadCase{"unknown_source_key", "sources:\n- name: a\n  file: {paths: [x], recursive: true}\n",
                "sources[0].file.recursive: unknown key"},
        BadCase{"bad_resource", "sources:\n- name: a\n  kubernetes: {resources: [pods]}\n",
                "unknown resource \"pods\""},
        BadCase{"two_reload_methods", "reload:\n  url: http://x\n  command: [kill]\n",
                "set at most one of url, signal, command"},
        BadCase{"renew_ge_lease",
                "leader_election:\n  lease_duration: 10s\n  renew_deadline: 10s\n",
                "renew_deadline: must be shorter than lease_duration"},
        BadCase{"leader_source_not_kube",
                "leader_election:\n  enabled: true\n  source: local\nsources:\n- name: local\n  file: {paths: [x]}\n",
                "leader_election.source: \"local\" is not the name of a kubernetes source"},
        BadCase{"leader_without_configmap",
                "leader_election:\n  enabled: true\n  source: k\nsources:\n- name: k\n  kubernetes: {}\n",
                "leader_election.enabled: needs output.configmap"},
        BadCase{"shards_without_configmap", "output:\n  shards: 3\n",
                "output.shards: needs output.configmap"},
        BadCase{"zero_shards",
                "output:\n  shards: 0\n  configmap: {source: k, namespace: m, name: p}\n"
                "sources:\n- name: k\n  kubernetes: {label_selector: a=b}\n",
                "output.shards: must be between 1 and 1000"},
        BadCase{"publish_and_copy",
                "output:\n  configmap: {source: k, namespace: m, name: p}\n"
                "  from_configmap: {source: k, name: p}\n"
                "sources:\n- name: k\n  kubernetes: {label_selector: a=b}\n",
                "output.from_configmap: cannot be combined with output.configmap"},
        BadCase{"copy_from_file_source",
                "output:\n  from_configmap: {source: f, name: p}\n"
                "sources:\n- name: f\n  file: {paths: [x]}\n",
                "\"f\" is not a kubernetes source watching configmaps"},
        BadCase{"controller_reads_its_own_output",
                "output:\n  configmap: {source: k, namespace: m, name: p}\n"
                "sources:\n- name: k\n  kubernetes: {label_selector: \"\"}\n",
                "would read the published output back as fragments"},
        BadCase{"dup_key", "output:\n  dir: a\n  dir: b\n", "output.dir: duplicate key"},
        BadCase{"bad_yaml", "output: [\n", "promconf.yml:"},
        BadCase{"missing_env", "output:\n  dir: $(PROMCONF_SURELY_UNSET_VAR)\n",
                "PROMCONF_SURELY_UNSET_VAR"},
        BadCase{"bad_format", "sources:\n- name: z\n  zookeeper:\n    serversets: [{path: /a, job: j, format: xml}]\n",
                "format: must be serverset or nerve"},
        BadCase{"zk_relative_path", "sources:\n- name: z\n  zookeeper: {paths: [promconf]}\n",
                "sources[0].zookeeper.paths: \"promconf\" must start with /"},
        BadCase{"zk_dotdot_path", "sources:\n- name: z\n  zookeeper: {paths: [/a/../b]}\n",
                "has an empty, . or .. element"},
        BadCase{"zk_trailing_slash", "sources:\n- name: z\n  zookeeper:\n    serversets: [{path: /a/, job: j}]\n",
                "serversets[0].path: \"/a/\" must not end with /"},
        BadCase{"zk_dup_job",
                "sources:\n- name: z\n  zookeeper:\n    serversets: [{path: /a, job: j}, {path: /b, job: j}]\n",
                "serversets[1].job: job \"j\" is already used by another serverset"},
        BadCase{"zk_nothing_to_watch", "sources:\n- name: z\n  zookeeper: {servers: [a:1]}\n",
                "sources[0].zookeeper: needs paths or serversets"},
        BadCase{"consul_dup_job",
                "sources:\n- name: c\n  consul:\n    services: [{name: a, job: j}, {name: b, job: j}]\n",
                "services[1].job: job \"j\" is already used by another service"},
        BadCase{"consul_bad_address", "sources:\n- name: c\n  consul: {address: 127.0.0.1:8500}\n",
                "consul.address: must start with http:// or https://"},
        BadCase{"consul_slash_prefix", "sources:\n- name: c\n  consul: {kv_prefix: /promconf/}\n",
                "consul.kv_prefix: must not start with /"},
        BadCase{"consul_nothing", "sources:\n- name: c\n  consul: {kv_prefix: \"\"}\n",
                "sources[0].consul: needs kv_prefix or services"},
        BadCase{"consul_tls_cert_without_key",
                "sources:\n- name: c\n  consul: {tls: {cert_file: c.pem}}\n",
                "sources[0].consul.tls: cert_file and key_file go together"},
        BadCase{"trusted_not_bool", "sources:\n- name: l\n  trusted: maybe\n  file: {paths: [x]}\n",
                "sources[0].trusted: expected true or false"},
        BadCase{"prometheus_version_garbage", "validation:\n  prometheus_version: latest\n",
                "validation.prometheus_version: \"latest\" is not a Prometheus version"},
        BadCase{"prometheus_version_too_old", "validation:\n  prometheus_version: \"2.30\"\n",
                "validation.prometheus_version: Prometheus 2.30 is outside the supported range"},
        BadCase{"username_no_password", "sources:\n- name: e\n  etcd: {username: root}\n",
                "username needs password_file"}),
    [](const testing::TestParamInfo<BadCase>& info) { return info.param.name; });

}  // namespace
}  // namespace promconf
