// Consul's blocking-query index rules, KV and health decoding, and the
// consul_sd labels of generated target groups.

#include "informers/consul/consul_protocol.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;

TEST(ConsulIndexTest, FollowsTheHeaderResetsWhenItGoesBackwardsNeverZero) {
  consul::ConsulIndex index;
  EXPECT_EQ(index.next(), 0u);  // the first request answers at once
  EXPECT_FALSE(index.Observe("42"));
  EXPECT_EQ(index.next(), 42u);
  EXPECT_FALSE(index.Observe("42"));  // a wake-up without a change
  EXPECT_EQ(index.next(), 42u);
  EXPECT_TRUE(index.Observe("7"));  // restored snapshot, new leader
  EXPECT_EQ(index.next(), 0u);      // re-read at once
  EXPECT_FALSE(index.Observe("7"));
  EXPECT_EQ(index.next(), 7u);
  // No header, garbage or 0: 1, so the loop blocks instead of spinning.
  consul::ConsulIndex bad;
  EXPECT_FALSE(bad.Observe(""));
  EXPECT_EQ(bad.next(), 1u);
  EXPECT_FALSE(bad.Observe("0"));
  EXPECT_EQ(bad.next(), 1u);
  EXPECT_FALSE(bad.Observe("x"));
  EXPECT_EQ(bad.next(), 1u);
}

TEST(ConsulQueryTest, IndexAndWaitOnlyWhenBlocking) {
  EXPECT_EQ(consul::ConsulQuery({{"recurse", "true"}, {"dc", ""}}, 0, absl::Minutes(5)), "?recurse=true");
  EXPECT_EQ(consul::ConsulQuery({{"passing", "true"}, {"tag", "a b"}, {"tag", "c"}}, 17, absl::Seconds(2)),
            "?passing=true&tag=a%20b&tag=c&index=17&wait=2000ms");
}

TEST(ConsulKvTest, DecodesBase64AndNullValues) {
  auto kvs = consul::ParseConsulKvList(
      R"([{"Key":"p/a","Value":"aGVsbG8=","ModifyIndex":12},{"Key":"p/dir/","Value":null,"ModifyIndex":3}])",
      1 << 20);
  ASSERT_TRUE(kvs.ok()) << kvs.status();
  ASSERT_EQ(kvs->size(), 2u);
  EXPECT_EQ((*kvs)[0].key, "p/a");
  EXPECT_EQ((*kvs)[0].value, "hello");
  EXPECT_EQ((*kvs)[0].modify_index, 12u);
  EXPECT_EQ((*kvs)[1].value, "");
  EXPECT_EQ((*kvs)[1].size, 0u);
}

TEST(ConsulKvTest, OversizedValuesKeepOnlyTheirSize) {
  auto kvs = consul::ParseConsulKvList(R"([{"Key":"p/a","Value":"aGVsbG8="}])", 3);
  ASSERT_TRUE(kvs.ok());
  EXPECT_EQ((*kvs)[0].size, 5u);
  EXPECT_EQ((*kvs)[0].value, "");
}

TEST(ConsulKvTest, BadBodiesAreErrorsNamingTheKey) {
  EXPECT_FALSE(consul::ParseConsulKvList("{", 10).ok());
  EXPECT_FALSE(consul::ParseConsulKvList("{}", 10).ok());
  auto bad = consul::ParseConsulKvList(R"([{"Key":"p/x","Value":"!!!"}])", 10);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("p/x"));
}

TEST(ConsulHealthTest, AggregatesChecksAndBuildsConsulSdLabels) {
  auto entries = consul::ParseConsulHealth(R"([
    {"Node":{"Node":"n2","Address":"10.0.0.2","Datacenter":"dc1","TaggedAddresses":{"lan":"10.0.0.2"},"Meta":{"rack-id":"r2"}},
     "Service":{"ID":"api-2","Service":"api","Tags":[],"Address":"","Port":80,"Meta":{}},
     "Checks":[{"Status":"passing"},{"Status":"warning"}]},
    {"Node":{"Node":"n1","Address":"fe80::1","Datacenter":"dc1"},
     "Service":{"ID":"api-1","Service":"api","Tags":["a","b"],"Address":"","Port":81,"Meta":{"v":"1"}},
     "Checks":[{"Status":"critical"},{"Status":"maintenance"}]}])");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].health, "warning");
  EXPECT_EQ((*entries)[1].health, "maintenance");
  const std::string json = consul::ConsulTargetGroups(*entries, "dc1");
  // Sorted by node: n1 first; IPv6 node address in brackets.
  EXPECT_EQ(json.find("[fe80::1]:81") < json.find("10.0.0.2:80"), true) << json;
  EXPECT_THAT(json, HasSubstr(R"("__meta_consul_tags":",a,b,")"));
  EXPECT_THAT(json, HasSubstr(R"("__meta_consul_tags":",,")"));
  EXPECT_THAT(json, HasSubstr(R"("__meta_consul_metadata_rack_id":"r2")"));
  EXPECT_THAT(json, HasSubstr(R"("__meta_consul_tagged_address_lan":"10.0.0.2")"));
  EXPECT_THAT(json, HasSubstr(R"("__meta_consul_service_metadata_v":"1")"));
  EXPECT_THAT(json, HasSubstr(R"("__meta_consul_service_port":"81")"));
}

TEST(ConsulHealthTest, EmptyAndBadBodies) {
  auto none = consul::ParseConsulHealth("[]");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(consul::ConsulTargetGroups(*none, "dc1"), "[]");
  EXPECT_FALSE(consul::ParseConsulHealth(R"([{"Node":{}}])").ok());
  EXPECT_FALSE(consul::ParseConsulHealth("nope").ok());
}

}  // namespace
}  // namespace promconf
