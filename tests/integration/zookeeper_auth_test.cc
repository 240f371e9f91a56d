// The ZooKeeper source against a real ZooKeeper with digest ACLs: auth_file's
// `user:password` opens a protected znode, its absence gives a clear error,
// a read that fails for a reason other than a lost connection (ZNOAUTH
// here) is backed off instead of retried at every tick, and the file is read
// again when the connection comes back.

#include <fstream>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informers/zookeeper/digest_auth.h"
#include "informers/zookeeper/zookeeper_source.h"
#include "tests/conformance/source_conformance.h"
#include "tests/fakes/temp_dir.h"
#include "tests/fakes/zookeeper_server.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(30);
constexpr char kNode[] = "/secure/a.rules.yml";
constexpr char kData[] = "groups: []\n";

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

TEST(DigestCredential, OneLineUserColonPassword) {
  EXPECT_EQ(*zk::ParseDigestCredential("u:p\n", "f"), "u:p");
  EXPECT_EQ(*zk::ParseDigestCredential("u:p\r\n", "f"), "u:p");
  EXPECT_EQ(*zk::ParseDigestCredential("u:p:with:colons", "f"), "u:p:with:colons");
  for (const std::string& bad : {std::string(""), std::string("\n"), std::string("nocolon"),
                                 std::string(":nouser"), std::string("u:p\n\n"),
                                 std::string("u:p\nv:q"), std::string("u:p\0x", 5)}) {
    absl::StatusOr<std::string> c = zk::ParseDigestCredential(bad, "/etc/zk-auth");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_THAT(c.status().message(), HasSubstr("/etc/zk-auth"));
  }
  EXPECT_FALSE(zk::ParseDigestCredential(std::string(5000, 'a') + ":p", "f").ok());
}

class ZookeeperAuthTest : public testing::Test {
 protected:
  void SetUp() override {
    auto server = ZookeeperServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    config_.servers = {server_->address()};
    // A tick of ~330 ms: retrying at every tick would be ~15 errors in 5 s.
    config_.session_timeout = absl::Seconds(1);
    config_.paths = {"/secure"};
    auth_file_ = dir_.path() + "/zk-auth";
    ASSERT_TRUE(server_->Put(kNode, kData).ok());
    ASSERT_TRUE(server_->RestrictToDigest(kNode, "promconf", "s3cret").ok());
  }
  void TearDown() override {
    if (source_ != nullptr) source_->Stop();
  }

  absl::StatusOr<std::unique_ptr<Source>> NewSource() {
    SourceContext context;
    context.name = "zk";
    return zk::NewZookeeperSource(context, config_);
  }
  void StartSource() {
    auto source = NewSource();
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = std::move(*source);
    ASSERT_TRUE(source_->Start(&recorder_).ok());
  }

  TempDir dir_;
  std::string auth_file_;
  std::unique_ptr<ZookeeperServer> server_;
  ZookeeperSourceConfig config_;
  DocumentRecorder recorder_;
  std::unique_ptr<Source> source_;
};

TEST_F(ZookeeperAuthTest, AuthFileOpensADigestProtectedZnode) {
  WriteFile(auth_file_, "promconf:s3cret\n");
  config_.auth_file = auth_file_;
  StartSource();
  EXPECT_TRUE(recorder_.WaitForState({{"a.rules.yml", kData}}, kWait)) << recorder_.last_error();
  EXPECT_EQ(recorder_.errors(), 0) << recorder_.last_error();
}

TEST_F(ZookeeperAuthTest, WithoutAuthTheReadFailsClearlyAndIsBackedOff) {
  StartSource();
  ASSERT_TRUE(recorder_.WaitForErrors(1, kWait));
  EXPECT_THAT(recorder_.last_error(), HasSubstr(kNode));
  EXPECT_THAT(recorder_.last_error(), HasSubstr("auth_file"));
  // Backed off from 1 s doubling: attempts at ~0, 0.5-1, 1.5-3, 3.5-7 s.
  const int first = recorder_.errors();
  absl::SleepFor(absl::Seconds(5));
  const int later = recorder_.errors() - first;
  EXPECT_GE(later, 1) << "the read is retried";
  EXPECT_LE(later, 4) << "a failing read is retried at every tick, not backed off";
  EXPECT_EQ(recorder_.snapshots(), 0);
  EXPECT_TRUE(recorder_.State().empty());
}

TEST_F(ZookeeperAuthTest, AFixedAuthFileIsReadAgainOnReconnect) {
  WriteFile(auth_file_, "promconf:wrong\n");
  config_.auth_file = auth_file_;
  StartSource();
  ASSERT_TRUE(recorder_.WaitForErrors(1, kWait));
  EXPECT_THAT(recorder_.last_error(), HasSubstr(kNode));
  WriteFile(auth_file_, "promconf:s3cret\n");
  ASSERT_TRUE(server_->Restart().ok());
  EXPECT_TRUE(recorder_.WaitForState({{"a.rules.yml", kData}}, kWait)) << recorder_.last_error();
}

TEST_F(ZookeeperAuthTest, AMissingOrMalformedAuthFileIsAConfigErrorThatHidesTheContent) {
  config_.auth_file = auth_file_;
  auto missing = NewSource();
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(auth_file_));
  WriteFile(auth_file_, "hunter2-without-a-user\n");
  auto malformed = NewSource();
  ASSERT_FALSE(malformed.ok());
  EXPECT_THAT(malformed.status().message(), HasSubstr("user:password"));
  EXPECT_THAT(malformed.status().message(), Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace promconf
