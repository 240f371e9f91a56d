// Pins the fake Consul's behaviour through the project's own HttpClient: the
// Consul source's tests rely on these semantics (PROTOCOLS.md "Consul").
// Every wait is bounded; the whole binary runs in a few seconds.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/fakes/consul_server.h"
#include "util/http_client.h"

namespace promconf {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<FakeConsulServer> StartFake(FakeConsulServer::Options options = {}) {
  auto s = FakeConsulServer::Start(options);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

struct Reply {
  long status = 0;
  std::string body;
  uint64_t index = 0;
  absl::Duration elapsed;
  HttpResponse response;
};

// Sends one request; fails the test on a transport error.
Reply Call(HttpClient& client, const std::string& url, const std::string& method = "GET",
           const std::string& body = "",
           std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest r;
  r.method = method;
  r.url = url;
  r.body = body;
  r.headers = std::move(headers);
  r.timeout = absl::Seconds(8);
  absl::Time start = absl::Now();
  auto resp = client.Do(r);
  Reply out;
  out.elapsed = absl::Now() - start;
  EXPECT_TRUE(resp.ok()) << resp.status();
  if (!resp.ok()) return out;
  out.status = resp->status;
  out.body = resp->body;
  EXPECT_TRUE(resp->Header("x-consul-index").empty() ||
              absl::SimpleAtoi(resp->Header("x-consul-index"), &out.index));
  out.response = *std::move(resp);
  return out;
}

rapidjson::Document Parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.data(), s.size());
  EXPECT_FALSE(d.HasParseError()) << s;
  return d;
}

std::vector<std::string> Keys(const std::string& body) {
  std::vector<std::string> out;
  rapidjson::Document d = Parse(body);
  if (!d.IsArray()) return out;
  for (const auto& e : d.GetArray()) out.push_back(e["Key"].GetString());
  return out;
}

// "node/serviceID" of each health entry.
std::vector<std::string> Instances(const std::string& body) {
  std::vector<std::string> out;
  rapidjson::Document d = Parse(body);
  if (!d.IsArray()) return out;
  for (const auto& e : d.GetArray()) {
    out.push_back(absl::StrCat(e["Node"]["Node"].GetString(), "/", e["Service"]["ID"].GetString()));
  }
  return out;
}

// Runs fn on another thread after a delay (a write while a query blocks).
class Later {
 public:
  Later(absl::Duration delay, std::function<void()> fn)
      : thread_([delay, fn = std::move(fn)] {
          absl::SleepFor(delay);
          fn();
        }) {}
  ~Later() { thread_.join(); }

 private:
  std::thread thread_;
};

TEST(ConsulFakeTest, KvPutGetDeleteAndIndexes) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  HttpClient client;
  const std::string kv = server->address() + "/v1/kv/";
  EXPECT_EQ(server->Index(), 10u);

  // An empty prefix is 404 with no body, still with an index.
  Reply empty = Call(client, kv + "app/?recurse");
  EXPECT_EQ(empty.status, 404);
  EXPECT_EQ(empty.body, "");
  EXPECT_GE(empty.index, 1u);
  EXPECT_EQ(empty.response.Header("x-consul-knownleader"), "true");

  std::string binary("\x00\xff\x10 bin", 7);
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"app/b", binary}, {"app/a", "hello"}, {"app/empty", ""}, {"other/x", "1"}}) {
    Reply put = Call(client, kv + key, "PUT", value);
    EXPECT_EQ(put.status, 200);
    EXPECT_EQ(put.body, "true");
  }
  const uint64_t after_puts = server->Index();
  EXPECT_EQ(after_puts, 14u);

  Reply list = Call(client, kv + "app/?recurse");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.response.Header("content-type"), "application/json");
  EXPECT_EQ(list.response.Header("x-consul-lastcontact"), "0");
  EXPECT_THAT(Keys(list.body), ElementsAre("app/a", "app/b", "app/empty"));
  EXPECT_EQ(list.index, 13u);  // max ModifyIndex under app/, not other/x's 14
  rapidjson::Document d = Parse(list.body);
  std::string decoded;
  ASSERT_TRUE(absl::Base64Unescape(d[1]["Value"].GetString(), &decoded));
  EXPECT_EQ(decoded, binary);
  EXPECT_TRUE(d[2]["Value"].IsNull());
  EXPECT_EQ(d[0]["CreateIndex"].GetUint64(), 12u);
  EXPECT_EQ(d[0]["Flags"].GetUint64(), 0u);
  EXPECT_EQ(d[0]["LockIndex"].GetUint64(), 0u);
  EXPECT_EQ(Call(client, kv + "app/?recurse=true").body, list.body);

  // Single key, raw value, key listing.
  Reply one = Call(client, kv + "app/a");
  EXPECT_EQ(one.index, 12u);
  EXPECT_THAT(Keys(one.body), ElementsAre("app/a"));
  EXPECT_EQ(Call(client, kv + "app/b?raw").body, binary);
  EXPECT_EQ(Call(client, kv + "app/nope").status, 404);
  EXPECT_EQ(Call(client, kv + "?keys&separator=/").body, R"(["app/","other/"])");

  // A deletion moves the prefix's index through its tombstone.
  EXPECT_EQ(Call(client, kv + "app/a", "DELETE").body, "true");
  Reply after_delete = Call(client, kv + "app/?recurse");
  EXPECT_THAT(Keys(after_delete.body), ElementsAre("app/b", "app/empty"));
  EXPECT_EQ(after_delete.index, server->Index());
  EXPECT_EQ(Call(client, kv + "other/?recurse").index, 14u);

  const uint64_t tree = server->DeleteKV("app/", /*recurse=*/true);
  Reply gone = Call(client, kv + "app/?recurse");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.index, tree);
  EXPECT_EQ(Call(client, kv + "other/?recurse", "DELETE").body, "true");
  EXPECT_EQ(Call(client, kv + "?recurse").status, 404);

  // cas: 0 creates only if absent; N updates only at ModifyIndex N.
  EXPECT_EQ(Call(client, kv + "c?cas=0", "PUT", "1").body, "true");
  EXPECT_EQ(Call(client, kv + "c?cas=0", "PUT", "2").body, "false");
  uint64_t c_index = Call(client, kv + "c").index;
  EXPECT_EQ(Call(client, kv + absl::StrCat("c?cas=", c_index), "PUT", "3").body, "true");
  EXPECT_EQ(Call(client, kv + "c?raw").body, "3");
}

TEST(ConsulFakeTest, KvValueLimit) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  HttpClient client;
  const std::string url = server->address() + "/v1/kv/big";
  EXPECT_EQ(Call(client, url, "PUT", std::string(512 * 1024, 'x')).status, 200);
  Reply too_big = Call(client, url, "PUT", std::string(512 * 1024 + 1, 'x'));
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(too_big.body, "Value exceeds 524288 byte limit");
  EXPECT_EQ(Call(client, url + "?raw").body.size(), 512u * 1024);
}

TEST(ConsulFakeTest, BlockingQueryReturnsAtOnceWithoutIndex) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  server->PutKV("app/a", "1");
  HttpClient client;
  const std::string url = server->address() + "/v1/kv/app/?recurse&wait=5s";
  Reply r = Call(client, url + "&index=0");
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(r.elapsed, absl::Seconds(1));
  Reply stale = Call(client, url + "&index=1");  // older than the data
  EXPECT_LT(stale.elapsed, absl::Seconds(1));
  EXPECT_EQ(Call(client, url).index, r.index);
  EXPECT_EQ(server->RequestsWithIndexZero("/v1/kv/"), 2);
  EXPECT_EQ(server->RequestCount("/v1/kv/app"), 3);
  EXPECT_EQ(server->RequestCount("/v1/health"), 0);
  EXPECT_EQ(server->ConnectionsSeen(), 1);  // keep-alive reuse
}

TEST(ConsulFakeTest, BlockingQueryWakesOnWrite) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  server->PutKV("app/a", "1");
  HttpClient client;
  const std::string url = server->address() + "/v1/kv/app/?recurse";
  const uint64_t index = Call(client, url).index;
  Reply r;
  {
    Later write(absl::Milliseconds(200), [&] { server->PutKV("app/b", "2"); });
    r = Call(client, absl::StrCat(url, "&index=", index, "&wait=5s"));
  }
  EXPECT_GE(r.elapsed, absl::Milliseconds(150));
  EXPECT_LT(r.elapsed, absl::Seconds(5));
  EXPECT_GT(r.index, index);
  EXPECT_THAT(Keys(r.body), ElementsAre("app/a", "app/b"));
}

TEST(ConsulFakeTest, BlockingQueryTimesOutWithSameIndexDespiteUnrelatedWrites) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  server->PutKV("app/a", "1");
  HttpClient client;
  const std::string url = server->address() + "/v1/kv/app/?recurse";
  Reply first = Call(client, url);
  Reply r;
  {
    // Other keys change: the Raft index moves, this query's does not.
    Later write(absl::Milliseconds(100), [&] { server->PutKV("elsewhere", "x"); });
    r = Call(client, absl::StrCat(url, "&index=", first.index, "&wait=300ms"));
  }
  EXPECT_GE(r.elapsed, absl::Milliseconds(300));
  EXPECT_LT(r.elapsed, absl::Milliseconds(300 * 17 / 16 + 700));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.index, first.index);
  EXPECT_EQ(r.body, first.body);
  EXPECT_GT(server->Index(), first.index);
}

TEST(ConsulFakeTest, WakeBlockingQueriesAnswersWithSameIndex) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  HttpClient client;
  const std::string url = server->address() + "/v1/catalog/services";
  const uint64_t index = Call(client, url).index;
  Reply r;
  {
    Later wake(absl::Milliseconds(200), [&] { server->WakeBlockingQueries(); });
    r = Call(client, absl::StrCat(url, "?index=", index, "&wait=5s"));
  }
  EXPECT_LT(r.elapsed, absl::Seconds(3));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.index, index);
}

TEST(ConsulFakeTest, ResetIndexGoesBackwards) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  for (int i = 0; i < 10; ++i) server->PutKV(absl::StrCat("app/", i), "v");
  HttpClient client;
  const std::string url = server->address() + "/v1/kv/app/?recurse";
  Reply before = Call(client, url);
  EXPECT_EQ(before.index, 20u);
  // A query blocked on the old index is answered at once with the new one.
  Reply r;
  {
    Later reset(absl::Milliseconds(200), [&] { server->ResetIndex(5); });
    r = Call(client, absl::StrCat(url, "&index=", before.index, "&wait=5s"));
  }
  EXPECT_LT(r.elapsed, absl::Seconds(3));
  EXPECT_EQ(r.index, 5u);
  EXPECT_EQ(Keys(r.body), Keys(before.body));
  EXPECT_EQ(server->Index(), 5u);
  // Order is kept: app/0 was written before app/9.
  rapidjson::Document d = Parse(r.body);
  EXPECT_LT(d[0]["ModifyIndex"].GetUint64(), d[9]["ModifyIndex"].GetUint64());
  // A client that keeps the old index waits out the whole wait: why clients
  // must reset to 0 when the index goes down.
  Reply stuck = Call(client, absl::StrCat(url, "&index=", before.index, "&wait=200ms"));
  EXPECT_GE(stuck.elapsed, absl::Milliseconds(200));
  EXPECT_EQ(stuck.index, 5u);
  EXPECT_EQ(server->PutKV("app/new", "v"), 6u);
}

TEST(ConsulFakeTest, AclToken) {
  FakeConsulServer::Options o;
  o.acl_token = "secret";
  auto server = StartFake(o);
  ASSERT_NE(server, nullptr);
  HttpClient client;
  const std::string url = server->address() + "/v1/kv/a";
  Reply anonymous = Call(client, url, "PUT", "1");
  EXPECT_EQ(anonymous.status, 403);
  EXPECT_EQ(anonymous.body, "Permission denied");
  Reply wrong = Call(client, url, "GET", "", {{"X-Consul-Token", "nope"}});
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(wrong.body, "ACL not found");
  EXPECT_EQ(Call(client, url, "PUT", "1", {{"X-Consul-Token", "secret"}}).status, 200);
  EXPECT_EQ(Call(client, url, "GET", "", {{"X-Consul-Token", "secret"}}).status, 200);
  EXPECT_EQ(Call(client, url + "?token=secret").status, 200);
  EXPECT_EQ(Call(client, url, "GET", "", {{"Authorization", "Bearer secret"}}).status, 200);
  EXPECT_EQ(Call(client, server->address() + "/v1/catalog/services").status, 403);
}

TEST(ConsulFakeTest, HealthFiltersAndIndex) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  FakeConsulServer::ServiceInstance a;
  a.node = "node1";
  a.node_address = "10.0.0.1";
  a.node_meta = {{"rack", "r1"}};
  a.id = "api-1";
  a.name = "api";
  a.tags = {"a", "b"};
  a.port = 8080;
  a.meta = {{"version", "1"}};
  FakeConsulServer::ServiceInstance b = a;
  b.node = "node2";
  b.node_address = "10.0.0.2";
  b.id = "api-2";
  b.tags = {"A"};
  b.address = "10.1.0.2";
  b.status = "critical";
  FakeConsulServer::ServiceInstance c = a;
  c.id = "api-0";
  c.tags = {"b"};
  c.status = "warning";
  for (const auto& s : {b, a, c}) ASSERT_TRUE(server->RegisterService(s).ok());

  HttpClient client;
  const std::string url = server->address() + "/v1/health/service/api";
  Reply all = Call(client, url);
  ASSERT_EQ(all.status, 200);
  EXPECT_THAT(Instances(all.body), ElementsAre("node1/api-0", "node1/api-1", "node2/api-2"));
  EXPECT_EQ(all.index, server->Index());
  rapidjson::Document d = Parse(all.body);
  const rapidjson::Value& e = d[1];
  EXPECT_STREQ(e["Node"]["Address"].GetString(), "10.0.0.1");
  EXPECT_STREQ(e["Node"]["Datacenter"].GetString(), "dc1");
  EXPECT_STREQ(e["Node"]["Meta"]["rack"].GetString(), "r1");
  EXPECT_STREQ(e["Service"]["Address"].GetString(), "");
  EXPECT_EQ(e["Service"]["Port"].GetInt(), 8080);
  EXPECT_STREQ(e["Service"]["Meta"]["version"].GetString(), "1");
  EXPECT_EQ(e["Service"]["Tags"].Size(), 2u);
  ASSERT_EQ(e["Checks"].Size(), 2u);
  EXPECT_STREQ(e["Checks"][0]["CheckID"].GetString(), "serfHealth");
  EXPECT_STREQ(e["Checks"][1]["CheckID"].GetString(), "service:api-1");
  EXPECT_STREQ(e["Checks"][1]["Status"].GetString(), "passing");
  EXPECT_STREQ(d[2]["Service"]["Address"].GetString(), "10.1.0.2");

  EXPECT_THAT(Instances(Call(client, url + "?passing").body), ElementsAre("node1/api-1"));
  EXPECT_THAT(Instances(Call(client, url + "?passing=1").body), ElementsAre("node1/api-1"));
  EXPECT_EQ(Instances(Call(client, url + "?passing=false").body).size(), 3u);
  EXPECT_EQ(Call(client, url + "?passing=maybe").status, 400);
  // Tags: every one must match, case-insensitively, as Consul compares.
  EXPECT_THAT(Instances(Call(client, url + "?tag=a").body),
              ElementsAre("node1/api-1", "node2/api-2"));
  EXPECT_THAT(Instances(Call(client, url + "?tag=a&tag=b").body), ElementsAre("node1/api-1"));
  EXPECT_THAT(Instances(Call(client, url + "?tag=b&passing=true").body),
              ElementsAre("node1/api-1"));
  Reply unknown = Call(client, server->address() + "/v1/health/service/nope");
  EXPECT_EQ(unknown.status, 200);
  EXPECT_EQ(unknown.body, "[]");

  // A KV write does not move the service's index; a health change does, and
  // wakes a query blocked on it.
  server->PutKV("k", "v");
  EXPECT_EQ(Call(client, url).index, all.index);
  Reply woken;
  {
    Later heal(absl::Milliseconds(200),
               [&] { EXPECT_TRUE(server->SetHealth("api-2", "passing").ok()); });
    woken = Call(client, absl::StrCat(url, "?passing&index=", all.index, "&wait=5s"));
  }
  EXPECT_LT(woken.elapsed, absl::Seconds(3));
  EXPECT_GT(woken.index, all.index);
  EXPECT_THAT(Instances(woken.body), ElementsAre("node1/api-1", "node2/api-2"));
  // Re-registering an identical instance changes nothing.
  ASSERT_TRUE(server->RegisterService(a).ok());
  EXPECT_EQ(Call(client, url).index, woken.index);
  // A failing node takes its services out of ?passing.
  ASSERT_TRUE(server->SetNodeHealth("node1", "critical").ok());
  EXPECT_THAT(Instances(Call(client, url + "?passing").body), ElementsAre("node2/api-2"));

  // Deregistering the last instance moves the index (extinction).
  const uint64_t before = Call(client, url).index;
  for (const char* id : {"api-0", "api-1", "api-2"})
    ASSERT_TRUE(server->DeregisterService(id).ok());
  Reply none = Call(client, url);
  EXPECT_EQ(none.body, "[]");
  EXPECT_GT(none.index, before);
  EXPECT_EQ(server->DeregisterService("api-1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(server->SetHealth("api-1", "passing").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(server->SetHealth("x", "sick").code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConsulFakeTest, CatalogServices) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  FakeConsulServer::ServiceInstance s;
  s.id = "api-1";
  s.name = "api";
  s.tags = {"b", "a"};
  s.port = 80;
  ASSERT_TRUE(server->RegisterService(s).ok());
  s.id = "api-2";
  s.tags = {"a"};
  ASSERT_TRUE(server->RegisterService(s).ok());
  HttpClient client;
  const std::string url = server->address() + "/v1/catalog/services";
  Reply r = Call(client, url);
  EXPECT_EQ(r.body, R"({"api":["a","b"],"consul":[]})");
  EXPECT_EQ(r.index, server->Index());
  // Health changes are not catalog changes.
  ASSERT_TRUE(server->SetHealth("api-1", "critical").ok());
  EXPECT_EQ(Call(client, url).index, r.index);
  EXPECT_EQ(Call(client, url + "?dc=dc1").status, 200);
  Reply other_dc = Call(client, url + "?dc=other");
  EXPECT_EQ(other_dc.status, 500);
  EXPECT_EQ(other_dc.body, "No path to datacenter");
  EXPECT_EQ(Call(client, server->address() + "/v1/health/service/api?dc=dc2").status, 500);
}

TEST(ConsulFakeTest, FailNextAndBadParameters) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  HttpClient client;
  const std::string url = server->address() + "/v1/kv/?recurse";
  server->FailNext(2, 500);
  EXPECT_EQ(Call(client, url).status, 500);
  EXPECT_EQ(Call(client, url).status, 500);
  EXPECT_EQ(Call(client, url).status, 404);
  server->FailNext(1, 429);
  Reply limited = Call(client, url);
  EXPECT_EQ(limited.status, 429);
  EXPECT_THAT(limited.body, HasSubstr("rate limit"));
  EXPECT_EQ(server->RequestCount("/v1/kv/"), 4);
  EXPECT_EQ(Call(client, url + "&wait=abc").status, 400);
  EXPECT_EQ(Call(client, url + "&index=-1").status, 400);
  EXPECT_EQ(Call(client, url + "&index=1&wait=1.5ms").status, 404);  // Go duration syntax
  EXPECT_EQ(Call(client, server->address() + "/v1/kv/x", "POST").status, 405);
  EXPECT_THAT(server->RequestLog(), testing::Contains("POST /v1/kv/x"));
}

TEST(ConsulFakeTest, StallNextHoldsUntilTheClientGivesUp) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  HttpClient client;
  server->PutKV("k", "v");
  const std::string url = server->address() + "/v1/kv/?recurse";
  server->StallNext(1);
  // Not a blocking query: not stalled.
  EXPECT_EQ(Call(client, url).status, 200);
  HttpRequest r;
  r.url = absl::StrCat(url, "&index=1&wait=5s");  // would answer at once
  r.timeout = absl::Milliseconds(500);
  absl::Time start = absl::Now();
  auto stalled = client.Do(r);
  EXPECT_EQ(stalled.status().code(), absl::StatusCode::kDeadlineExceeded) << stalled.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // The next one is served again.
  r.timeout = absl::Seconds(5);
  auto next = client.Do(r);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->status, 200);
}

TEST(ConsulFakeTest, DropConnectionsAndShutdownCutBlockedQueries) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  const std::string url = server->address() + "/v1/kv/?recurse";
  const uint64_t index = [&] {
    HttpClient probe;
    return Call(probe, url).index;
  }();
  HttpRequest r;
  r.url = absl::StrCat(url, "&index=", index, "&wait=5s");
  r.timeout = absl::Seconds(8);
  absl::Time start = absl::Now();
  {
    // A fresh client: on a reused connection libcurl would silently resend
    // the request after the drop (see the next test).
    HttpClient client;
    Later drop(absl::Milliseconds(200), [&] { server->DropConnections(); });
    auto dropped = client.Do(r);
    EXPECT_EQ(dropped.status().code(), absl::StatusCode::kUnavailable) << dropped.status();
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));

  // Destroying the server releases a query blocked for minutes.
  start = absl::Now();
  r.url = absl::StrCat(url, "&index=", index, "&wait=10m");
  {
    HttpClient client;
    Later stop(absl::Milliseconds(200), [&] { server.reset(); });
    EXPECT_FALSE(client.Do(r).ok());
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(server, nullptr);
}

// A keep-alive connection that dies before any byte of the answer: libcurl
// usually resends the request on a new connection, so the drop is invisible
// to the caller (a whole wait, three requests, two connections); but when
// the close reaches it at the wrong moment it reports "Empty reply from
// server" instead (seen in loaded parallel runs, once after resending into
// the same drop). Consul clients
// must live with both, and the source retries an error anyway; what must
// never happen is a hang or a half answer taken for a whole one.
TEST(ConsulFakeTest, DropOnReusedConnectionIsRetriedByLibcurlOrReported) {
  auto server = StartFake();
  ASSERT_NE(server, nullptr);
  HttpClient client;
  const std::string url = server->address() + "/v1/kv/?recurse";
  const uint64_t index = Call(client, url).index;
  absl::StatusOr<HttpResponse> resp;
  const absl::Time start = absl::Now();
  {
    Later drop(absl::Milliseconds(200), [&] { server->DropConnections(); });
    HttpRequest r;
    r.url = absl::StrCat(url, "&index=", index, "&wait=600ms");
    r.timeout = absl::Seconds(8);
    resp = client.Do(r);
  }
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_LT(elapsed, absl::Seconds(5));
  if (resp.ok()) {
    EXPECT_EQ(resp->status, 404);
    EXPECT_GE(elapsed, absl::Milliseconds(750));  // the drop, then a whole wait
    EXPECT_EQ(server->RequestCount("/v1/kv/"), 3);
    EXPECT_EQ(server->ConnectionsSeen(), 2);
  } else {
    EXPECT_EQ(resp.status().code(), absl::StatusCode::kUnavailable) << resp.status();
    // Reported at once, or after a resend that met the same drop.
    EXPECT_GE(server->RequestCount("/v1/kv/"), 2);
    EXPECT_LE(server->RequestCount("/v1/kv/"), 3);
  }
}

TEST(ConsulFakeTest, ServesTls) {
  FakeConsulServer::Options o;
  o.tls = true;
  auto server = StartFake(o);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->address().rfind("https://127.0.0.1:", 0), 0u);
  server->PutKV("k", "v");
  TlsOptions tls;
  tls.ca_pem = server->ca_pem();
  HttpClient client(tls);
  EXPECT_EQ(Call(client, server->address() + "/v1/kv/k?raw").body, "v");
}

}  // namespace
}  // namespace promconf
