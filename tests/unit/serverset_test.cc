// Serverset and nerve members -> file_sd target groups with the labels
// Prometheus' own zookeeper discovery gives (discovery/zookeeper).

#include "informers/zookeeper/serverset.h"
#include "informers/target_groups.h"

#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace promconf {
namespace {

TEST(ServersetTest, ServersetMemberLabels) {
  std::string json = zk::ServersetTargetGroups(zk::ServersetFormat::kServerset,
                                           {{"/aurora/prod/api/member_0000000001",
                                             R"({"serviceEndpoint":{"host":"10.0.0.1","port":8080},
            "additionalEndpoints":{"http-admin":{"host":"10.0.0.1","port":9990}},
            "status":"ALIVE","shard":3})"}});
  EXPECT_EQ(json, R"([{"targets":["10.0.0.1:8080"],"labels":{)"
                  R"("__meta_serverset_endpoint_host":"10.0.0.1",)"
                  R"("__meta_serverset_endpoint_host_http_admin":"10.0.0.1",)"
                  R"("__meta_serverset_endpoint_port":"8080",)"
                  R"("__meta_serverset_endpoint_port_http_admin":"9990",)"
                  R"("__meta_serverset_path":"/aurora/prod/api/member_0000000001",)"
                  R"("__meta_serverset_shard":"3",)"
                  R"("__meta_serverset_status":"ALIVE"}}])");
}

TEST(ServersetTest, MissingShardIsZeroAndIpv6GetsBrackets) {
  std::string json = zk::ServersetTargetGroups(
      zk::ServersetFormat::kServerset,
      {{"/s/m", R"({"serviceEndpoint":{"host":"::1","port":80},"status":"ALIVE"})"}});
  rapidjson::Document d;
  d.Parse(json.c_str());
  ASSERT_TRUE(d.IsArray());
  ASSERT_EQ(d.Size(), 1u);
  EXPECT_STREQ(d[0]["targets"][0].GetString(), "[::1]:80");
  EXPECT_STREQ(d[0]["labels"]["__meta_serverset_shard"].GetString(), "0");
}

TEST(ServersetTest, NerveMemberLabels) {
  std::string json = zk::ServersetTargetGroups(
      zk::ServersetFormat::kNerve,
      {{"/nerve/services/api/services/i-1", R"({"host":"10.1.2.3","port":443,"name":"api-1"})"}});
  EXPECT_EQ(json, R"([{"targets":["10.1.2.3:443"],"labels":{)"
                  R"("__meta_nerve_endpoint_host":"10.1.2.3",)"
                  R"("__meta_nerve_endpoint_name":"api-1",)"
                  R"("__meta_nerve_endpoint_port":"443",)"
                  R"("__meta_nerve_path":"/nerve/services/api/services/i-1"}}])");
}

TEST(ServersetTest, MembersThatDoNotParseAreSkipped) {
  const std::vector<zk::ServersetMember> members = {
      {"/s/bad-json", "{not json"},
      {"/s/not-object", "[1]"},
      {"/s/no-endpoint", R"({"status":"ALIVE"})"},
      {"/s/port-zero", R"({"serviceEndpoint":{"host":"h","port":0}})"},
      {"/s/port-string", R"({"serviceEndpoint":{"host":"h","port":"80"}})"},
      {"/s/empty-host", R"({"serviceEndpoint":{"host":"","port":80}})"},
      {"/s/bad-extra",
       R"({"serviceEndpoint":{"host":"h","port":80},"additionalEndpoints":{"x":{}}})"},
      {"/s/empty", ""},
      {"/s/good", R"({"serviceEndpoint":{"host":"h","port":80}})"},
  };
  int skipped = -1;
  std::vector<std::string> skipped_paths = {"stale"};
  std::string json = zk::ServersetTargetGroups(zk::ServersetFormat::kServerset, members, &skipped,
                                               &skipped_paths);
  EXPECT_EQ(skipped, 8);
  // Named in member order, for the log; the good one is not among them.
  ASSERT_EQ(skipped_paths.size(), 8u);
  EXPECT_EQ(skipped_paths.front(), "/s/bad-json");
  EXPECT_EQ(skipped_paths.back(), "/s/empty");
  rapidjson::Document d;
  d.Parse(json.c_str());
  ASSERT_TRUE(d.IsArray());
  ASSERT_EQ(d.Size(), 1u);
  EXPECT_STREQ(d[0]["targets"][0].GetString(), "h:80");
}

TEST(ServersetTest, NoMembersIsAnEmptyList) {
  EXPECT_EQ(zk::ServersetTargetGroups(zk::ServersetFormat::kNerve, {}), "[]");
}

TEST(ServersetTest, SanitizeLabelName) {
  EXPECT_EQ(SanitizeLabelName("http-admin.v2"), "http_admin_v2");
  EXPECT_EQ(SanitizeLabelName("ok_Name9"), "ok_Name9");
}

}  // namespace
}  // namespace promconf
