#include "informers/kubernetes/kube_client.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace promconf::kube {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kube_client_test.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = absl::StrCat(path_, "/", name);
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const std::string kCa = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";

std::string Kubeconfig() {
  return absl::StrCat(R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: )",
                      absl::Base64Escape(kCa), R"(
- name: prod-cluster
  cluster:
    server: https://prod.example:443
    certificate-authority: certs/ca.crt
    insecure-skip-tls-verify: true
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: monitoring}
- name: prod
  context: {cluster: prod-cluster, user: prod-user}
- name: broken
  context: {cluster: nowhere, user: dev-user}
- name: plugin
  context: {cluster: dev-cluster, user: exec-user}
users:
- name: dev-user
  user:
    token: dev-token
    client-certificate-data: )",
                      absl::Base64Escape("CERT"), R"(
    client-key-data: )",
                      absl::Base64Escape("KEY"), R"(
- name: prod-user
  user:
    tokenFile: token
    client-certificate: /abs/client.crt
    client-key: client.key
- name: exec-user
  user:
    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1}
)");
}

TEST(Kubeconfig, CurrentContextWithData) {
  auto c = ParseKubeconfig(Kubeconfig(), "/home/u/.kube/config");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->tls.ca_pem, kCa);
  EXPECT_EQ(c->tls.cert_pem, "CERT");
  EXPECT_EQ(c->tls.key_pem, "KEY");
  EXPECT_EQ(c->token, "dev-token");
  EXPECT_TRUE(c->token_file.empty());
  EXPECT_EQ(c->default_namespace, "monitoring");
  EXPECT_FALSE(c->tls.insecure_skip_verify);
}

TEST(Kubeconfig, NamedContextWithFilesResolvesRelativePaths) {
  auto c = ParseKubeconfig(Kubeconfig(), "/home/u/.kube/config", "prod");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://prod.example:443");
  EXPECT_EQ(c->tls.ca_file, "/home/u/.kube/certs/ca.crt");
  EXPECT_TRUE(c->tls.ca_pem.empty());
  EXPECT_EQ(c->tls.cert_file, "/abs/client.crt");
  EXPECT_EQ(c->tls.key_file, "/home/u/.kube/client.key");
  EXPECT_EQ(c->token_file, "/home/u/.kube/token");
  EXPECT_TRUE(c->tls.insecure_skip_verify);
}

TEST(Kubeconfig, ClearErrors) {
  auto missing = ParseKubeconfig(Kubeconfig(), "kc.yaml", "staging");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "kc.yaml")) << missing.status();
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "\"staging\"")) << missing.status();

  auto no_cluster = ParseKubeconfig(Kubeconfig(), "kc.yaml", "broken");
  ASSERT_FALSE(no_cluster.ok());
  EXPECT_TRUE(absl::StrContains(no_cluster.status().message(), "nowhere"));

  auto plugin = ParseKubeconfig(Kubeconfig(), "kc.yaml", "plugin");
  ASSERT_FALSE(plugin.ok());
  EXPECT_TRUE(absl::StrContains(plugin.status().message(), "exec"));

  auto no_current = ParseKubeconfig("clusters: []\n", "kc.yaml");
  ASSERT_FALSE(no_current.ok());
  EXPECT_TRUE(absl::StrContains(no_current.status().message(), "current-context"));

  auto bad_yaml = ParseKubeconfig("a: [\n", "kc.yaml");
  ASSERT_FALSE(bad_yaml.ok());
  EXPECT_TRUE(absl::StrContains(bad_yaml.status().message(), "kc.yaml: line"));

  auto no_file = LoadKubeconfig("/nonexistent/kubeconfig");
  ASSERT_FALSE(no_file.ok());
  EXPECT_TRUE(absl::StrContains(no_file.status().message(), "/nonexistent/kubeconfig"));
}

TEST(InCluster, ReadsServiceAccountAndEnvironment) {
  TempDir dir;
  InClusterPaths paths;
  paths.token_file = dir.Write("token", "tok-1\n");
  paths.ca_file = dir.Write("ca.crt", kCa);
  paths.namespace_file = dir.Write("namespace", "monitoring");
  paths.host = "10.0.0.1";
  paths.port = "443";
  auto c = InClusterConfig(paths);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://10.0.0.1:443");
  EXPECT_EQ(c->tls.ca_pem, kCa);
  EXPECT_EQ(c->token_file, paths.token_file);
  EXPECT_EQ(c->default_namespace, "monitoring");

  paths.host = "fd00::1";
  EXPECT_EQ(InClusterConfig(paths)->server, "https://[fd00::1]:443");

  paths.ca_file = dir.path() + "/missing.crt";
  auto bad = InClusterConfig(paths);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "missing.crt"));
}

TEST(KubeCredentials, RereadsTokenFileAfterInterval) {
  TempDir dir;
  FakeClock clock;
  KubeRestConfig config;
  config.token_file = dir.Write("token", "one\n");
  KubeCredentials creds(config, absl::Minutes(1), &clock);
  EXPECT_EQ(*creds.Token(), "one");
  dir.Write("token", "two");
  EXPECT_EQ(*creds.Token(), "one") << "cached within the interval";
  clock.Advance(absl::Seconds(61));
  EXPECT_EQ(*creds.Token(), "two");
  dir.Write("token", "three");
  creds.Invalidate();
  EXPECT_EQ(*creds.Token(), "three") << "a 401 forces a re-read";
  std::remove(config.token_file.c_str());
  clock.Advance(absl::Minutes(2));
  EXPECT_EQ(*creds.Token(), "three") << "a vanished file keeps the last good token";
}

// One mapping for every writer (leader election, ConfigMap publishing): a
// 409 is a lost race on an update and "already there" on a create.
TEST(HttpStatusError, MapsWriteAnswersToStatuses) {
  auto code = [](long status, bool create) {
    HttpResponse r;
    r.status = status;
    return HttpStatusError(r, "update lease", create).code();
  };
  EXPECT_EQ(code(409, false), absl::StatusCode::kAborted);
  EXPECT_EQ(code(409, true), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(code(401, false), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(code(403, true), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(code(404, false), absl::StatusCode::kNotFound);
  EXPECT_EQ(code(422, false), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(400, true), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(500, false), absl::StatusCode::kUnavailable);
  EXPECT_EQ(code(429, false), absl::StatusCode::kUnavailable);
  HttpResponse r;
  r.status = 403;
  r.body = R"({"kind":"Status","message":"leases is forbidden"})";
  EXPECT_EQ(HttpStatusError(r, "update lease").message(),
            "update lease: HTTP 403: leases is forbidden");
}

}  // namespace
}  // namespace promconf::kube
