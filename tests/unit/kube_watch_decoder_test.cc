#include "informers/kubernetes/watch_stream_decoder.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "informers/kubernetes/kube_objects.h"

namespace promconf::kube {
namespace {

// A recorded-style watch body: UTF-8 (2-, 3- and 4-byte characters), escaped
// quotes and backslashes, braces inside strings, a bookmark and an ERROR, no
// newline between two of the objects.
const char kBody[] =
    R"J({"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"rules","namespace":"team-a","resourceVersion":"11","labels":{"promconf.io/fragment":"true"}},"data":{"a.rules.yml":"groups:\n- name: \"q}{\"\n  rules: []  # é ✓ 𝄞\n","b.txt":"back\\slash \\\" {[}]"}}})J"
    "\n"
    R"J({"type":"MODIFIED","object":{"kind":"ConfigMap","metadata":{"name":"rules","namespace":"team-a","resourceVersion":"12"},"data":{"a.rules.yml":"x"},"binaryData":{"bin":"AAEC"}}})J"
    R"J({"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"15"}}})J"
    "\r\n  "
    R"J({"type":"DELETED","object":{"kind":"ConfigMap","metadata":{"name":"rules","namespace":"team-a","resourceVersion":"16"}}})J"
    "\n"
    R"J({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (16)","reason":"Expired","code":410}})J"
    "\n";

std::vector<std::string> Decode(const std::vector<absl::string_view>& chunks) {
  WatchStreamDecoder decoder;
  std::vector<std::string> out;
  for (absl::string_view c : chunks) {
    absl::Status s = decoder.Feed(c, [&](absl::string_view obj) {
      out.emplace_back(obj);
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_TRUE(decoder.idle());
  return out;
}

TEST(WatchStreamDecoder, WholeBody) {
  auto objects = Decode({kBody});
  ASSERT_EQ(objects.size(), 5u);
  KubeJsonParser parser;
  WatchEvent e;
  ASSERT_TRUE(parser.ParseWatchEvent(objects[0], &e).ok());
  EXPECT_EQ(e.type, WatchEventType::kAdded);
  EXPECT_EQ(e.object.name, "rules");
  EXPECT_EQ(e.object.namespace_, "team-a");
  EXPECT_EQ(e.object.resource_version, "11");
  ASSERT_EQ(e.object.data.size(), 2u);
  EXPECT_EQ(e.object.data[0].second,
            "groups:\n- name: \"q}{\"\n  rules: []  # \xC3\xA9 \xE2\x9C\x93 \xF0\x9D\x84\x9E\n");
  EXPECT_EQ(e.object.data[1].second, "back\\slash \\\" {[}]");
  ASSERT_TRUE(parser.ParseWatchEvent(objects[1], &e).ok());
  EXPECT_EQ(e.type, WatchEventType::kModified);
  ASSERT_EQ(e.object.binary_data.size(), 1u);
  EXPECT_EQ(e.object.binary_data[0].second, "AAEC");
  ASSERT_TRUE(parser.ParseWatchEvent(objects[2], &e).ok());
  EXPECT_EQ(e.type, WatchEventType::kBookmark);
  EXPECT_EQ(e.object.resource_version, "15");
  ASSERT_TRUE(parser.ParseWatchEvent(objects[3], &e).ok());
  EXPECT_EQ(e.type, WatchEventType::kDeleted);
  ASSERT_TRUE(parser.ParseWatchEvent(objects[4], &e).ok());
  EXPECT_EQ(e.type, WatchEventType::kError);
  EXPECT_EQ(e.object.code, 410);
  EXPECT_EQ(e.object.reason, "Expired");
}

TEST(WatchStreamDecoder, SplitAtEveryOffset) {
  const absl::string_view body(kBody);
  const auto want = Decode({body});
  for (size_t i = 0; i <= body.size(); ++i) {
    EXPECT_EQ(Decode({body.substr(0, i), body.substr(i)}), want) << "split at " << i;
  }
  // Three pieces: every pair of cut points in a window around the escapes.
  for (size_t i = 150; i < 260 && i < body.size(); ++i) {
    for (size_t j = i; j < 260 && j <= body.size(); ++j) {
      ASSERT_EQ(Decode({body.substr(0, i), body.substr(i, j - i), body.substr(j)}), want)
          << "split at " << i << "," << j;
    }
  }
}

TEST(WatchStreamDecoder, OneByteChunks) {
  const absl::string_view body(kBody);
  std::vector<absl::string_view> chunks;
  for (size_t i = 0; i < body.size(); ++i) chunks.push_back(body.substr(i, 1));
  EXPECT_EQ(Decode(chunks), Decode({body}));
}

TEST(WatchStreamDecoder, GarbageIsAnError) {
  for (const char* bad : {"garbage", "}", "]{}", "{\"a\":1}x", "null"}) {
    WatchStreamDecoder decoder;
    absl::Status s = decoder.Feed(bad, [](absl::string_view) { return absl::OkStatus(); });
    EXPECT_FALSE(s.ok()) << bad;
  }
}

TEST(WatchStreamDecoder, OversizedObjectIsAnError) {
  WatchStreamDecoder decoder(8);
  absl::Status s = decoder.Feed("{\"a\":\"0123456789", [](absl::string_view) {
    return absl::OkStatus();
  });
  EXPECT_FALSE(s.ok());
}

TEST(WatchStreamDecoder, CallbackErrorStopsFeed) {
  WatchStreamDecoder decoder;
  int calls = 0;
  absl::Status s = decoder.Feed("{}{}", [&](absl::string_view) {
    ++calls;
    return absl::CancelledError("stop");
  });
  EXPECT_TRUE(absl::IsCancelled(s));
  EXPECT_EQ(calls, 1);
}

TEST(KubeJsonParser, BadObjectsAreErrors) {
  KubeJsonParser parser;
  WatchEvent e;
  EXPECT_FALSE(parser.ParseWatchEvent(R"J({"object":{}})J", &e).ok()) << "no type";
  EXPECT_FALSE(parser.ParseWatchEvent(R"J({"type":"WHAT","object":{}})J", &e).ok());
  EXPECT_FALSE(parser.ParseWatchEvent(R"J({"type":"ADDED","object":{"data":{"k":1}}})J", &e).ok());
  EXPECT_FALSE(parser.ParseWatchEvent(R"J({"type":"ADDED",)J", &e).ok());
}

TEST(KubeJsonParser, List) {
  KubeJsonParser parser;
  KubeList list;
  ASSERT_TRUE(parser
                  .ParseList(R"J({"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"tok"},"items":[{"metadata":{"name":"a","namespace":"n"},"data":{"k":"v"}},{"metadata":{"name":"b","namespace":"n"},"data":null}]})J",
                             &list)
                  .ok());
  EXPECT_EQ(list.resource_version, "42");
  EXPECT_EQ(list.continue_token, "tok");
  ASSERT_EQ(list.items.size(), 2u);
  EXPECT_EQ(list.items[0].data.size(), 1u);
  EXPECT_TRUE(list.items[1].data.empty());
}

}  // namespace
}  // namespace promconf::kube
