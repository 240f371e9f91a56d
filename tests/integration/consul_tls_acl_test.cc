// The Consul source's `tls:` settings (the same block as etcd's) against the
// fake Consul serving HTTPS, and its guard against answers an ACL filtered
// (X-Consul-Results-Filtered-By-ACLs: true): a filtered list, empty or not,
// never deletes the documents it no longer shows.

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informers/consul/consul_source.h"
#include "tests/conformance/source_conformance.h"
#include "tests/fakes/consul_server.h"
#include "tests/fakes/temp_dir.h"
#include "util/http_client.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using State = std::map<std::string, std::string>;

constexpr absl::Duration kWait = absl::Seconds(20);

class ConsulTlsAclTest : public testing::Test {
 protected:
  void TearDown() override {
    if (source_ != nullptr) source_->Stop();
  }

  void StartServer(bool tls) {
    FakeConsulServer::Options options;
    options.tls = tls;
    auto server = FakeConsulServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    config_.address = server_->address();
    config_.kv_prefix = "promconf/";
  }

  absl::StatusOr<std::unique_ptr<Source>> NewSource() {
    SourceContext context;
    context.name = "consul";
    return consul::NewConsulSource(context, config_, FastConsulTuning());
  }
  void StartSource() {
    auto source = NewSource();
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = std::move(*source);
    ASSERT_TRUE(source_->Start(&recorder_).ok());
  }

  std::string WriteCa() {
    const std::string path = dir_.path() + "/ca.pem";
    std::ofstream(path) << server_->ca_pem();
    return path;
  }

  TempDir dir_;
  std::unique_ptr<FakeConsulServer> server_;
  ConsulSourceConfig config_;
  DocumentRecorder recorder_;
  std::unique_ptr<Source> source_;
};

TEST_F(ConsulTlsAclTest, HttpsWithTheCaFile) {
  StartServer(/*tls=*/true);
  ASSERT_TRUE(absl::StartsWith(config_.address, "https://")) << config_.address;
  server_->PutKV("promconf/a.rules.yml", "# a\n");
  config_.tls.ca_file = WriteCa();
  StartSource();
  EXPECT_TRUE(recorder_.WaitForState({{"a.rules.yml", "# a\n"}}, kWait)) << recorder_.last_error();
  server_->PutKV("promconf/b.rules.yml", "# b\n");
  EXPECT_TRUE(recorder_.WaitForState({{"a.rules.yml", "# a\n"}, {"b.rules.yml", "# b\n"}}, kWait));
}

TEST_F(ConsulTlsAclTest, AnUnknownCaIsRefusedUnlessVerificationIsSkipped) {
  StartServer(/*tls=*/true);
  server_->PutKV("promconf/a.rules.yml", "# a\n");
  StartSource();  // the system CAs only: the fake's self-signed CA is not one
  ASSERT_TRUE(recorder_.WaitForErrors(1, kWait));
  EXPECT_THAT(recorder_.last_error(), HasSubstr(config_.address));
  EXPECT_EQ(recorder_.snapshots(), 0);
  source_->Stop();
  source_.reset();

  config_.tls.insecure_skip_verify = true;
  DocumentRecorder skipping;
  auto source = NewSource();
  ASSERT_TRUE(source.ok()) << source.status();
  source_ = std::move(*source);
  ASSERT_TRUE(source_->Start(&skipping).ok());
  EXPECT_TRUE(skipping.WaitForState({{"a.rules.yml", "# a\n"}}, kWait)) << skipping.last_error();
}

TEST_F(ConsulTlsAclTest, AnUnreadableTlsFileIsAConfigError) {
  StartServer(/*tls=*/true);
  config_.tls.ca_file = dir_.path() + "/missing-ca.pem";
  auto source = NewSource();
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(), HasSubstr("tls.ca_file"));
  EXPECT_THAT(source.status().message(), HasSubstr("missing-ca.pem"));
}

// The fake itself: what Consul 1.11+ answers a token that may not read it all.
TEST_F(ConsulTlsAclTest, FakeFiltersByAclAndSaysSo) {
  StartServer(/*tls=*/false);
  server_->PutKV("promconf/a.rules.yml", "# a\n");
  server_->PutKV("promconf/hidden/b.rules.yml", "# b\n");
  FakeConsulServer::ServiceInstance api;
  api.id = "api-1";
  api.name = "api";
  api.port = 80;
  ASSERT_TRUE(server_->RegisterService(api).ok());
  HttpClient client;
  auto get = [&](const std::string& path) {
    HttpRequest req;
    req.url = server_->address() + path;
    absl::StatusOr<HttpResponse> r = client.Do(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResponse{};
  };
  EXPECT_EQ(get("/v1/kv/promconf/?recurse=true").Header("x-consul-results-filtered-by-acls"), "");

  server_->RestrictToken({"promconf/hidden/"}, {"api"});
  HttpResponse list = get("/v1/kv/promconf/?recurse=true");
  EXPECT_EQ(list.status, 200);
  EXPECT_THAT(list.body, HasSubstr("promconf/a.rules.yml"));
  EXPECT_THAT(list.body, Not(HasSubstr("hidden")));
  EXPECT_EQ(list.Header("x-consul-results-filtered-by-acls"), "true");
  EXPECT_EQ(get("/v1/kv/promconf/hidden/b.rules.yml").status, 403);
  HttpResponse health = get("/v1/health/service/api");
  EXPECT_EQ(health.body, "[]");
  EXPECT_EQ(health.Header("x-consul-results-filtered-by-acls"), "true");
  EXPECT_THAT(get("/v1/catalog/services").body, Not(HasSubstr("\"api\"")));

  server_->RestrictToken({"promconf/"});
  HttpResponse none = get("/v1/kv/promconf/?recurse=true");
  EXPECT_EQ(none.status, 404);  // looks empty...
  EXPECT_EQ(none.Header("x-consul-results-filtered-by-acls"), "true");  // ...but says why
}

TEST_F(ConsulTlsAclTest, AnAclFilteredListDeletesNothing) {
  StartServer(/*tls=*/false);
  server_->PutKV("promconf/a.rules.yml", "# a\n");
  server_->PutKV("promconf/b.rules.yml", "# b\n");
  StartSource();
  const State both = {{"a.rules.yml", "# a\n"}, {"b.rules.yml", "# b\n"}};
  ASSERT_TRUE(recorder_.WaitForState(both, kWait)) << recorder_.last_error();

  // The token loses read on b: the answer lists only a, and says it is filtered.
  int errors = recorder_.errors();
  server_->RestrictToken({"promconf/b"});
  ASSERT_TRUE(recorder_.WaitForErrors(errors + 1, kWait));
  EXPECT_THAT(recorder_.last_error(), HasSubstr("filtered by ACLs"));
  EXPECT_EQ(recorder_.State(), both);

  // Everything filtered: a 404 that would otherwise read as an empty prefix.
  errors = recorder_.errors();
  server_->RestrictToken({"promconf/"});
  ASSERT_TRUE(recorder_.WaitForErrors(errors + 2, kWait));
  EXPECT_EQ(recorder_.State(), both);

  // Read restored: changes flow again, nothing was lost meanwhile.
  server_->RestrictToken({});
  server_->PutKV("promconf/c.rules.yml", "# c\n");
  EXPECT_TRUE(recorder_.WaitForState(
      {{"a.rules.yml", "# a\n"}, {"b.rules.yml", "# b\n"}, {"c.rules.yml", "# c\n"}}, kWait));
}

}  // namespace
}  // namespace promconf
