#include "informers/etcd/etcd_protocol.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace promconf {
namespace {

TEST(EtcdPrefixRangeEnd, IncrementsLastByte) {
  EXPECT_EQ(etcd::EtcdPrefixRangeEnd("/promconf/"), "/promconf0");
  EXPECT_EQ(etcd::EtcdPrefixRangeEnd("a"), "b");
}

TEST(EtcdPrefixRangeEnd, DropsTrailing0xffBytes) {
  EXPECT_EQ(etcd::EtcdPrefixRangeEnd(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(etcd::EtcdPrefixRangeEnd(std::string("a\xfe\xff", 3)), std::string("a\xff", 2));
}

TEST(EtcdPrefixRangeEnd, EmptyOrAll0xffMeansEverything) {
  EXPECT_EQ(etcd::EtcdPrefixRangeEnd(""), std::string(1, '\0'));
  EXPECT_EQ(etcd::EtcdPrefixRangeEnd(std::string("\xff\xff", 2)), std::string(1, '\0'));
}

TEST(EtcdBase64, RoundTripsBinary) {
  const std::string raw("a\0b\xff/x", 6);
  EXPECT_EQ(etcd::EtcdBase64Encode("/p/a"), "L3AvYQ==");
  auto back = etcd::EtcdBase64Decode(etcd::EtcdBase64Encode(raw));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, raw);
  EXPECT_FALSE(etcd::EtcdBase64Decode("not base64!").ok());
}

TEST(EtcdRequests, RangeBodyPinsRevisionOnlyWhenSet) {
  EXPECT_EQ(etcd::EtcdRangeRequestBody("/p/", "/p0", 500, 0),
            R"({"key":"L3Av","range_end":"L3Aw","limit":500})");
  EXPECT_EQ(etcd::EtcdRangeRequestBody(std::string("/p/a\0", 5), "/p0", 2, 42),
            R"({"key":"L3AvYQA=","range_end":"L3Aw","limit":2,"revision":42})");
}

TEST(EtcdRequests, WatchBodyAsksForProgressAndStartsAtRevision) {
  EXPECT_EQ(etcd::EtcdWatchRequestBody("/p/", "/p0", 8),
            R"({"create_request":{"key":"L3Av","range_end":"L3Aw","start_revision":8,)"
            R"("progress_notify":true,"prev_kv":false}})");
}

TEST(EtcdRequests, AuthBodyEscapes) {
  EXPECT_EQ(etcd::EtcdAuthRequestBody("root", "p\"w\\\n"),
            R"({"name":"root","password":"p\"w\\\n"})");
}

TEST(ParseEtcdRangeResponse, ReadsKvsRevisionAndMore) {
  auto r = etcd::ParseEtcdRangeResponse(
      R"({"header":{"cluster_id":"1","revision":"3"},"kvs":[{"key":"L3AvYQ==","create_revision":"2",)"
      R"("mod_revision":"2","version":"1","value":"MQ=="}],"more":true,"count":"2"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->header_revision, 3);
  EXPECT_TRUE(r->more);
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].key, "/p/a");
  EXPECT_EQ(r->kvs[0].value, "1");
  EXPECT_EQ(r->kvs[0].mod_revision, 2);
}

TEST(ParseEtcdRangeResponse, EmptyValueAndNoKvs) {
  auto r = etcd::ParseEtcdRangeResponse(R"({"header":{"revision":7}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->header_revision, 7);
  EXPECT_TRUE(r->kvs.empty());
  EXPECT_FALSE(r->more);
  auto e = etcd::ParseEtcdRangeResponse(R"({"header":{"revision":"7"},"kvs":[{"key":"L3AvYQ==","mod_revision":"4"}]})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kvs[0].value, "");
}

TEST(EtcdErrorStatus, ClassifiesGatewayErrors) {
  EXPECT_TRUE(absl::IsUnauthenticated(etcd::EtcdErrorStatus(
      401, R"({"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16})",
      "range")));
  EXPECT_TRUE(absl::IsOutOfRange(etcd::EtcdErrorStatus(
      400, R"({"error":"etcdserver: mvcc: required revision has been compacted","code":11})", "range")));
  EXPECT_TRUE(absl::IsPermissionDenied(etcd::EtcdErrorStatus(
      403, R"({"error":"etcdserver: permission denied","code":7})", "range")));
  EXPECT_TRUE(absl::IsUnavailable(etcd::EtcdErrorStatus(503, "<html>oops</html>", "range")));
}

TEST(ParseEtcdWatchResponse, CreatedAck) {
  auto w = etcd::ParseEtcdWatchResponse(R"({"result":{"header":{"revision":"5","raft_term":"2"},"created":true}})");
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w->created);
  EXPECT_FALSE(w->IsProgressNotify());
  EXPECT_EQ(w->header_revision, 5);
}

TEST(ParseEtcdWatchResponse, PutOmitsTypeDeleteSaysSo) {
  auto w = etcd::ParseEtcdWatchResponse(
      R"({"result":{"header":{"revision":"4"},"events":[{"kv":{"key":"L3AvYQ==","mod_revision":"3","value":"Mg=="}},)"
      R"({"type":"DELETE","kv":{"key":"L3AvYg==","mod_revision":"4"}}]}})");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->events.size(), 2u);
  EXPECT_FALSE(w->events[0].is_delete);
  EXPECT_EQ(w->events[0].kv.key, "/p/a");
  EXPECT_EQ(w->events[0].kv.value, "2");
  EXPECT_TRUE(w->events[1].is_delete);
  EXPECT_EQ(w->events[1].kv.key, "/p/b");
  EXPECT_EQ(w->events[1].kv.mod_revision, 4);
}

TEST(ParseEtcdWatchResponse, ProgressNotifyAndCompaction) {
  auto p = etcd::ParseEtcdWatchResponse(R"({"result":{"header":{"revision":"9"}}})");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->IsProgressNotify());
  EXPECT_EQ(p->header_revision, 9);
  auto c = etcd::ParseEtcdWatchResponse(
      R"({"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"4"}})");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->canceled);
  EXPECT_EQ(c->compact_revision, 4);
  EXPECT_FALSE(c->IsProgressNotify());
}

TEST(ParseEtcdWatchResponse, StreamErrorObject) {
  auto e = etcd::ParseEtcdWatchResponse(
      R"({"error":{"grpc_code":16,"http_code":401,"message":"etcdserver: invalid auth token","http_status":"Unauthorized"}})");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->is_error);
  EXPECT_EQ(e->error.grpc_code, 16);
  EXPECT_FALSE(etcd::ParseEtcdWatchResponse("{\"result\":").ok());
  EXPECT_FALSE(etcd::ParseEtcdWatchResponse("{}").ok());
}

TEST(WatchStreamDecoder, ReassemblesObjectsSplitAnywhere) {
  const std::string stream =
      "{\"result\":{\"header\":{\"revision\":\"3\"},\"created\":true}}\n"
      "{\"result\":{\"header\":{\"revision\":\"4\"}}}\n\n"
      "{\"result\":{\"header\":{\"revision\":\"5\"}}}\n";
  // Every split point, and byte-at-a-time.
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    etcd::WatchStreamDecoder d;
    std::vector<std::string> out;
    ASSERT_TRUE(d.Feed(absl::string_view(stream).substr(0, cut), &out).ok());
    ASSERT_TRUE(d.Feed(absl::string_view(stream).substr(cut), &out).ok());
    ASSERT_EQ(out.size(), 3u) << "cut at " << cut;
    EXPECT_EQ(d.buffered(), 0u);
  }
  etcd::WatchStreamDecoder d;
  std::vector<std::string> out;
  for (char c : stream) ASSERT_TRUE(d.Feed(absl::string_view(&c, 1), &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1], "{\"result\":{\"header\":{\"revision\":\"4\"}}}");
}

TEST(WatchStreamDecoder, KeepsPartialUntilNewline) {
  etcd::WatchStreamDecoder d;
  std::vector<std::string> out;
  ASSERT_TRUE(d.Feed("{\"result\":{", &out).ok());
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.buffered(), 11u);
}

TEST(WatchStreamDecoder, BoundsOneObject) {
  etcd::WatchStreamDecoder d(16);
  std::vector<std::string> out;
  EXPECT_TRUE(absl::IsResourceExhausted(d.Feed(std::string(17, 'x'), &out)));
}

TEST(EtcdRevisionTracker, ResumesAfterAppliedNotAfterCreatedHeader) {
  etcd::EtcdRevisionTracker t;
  t.ObserveSnapshot(10);
  EXPECT_EQ(t.WatchStartRevision(), 11);
  // The created ack carries the store's current revision while older events
  // are still coming: only a header, not progress.
  t.ObserveHeader(20);
  EXPECT_EQ(t.WatchStartRevision(), 11);
  EXPECT_TRUE(t.IsNew(11));
  t.ObserveEventApplied(12);
  EXPECT_FALSE(t.IsNew(12));
  EXPECT_EQ(t.WatchStartRevision(), 13);
  t.ObserveProgress(20);
  EXPECT_EQ(t.WatchStartRevision(), 21);
  EXPECT_EQ(t.highest_seen(), 20);
}

TEST(EtcdRevisionTracker, DetectsServerGoingBackInTime) {
  etcd::EtcdRevisionTracker t;
  t.ObserveSnapshot(50);
  EXPECT_FALSE(t.IsRegression(50));
  EXPECT_FALSE(t.IsRegression(0)) << "headers without a revision (compaction cancel) are not regressions";
  EXPECT_TRUE(t.IsRegression(3));
  t.ObserveSnapshot(3);  // the re-list resets what we saw
  EXPECT_FALSE(t.IsRegression(3));
  EXPECT_EQ(t.WatchStartRevision(), 4);
}

}  // namespace
}  // namespace promconf
