// The real kubectl against the fake Kubernetes API server: TLS verified with
// the fake's CA, bearer token, a fresh HOME and kubeconfig per test. Proves
// the fake is faithful enough for a real client (discovery, OpenAPI v3 field
// validation, client-side apply with strategic merge patch, list/watch).
// Skipped when /usr/bin/kubectl is absent. Every child is killed at test end.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/kube_apiserver.h"

extern char** environ;

namespace promconf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKubectl[] = "/usr/bin/kubectl";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
}

struct Result {
  int code = -1;
  std::string out, err;
};

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kKubectl, X_OK) != 0) GTEST_SKIP() << "no " << kKubectl;
    char tmpl[] = "/tmp/promconf-kubectl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    home_ = tmpl;
    auto s = FakeKubeApiServer::Start(FakeKubeApiServer::Options{});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(s).value();
    kubeconfig_ = home_ + "/kubeconfig";
    ASSERT_TRUE(server_->WriteKubeconfig(kubeconfig_).ok());
  }
  void TearDown() override {
    children_.clear();  // kills any still running
    if (!home_.empty()) {
      std::string cmd = "rm -rf '" + home_ + "'";
      (void)std::system(cmd.c_str());
    }
  }

  std::vector<std::string> Env() const {
    const char* path = std::getenv("PATH");
    return {"HOME=" + home_, "KUBECONFIG=" + kubeconfig_,
            std::string("PATH=") + (path ? path : "/usr/bin:/bin"), "LANG=C.UTF-8",
            "KUBECTL_EXTERNAL_DIFF=", "CLOUDSDK_CONFIG=" + home_ + "/gcloud"};
  }

  ChildProcess* Spawn(std::vector<std::string> args) {
    args.insert(args.begin(), kKubectl);
    int n = static_cast<int>(children_.size());
    children_.push_back(std::make_unique<ChildProcess>(args, absl::StrCat(home_, "/out", n),
                                                       absl::StrCat(home_, "/err", n), Env()));
    return children_.back().get();
  }

  Result Kubectl(std::vector<std::string> args) {
    args.push_back("--request-timeout=20s");
    ChildProcess* c = Spawn(args);
    Result r;
    r.code = c->Wait(absl::Seconds(60));
    r.out = c->out();
    r.err = c->err();
    return r;
  }

  std::string home_, kubeconfig_;
  std::unique_ptr<FakeKubeApiServer> server_;
  std::vector<std::unique_ptr<ChildProcess>> children_;
};

std::string CmYaml(const std::string& data_lines) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rules\n  namespace: ns1\n"
         "  labels:\n    promconf.io/fragment: \"true\"\ndata:\n" +
         data_lines;
}

TEST_F(KubectlTest, CreateApplyGetDelete) {
  Result r = Kubectl({"create", "configmap", "plain", "-n", "ns1", "--from-literal=a=1"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("configmap/plain created"));
  auto plain = server_->GetObjectJson("configmaps", "ns1", "plain");
  ASSERT_TRUE(plain.ok());
  EXPECT_THAT(*plain, HasSubstr(R"("a":"1")"));

  // Plain `kubectl apply -f` (validation on: the fake's OpenAPI v3 says PATCH
  // takes fieldValidation, so kubectl leaves validation to the server).
  std::string file = home_ + "/cm.yaml";
  WriteFile(file, CmYaml("  rules.yaml: |\n    groups: []\n  old: \"x\"\n"));
  r = Kubectl({"apply", "-f", file});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("configmap/rules created"));
  WriteFile(file, CmYaml("  rules.yaml: |\n    groups: [{name: g, rules: []}]\n  new: \"y\"\n"));
  r = Kubectl({"apply", "-f", file});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("configmap/rules configured"));
  bool patched = false;
  for (const auto& line : server_->RequestLog()) {
    patched |= line.rfind("PATCH /api/v1/namespaces/ns1/configmaps/rules", 0) == 0;
  }
  EXPECT_TRUE(patched);

  r = Kubectl({"get", "configmap", "rules", "-n", "ns1", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  rapidjson::Document d;
  d.Parse(r.out.c_str());
  ASSERT_FALSE(d.HasParseError()) << r.out;
  ASSERT_TRUE(d.HasMember("data"));
  EXPECT_STREQ(d["data"]["rules.yaml"].GetString(), "groups: [{name: g, rules: []}]\n");
  EXPECT_STREQ(d["data"]["new"].GetString(), "y");
  EXPECT_FALSE(d["data"].HasMember("old"));  // removed by the apply patch
  EXPECT_TRUE(d["metadata"]["annotations"].HasMember(
      "kubectl.kubernetes.io/last-applied-configuration"));

  r = Kubectl({"get", "configmaps", "-n", "ns1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("plain"));
  EXPECT_THAT(r.out, HasSubstr("rules"));

  ASSERT_TRUE(server_->ApplyConfigMap("ns2", "frag2", {{"promconf.io/fragment", "true"}},
                                      {{"k", "v"}})
                  .ok());
  r = Kubectl({"get", "configmaps", "-A", "-l", "promconf.io/fragment=true"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("rules"));
  EXPECT_THAT(r.out, HasSubstr("frag2"));
  EXPECT_THAT(r.out, Not(HasSubstr("plain")));

  r = Kubectl({"delete", "configmap", "plain", "-n", "ns1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"plain\" deleted"));
  EXPECT_FALSE(server_->GetObjectJson("configmaps", "ns1", "plain").ok());

  r = Kubectl({"get", "configmap", "plain", "-n", "ns1"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("NotFound"));
}

// The Lease promconf's leader election writes is readable with kubectl, and
// kubectl's own writes to it go through resourceVersion checks.
TEST_F(KubectlTest, LeasesAreServed) {
  std::string file = home_ + "/lease.yaml";
  WriteFile(file,
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: promconf\n"
            "  namespace: monitoring\nspec:\n  holderIdentity: pod-a_1234\n"
            "  leaseDurationSeconds: 15\n  leaseTransitions: 2\n");
  Result r = Kubectl({"apply", "-f", file});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("lease.coordination.k8s.io/promconf created"));
  r = Kubectl({"get", "lease", "-n", "monitoring"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("promconf"));
  r = Kubectl({"get", "lease", "promconf", "-n", "monitoring", "-o",
               "jsonpath={.spec.holderIdentity}/{.spec.leaseTransitions}"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "pod-a_1234/2");
  auto log = server_->WriteLog();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().resource, "leases");
  EXPECT_EQ(log.back().lease_holder, "pod-a_1234");
  EXPECT_THAT(log.back().who, HasSubstr("kubectl"));
  r = Kubectl({"delete", "lease", "promconf", "-n", "monitoring"});
  ASSERT_EQ(r.code, 0) << r.err;
  r = Kubectl({"get", "lease", "promconf", "-n", "monitoring"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("NotFound"));
}

TEST_F(KubectlTest, WatchSeesChangesMadeThroughTheApi) {
  ASSERT_TRUE(server_->ApplyConfigMap("ns1", "first", {}, {{"k", "v"}}).ok());
  // Bounded even if the test fails to kill it: the watch ends at 60 s.
  ChildProcess* watch = Spawn({"get", "configmaps", "-n", "ns1", "--watch", "--request-timeout=60s"});
  ASSERT_TRUE(watch->started());
  auto wait_for = [&](const std::string& needle) {
    for (int i = 0; i < 300; ++i) {
      if (watch->out().find(needle) != std::string::npos) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  };
  ASSERT_TRUE(wait_for("first")) << watch->out() << watch->err();
  // kubectl has listed; make sure its watch request is in before changing.
  bool watching = false;
  for (int i = 0; i < 300 && !watching; ++i) {
    for (const auto& line : server_->RequestLog()) {
      watching |= line.find("watch=true") != std::string::npos;
    }
    if (!watching) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(watching);
  ASSERT_TRUE(server_->ApplyConfigMap("ns1", "second", {}, {{"k", "v"}}).ok());
  EXPECT_TRUE(wait_for("second")) << watch->out() << watch->err();
  watch->Kill();
}

TEST_F(KubectlTest, WrongTokenIsRefused) {
  server_->SetToken("rotated");
  Result r = Kubectl({"get", "configmaps", "-n", "ns1"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("provide credentials"));  // 401
  ASSERT_TRUE(server_->WriteKubeconfig(kubeconfig_).ok());
  r = Kubectl({"get", "configmaps", "-n", "ns1"});
  EXPECT_EQ(r.code, 0) << r.err;
}

}  // namespace
}  // namespace promconf
