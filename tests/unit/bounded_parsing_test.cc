// Every parser that reads input from a backend or a file is bounded or
// iterative: 1,000,000 levels of nesting (what a 1 MB znode, key or event
// can hold) give an error or a skipped payload, never a stack overflow.
// Each case would crash the test binary (SIGSEGV) if its parser recursed.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controller/config.h"
#include "gtest/gtest.h"
#include "informers/consul/consul_protocol.h"
#include "informers/etcd/etcd_protocol.h"
#include "informers/kubernetes/kube_objects.h"
#include "informers/kubernetes/watch_stream_decoder.h"
#include "informers/zookeeper/serverset.h"
#include "metrics/metrics.h"
#include "util/dropped.h"
#include "util/yaml_nesting.h"

namespace promconf {
namespace {

constexpr size_t kDeep = 1000000;

std::string Open(char c) { return std::string(kDeep, c); }
std::string Closed(char open, char close) {
  return std::string(kDeep, open) + std::string(kDeep, close);
}

TEST(BoundedParsingTest, ServersetMemberOfDeepBracketsIsSkippedAndCounted) {
  const uint64_t before = DroppedCount(kDroppedMembers);
  const std::vector<zk::ServersetMember> members = {
      {"/s/member_1", R"({"serviceEndpoint":{"host":"10.0.0.1","port":80}})"},
      {"/s/member_2", Open('[')},
      {"/s/member_3", Closed('[', ']')},
      {"/s/member_4", absl::StrCat(R"({"serviceEndpoint":)", Closed('{', '}'), "}")},
      {"/s/member_5", absl::StrCat(R"({"serviceEndpoint":{"host":"h","port":1},"status":)",
                                   Closed('[', ']'), "}")},
      {"/s/member_6", R"({"serviceEndpoint":{"host":"10.0.0.2","port":81}})"},
  };
  int skipped = 0;
  const std::string json =
      zk::ServersetTargetGroups(zk::ServersetFormat::kServerset, members, &skipped);
  EXPECT_EQ(skipped, 3);
  EXPECT_NE(json.find("10.0.0.1:80"), std::string::npos) << json;
  EXPECT_NE(json.find("10.0.0.2:81"), std::string::npos) << json;
  // A non-string status reads as "" (as before): that member is kept.
  EXPECT_NE(json.find("h:1"), std::string::npos) << json;
  // The source counts what ServersetTargetGroups reports skipped.
  EXPECT_EQ(DroppedCount(kDroppedMembers), before);

  skipped = 0;
  zk::ServersetTargetGroups(zk::ServersetFormat::kNerve, {{"/n/m", Open('{')}}, &skipped);
  EXPECT_EQ(skipped, 1);
}

TEST(BoundedParsingTest, ConsulResponsesOfDeepBracketsAreErrors) {
  EXPECT_FALSE(consul::ParseConsulKvList(Open('['), 1 << 20).ok());
  EXPECT_FALSE(consul::ParseConsulKvList(Closed('[', ']'), 1 << 20).ok());
  EXPECT_FALSE(consul::ParseConsulHealth(Open('[')).ok());
  // Valid JSON, deep inside an entry: parsed iteratively, the entry refused.
  auto deep_meta = consul::ParseConsulHealth(absl::StrCat(
      R"([{"Node":{"Node":"n","Meta":)", Closed('[', ']'), R"(},"Service":{"Service":"s"}}])"));
  ASSERT_TRUE(deep_meta.ok()) << deep_meta.status();
  EXPECT_EQ(deep_meta->size(), 1u);
  EXPECT_TRUE((*deep_meta)[0].node_meta.empty());
  const uint64_t before = DroppedCount(kDroppedServices);
  auto not_object = consul::ParseConsulHealth(absl::StrCat("[", Closed('[', ']'), "]"));
  ASSERT_TRUE(not_object.ok()) << not_object.status();
  EXPECT_TRUE(not_object->empty());
  EXPECT_EQ(DroppedCount(kDroppedServices), before + 1);
}

// simdjson's DOM parser is iterative and stops at its max depth (1024 by
// default): deep input is a DEPTH_ERROR.
TEST(BoundedParsingTest, EtcdResponsesOfDeepBracketsAreErrors) {
  EXPECT_FALSE(etcd::ParseEtcdRangeResponse(Open('[')).ok());
  EXPECT_FALSE(etcd::ParseEtcdRangeResponse(Closed('[', ']')).ok());
  EXPECT_FALSE(etcd::ParseEtcdRangeResponse(
                   absl::StrCat(R"({"header":{"revision":"1"},"kvs":)", Closed('[', ']'), "}"))
                   .ok());
  EXPECT_FALSE(
      etcd::ParseEtcdWatchResponse(absl::StrCat(R"({"result":)", Closed('{', '}'), "}")).ok());
  EXPECT_FALSE(etcd::ParseEtcdAuthResponse(Closed('{', '}')).ok());
  const absl::Status s = etcd::EtcdErrorStatus(500, Closed('{', '}'), "etcd range");
  EXPECT_FALSE(s.ok());

  etcd::WatchStreamDecoder decoder;
  std::vector<std::string> out;
  EXPECT_TRUE(decoder.Feed(Closed('{', '}'), &out).ok());
  EXPECT_TRUE(decoder.Feed("\n", &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(etcd::ParseEtcdWatchResponse(out[0]).ok());
}

TEST(BoundedParsingTest, KubernetesEventsOfDeepBracketsAreErrors) {
  kube::KubeJsonParser parser;
  kube::WatchEvent event;
  EXPECT_FALSE(parser.ParseWatchEvent(Open('{'), &event).ok());
  EXPECT_FALSE(parser
                   .ParseWatchEvent(absl::StrCat(R"({"type":"ADDED","object":{"data":{"a":)",
                                                 Closed('[', ']'), "}}}"),
                                    &event)
                   .ok());
  kube::KubeList list;
  EXPECT_FALSE(parser.ParseList(absl::StrCat(R"({"items":)", Closed('[', ']'), "}"), &list).ok());
  kube::KubeObject object;
  EXPECT_FALSE(parser.ParseObject(Closed('{', '}'), &object).ok());

  // The stream decoder counts depth in an integer: no recursion either.
  kube::WatchStreamDecoder decoder;
  int objects = 0;
  absl::Status s = decoder.Feed(Closed('{', '}'), [&](absl::string_view) {
    ++objects;
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(objects, 1);
}

TEST(BoundedParsingTest, ConfigFileOfDeepNestingIsAnError) {
  for (const std::string& text :
       {absl::StrCat("sources: ", Open('[')), absl::StrCat("sources: ", Open('{')),
        absl::StrCat("sources:\n", [] {
          std::string s;
          s.reserve(2 * kDeep);
          for (size_t i = 0; i < kDeep / 2; ++i) s += "- ";
          return s + "x\n";
        }()),
        absl::StrCat("a:\n", [] {
          std::string s;
          for (int i = 1; i < 1400; ++i) s += std::string(i, ' ') + "k:\n";
          return s;
        }())}) {
    absl::StatusOr<Config> c = ParseConfig(text, "promconf.yml");
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("promconf.yml: line "), std::string::npos)
        << c.status();
    EXPECT_NE(c.status().message().find("nest deeper"), std::string::npos) << c.status();
  }
}

TEST(BoundedParsingTest, YamlNestingCheckAcceptsOrdinaryConfigs) {
  EXPECT_TRUE(CheckYamlNesting("output:\n  dir: /x\nsources:\n  - name: a\n    file:\n"
                               "      paths: [./f, {a: [b]}]\n")
                  .ok());
  EXPECT_TRUE(CheckYamlNesting(std::string(64, '[') + std::string(64, ']')).ok());
  EXPECT_FALSE(CheckYamlNesting(std::string(65, '[')).ok());
  EXPECT_TRUE(CheckYamlNesting(std::string(256, ' ') + "a: b\n").ok());
  EXPECT_FALSE(CheckYamlNesting(std::string(257, ' ') + "a: b\n").ok());
  // "-" not followed by a space is a scalar's first character.
  EXPECT_TRUE(CheckYamlNesting("a: " + std::string(1000, '-') + "\n").ok());
}

TEST(BoundedParsingTest, DroppedTotalIsExposedForEveryKnownWhat) {
  Metrics metrics;
  CountDropped(kDroppedMembers, 2);
  const std::string text = metrics.ExpositionText();
  EXPECT_NE(text.find("# TYPE promconf_dropped_total counter"), std::string::npos) << text;
  for (const char* what : {kDroppedEvents, kDroppedMembers, kDroppedNonFragmentDocuments,
                           kDroppedSymlinks, kDroppedServices, kDroppedResponses}) {
    EXPECT_NE(text.find(absl::StrCat("promconf_dropped_total{what=\"", what, "\"}")),
              std::string::npos)
        << what;
  }
  EXPECT_NE(text.find(absl::StrCat("promconf_dropped_total{what=\"members\"} ",
                                   DroppedCount(kDroppedMembers))),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace promconf
