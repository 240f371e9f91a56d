// Pins the fake Kubernetes API server's behaviour (and the HTTP test server
// under it) through the project's own HttpClient over TLS with a bearer
// token: the Kubernetes source's tests rely on these semantics.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/fakes/http_test_server.h"
#include "tests/fakes/kube_apiserver.h"
#include "util/http_client.h"

namespace promconf {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

rapidjson::Document Parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.data(), s.size());
  EXPECT_FALSE(d.HasParseError()) << s;
  return d;
}

std::string Str(const rapidjson::Value& v, const char* a, const char* b = nullptr) {
  if (!v.IsObject() || !v.HasMember(a)) return "";
  const rapidjson::Value& x = v[a];
  if (b == nullptr) return x.IsString() ? x.GetString() : "";
  if (!x.IsObject() || !x.HasMember(b) || !x[b].IsString()) return "";
  return x[b].GetString();
}

struct WatchEvent {
  std::string type, name, rv;
  int code = 0;  // ERROR events
  std::string reason;
  std::string raw;
};

std::vector<WatchEvent> ParseEvents(const std::string& body) {
  std::vector<WatchEvent> out;
  for (absl::string_view line : absl::StrSplit(body, '\n', absl::SkipEmpty())) {
    rapidjson::Document d;
    d.Parse(line.data(), line.size());
    EXPECT_FALSE(d.HasParseError()) << line;
    if (d.HasParseError()) continue;
    WatchEvent e;
    e.raw = std::string(line);
    e.type = Str(d, "type");
    const rapidjson::Value& o = d["object"];
    e.name = Str(o, "metadata", "name");
    e.rv = Str(o, "metadata", "resourceVersion");
    if (o.HasMember("code")) e.code = o["code"].GetInt();
    e.reason = Str(o, "reason");
    out.push_back(e);
  }
  return out;
}

std::vector<std::string> Types(const std::vector<WatchEvent>& events, bool with_bookmarks = false) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    if (e.type == "BOOKMARK" && !with_bookmarks) continue;
    out.push_back(e.type + (e.name.empty() ? "" : " " + e.name));
  }
  return out;
}

class KubeFakeTest : public ::testing::Test {
 protected:
  void StartServer(FakeKubeApiServer::Options options = {}) {
    options.bookmark_interval = absl::Milliseconds(200);
    auto s = FakeKubeApiServer::Start(options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(s).value();
    tls_.ca_pem = server_->ca_pem();
    client_ = std::make_unique<HttpClient>(tls_);
  }
  void SetUp() override { StartServer(); }

  HttpRequest Req(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::string& content_type = "application/json") {
    HttpRequest r;
    r.method = method;
    r.url = server_->url() + path;
    r.body = body;
    r.timeout = absl::Seconds(20);
    r.headers.emplace_back("Authorization", "Bearer " + token_);
    if (!body.empty()) r.headers.emplace_back("Content-Type", content_type);
    return r;
  }

  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body = "",
                    const std::string& content_type = "application/json") {
    auto r = client_->Do(Req(method, path, body, content_type));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResponse{};
  }

  std::string CreateCm(const std::string& ns, const std::string& name,
                       const std::string& labels_json = "{}",
                       const std::string& data_json = R"({"k":"v"})") {
    HttpResponse r = Call("POST", "/api/v1/namespaces/" + ns + "/configmaps",
                          absl::StrCat(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")",
                                       name, R"(","labels":)", labels_json, R"(},"data":)",
                                       data_json, "}"));
    EXPECT_EQ(r.status, 201) << r.body;
    return Str(Parse(r.body), "metadata", "resourceVersion");
  }

  std::vector<std::string> ListNames(const std::string& path) {
    HttpResponse r = Call("GET", path);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> names;
    rapidjson::Document d = Parse(r.body);
    if (!d.IsObject() || !d.HasMember("items")) return names;
    for (const auto& item : d["items"].GetArray()) {
      names.push_back(Str(item, "metadata", "namespace") + "/" + Str(item, "metadata", "name"));
    }
    return names;
  }

  // A watch that ends by itself after timeout_s seconds.
  std::vector<WatchEvent> WatchFor(const std::string& path_and_query, int timeout_s = 1) {
    HttpResponse r = Call("GET", absl::StrCat(path_and_query, "&watch=1&timeoutSeconds=", timeout_s));
    EXPECT_EQ(r.status, 200) << r.body;
    return ParseEvents(r.body);
  }

  std::string token_ = "test-token";
  TlsOptions tls_;
  std::unique_ptr<FakeKubeApiServer> server_;
  std::unique_ptr<HttpClient> client_;
};

// Collects a long-running watch stream on its own thread and client.
class BackgroundWatch {
 public:
  BackgroundWatch(const TlsOptions& tls, HttpRequest req) : client_(tls) {
    req.timeout = absl::ZeroDuration();
    thread_ = std::thread([this, req] {
      auto r = client_.Stream(req, [this](absl::string_view data) {
        absl::MutexLock l(&mu_);
        data_.append(data.data(), data.size());
        return true;
      });
      absl::MutexLock l(&mu_);
      result_ = r.status();
      done_ = true;
    });
  }
  ~BackgroundWatch() {
    client_.Cancel();
    thread_.join();
  }
  // Waits until the stream holds a line containing `needle`.
  bool WaitFor(const std::string& needle, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock l(&mu_);
    auto has = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return data_.find(needle) != std::string::npos;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&has), timeout);
  }
  bool WaitDone(absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock l(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }
  std::string data() {
    absl::MutexLock l(&mu_);
    return data_;
  }
  absl::Status result() {
    absl::MutexLock l(&mu_);
    return result_;
  }

 private:
  HttpClient client_;
  absl::Mutex mu_;
  std::string data_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status result_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

TEST_F(KubeFakeTest, DiscoveryAndVersion) {
  HttpResponse v = Call("GET", "/version");
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(Str(Parse(v.body), "gitVersion"), "v1.31.0");
  EXPECT_THAT(Call("GET", "/api/v1").body, HasSubstr(R"("name":"configmaps")"));
  EXPECT_THAT(Call("GET", "/apis").body, HasSubstr("coordination.k8s.io/v1"));
  EXPECT_THAT(Call("GET", "/apis/coordination.k8s.io/v1").body, HasSubstr(R"("kind":"Lease")"));
  EXPECT_EQ(Call("GET", "/openapi/v2").status, 404);
}

TEST_F(KubeFakeTest, CrudWithResourceVersions) {
  std::string rv1 = CreateCm("ns1", "a");
  EXPECT_FALSE(rv1.empty());
  EXPECT_EQ(std::to_string(server_->resource_version()), rv1);

  HttpResponse dup = Call("POST", "/api/v1/namespaces/ns1/configmaps",
                          R"({"metadata":{"name":"a"},"data":{}})");
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(Str(Parse(dup.body), "reason"), "AlreadyExists");

  HttpResponse got = Call("GET", "/api/v1/namespaces/ns1/configmaps/a");
  ASSERT_EQ(got.status, 200);
  rapidjson::Document d = Parse(got.body);
  EXPECT_EQ(Str(d, "kind"), "ConfigMap");
  EXPECT_EQ(Str(d, "metadata", "namespace"), "ns1");
  EXPECT_FALSE(Str(d, "metadata", "uid").empty());
  EXPECT_FALSE(Str(d, "metadata", "creationTimestamp").empty());

  // Update with the current RV succeeds and bumps it; the old RV is stale.
  HttpResponse put = Call("PUT", "/api/v1/namespaces/ns1/configmaps/a",
                          absl::StrCat(R"({"metadata":{"name":"a","resourceVersion":")", rv1,
                                       R"("},"data":{"k":"v2"}})"));
  ASSERT_EQ(put.status, 200) << put.body;
  std::string rv2 = Str(Parse(put.body), "metadata", "resourceVersion");
  EXPECT_GT(std::stoll(rv2), std::stoll(rv1));
  EXPECT_EQ(Str(Parse(put.body), "metadata", "uid"), Str(d, "metadata", "uid"));
  HttpResponse stale = Call("PUT", "/api/v1/namespaces/ns1/configmaps/a",
                            absl::StrCat(R"({"metadata":{"name":"a","resourceVersion":")", rv1,
                                         R"("},"data":{"k":"v3"}})"));
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(Str(Parse(stale.body), "reason"), "Conflict");

  // Merge patch: null deletes a key.
  HttpResponse patch = Call("PATCH", "/api/v1/namespaces/ns1/configmaps/a",
                            R"({"data":{"k":null,"n":"1"},"$retainKeys":["data"]})",
                            "application/strategic-merge-patch+json");
  ASSERT_EQ(patch.status, 200) << patch.body;
  rapidjson::Document p = Parse(patch.body);
  EXPECT_FALSE(p["data"].HasMember("k"));
  EXPECT_EQ(Str(p, "data", "n"), "1");
  EXPECT_EQ(Call("PATCH", "/api/v1/namespaces/ns1/configmaps/a", "[]",
                 "application/json-patch+json").status,
            400);

  // A no-op update keeps the resourceVersion.
  int64_t before = server_->resource_version();
  ASSERT_EQ(Call("PUT", "/api/v1/namespaces/ns1/configmaps/a", patch.body).status, 200);
  EXPECT_EQ(server_->resource_version(), before);

  HttpResponse del = Call("DELETE", "/api/v1/namespaces/ns1/configmaps/a");
  EXPECT_EQ(del.status, 200);
  EXPECT_EQ(Str(Parse(del.body), "status"), "Success");
  HttpResponse gone = Call("GET", "/api/v1/namespaces/ns1/configmaps/a");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(Str(Parse(gone.body), "kind"), "Status");
  EXPECT_EQ(Str(Parse(gone.body), "reason"), "NotFound");
  EXPECT_EQ(Call("DELETE", "/api/v1/namespaces/ns1/configmaps/a").status, 404);
}

TEST_F(KubeFakeTest, SecretsLeasesAndEvents) {
  ASSERT_TRUE(server_->ApplySecret("ns", "s", {{"a", "b"}}, {{"pw", "hunter2"}}).ok());
  auto s = server_->GetObjectJson("secrets", "ns", "s");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Str(Parse(*s), "data", "pw"), "aHVudGVyMg==");
  HttpResponse sd = Call("POST", "/api/v1/namespaces/ns/secrets",
                         R"({"metadata":{"name":"t"},"stringData":{"x":"y"}})");
  ASSERT_EQ(sd.status, 201);
  EXPECT_EQ(Str(Parse(sd.body), "data", "x"), "eQ==");

  HttpResponse lease = Call("POST", "/apis/coordination.k8s.io/v1/namespaces/ns/leases",
                            R"({"metadata":{"name":"promconf"},"spec":{"holderIdentity":"a",)"
                            R"("leaseDurationSeconds":15}})");
  ASSERT_EQ(lease.status, 201) << lease.body;
  rapidjson::Document l = Parse(lease.body);
  EXPECT_EQ(Str(l, "apiVersion"), "coordination.k8s.io/v1");
  EXPECT_EQ(Str(l, "spec", "holderIdentity"), "a");
  // Two candidates update from the same RV: the second loses with 409.
  std::string rv = Str(l, "metadata", "resourceVersion");
  auto take = [&](const std::string& who) {
    return Call("PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/promconf",
                absl::StrCat(R"({"metadata":{"name":"promconf","resourceVersion":")", rv,
                             R"("},"spec":{"holderIdentity":")", who, R"("}})"))
        .status;
  };
  EXPECT_EQ(take("b"), 200);
  EXPECT_EQ(take("c"), 409);

  ASSERT_EQ(Call("POST", "/api/v1/namespaces/ns/events",
                 R"({"metadata":{"generateName":"promconf-"},"reason":"Reloaded"})")
                .status,
            201);
  std::vector<std::string> events = server_->EventsJson();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(Str(Parse(events[0]), "reason"), "Reloaded");
  EXPECT_THAT(Str(Parse(events[0]), "metadata", "name"), HasSubstr("promconf-"));
}

TEST_F(KubeFakeTest, AuthAndTokenRotation) {
  HttpRequest r = Req("GET", "/api/v1/configmaps");
  r.headers.clear();
  auto resp = client_->Do(r);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 401);
  EXPECT_EQ(Str(Parse(resp->body), "reason"), "Unauthorized");

  EXPECT_EQ(Call("GET", "/api/v1/configmaps").status, 200);
  server_->SetToken("rotated");
  EXPECT_EQ(Call("GET", "/api/v1/configmaps").status, 401);
  token_ = "rotated";
  EXPECT_EQ(Call("GET", "/api/v1/configmaps").status, 200);
}

TEST_F(KubeFakeTest, UntrustedCaIsRejected) {
  HttpClient plain;  // system CAs only
  HttpRequest r = Req("GET", "/version");
  EXPECT_FALSE(plain.Do(r).ok());
}

TEST_F(KubeFakeTest, LabelAndFieldSelectors) {
  CreateCm("a", "frag1", R"({"promconf.io/fragment":"true","tier":"web"})");
  CreateCm("a", "frag2", R"({"promconf.io/fragment":"true","tier":"db"})");
  CreateCm("b", "other", R"({"tier":"web"})");
  CreateCm("b", "bare");
  auto list = [&](const std::string& sel) {
    return ListNames("/api/v1/configmaps?labelSelector=" + UrlEncode(sel));
  };
  EXPECT_THAT(list("promconf.io/fragment=true"), ElementsAre("a/frag1", "a/frag2"));
  EXPECT_THAT(list("promconf.io/fragment==true"), ElementsAre("a/frag1", "a/frag2"));
  EXPECT_THAT(list("tier!=web"), ElementsAre("a/frag2", "b/bare"));
  EXPECT_THAT(list("tier in (web, db)"), ElementsAre("a/frag1", "a/frag2", "b/other"));
  EXPECT_THAT(list("tier notin (web)"), ElementsAre("a/frag2", "b/bare"));
  EXPECT_THAT(list("tier"), ElementsAre("a/frag1", "a/frag2", "b/other"));
  EXPECT_THAT(list("!tier"), ElementsAre("b/bare"));
  EXPECT_THAT(list("tier=web,promconf.io/fragment"), ElementsAre("a/frag1"));
  EXPECT_THAT(ListNames("/api/v1/namespaces/b/configmaps"), ElementsAre("b/bare", "b/other"));
  EXPECT_THAT(ListNames("/api/v1/configmaps?fieldSelector=metadata.name%3Dother"),
              ElementsAre("b/other"));
  EXPECT_THAT(ListNames("/api/v1/configmaps?fieldSelector=metadata.namespace%21%3Da"),
              ElementsAre("b/bare", "b/other"));
  EXPECT_EQ(Call("GET", "/api/v1/configmaps?labelSelector=" + UrlEncode("a in (b")).status, 400);
}

TEST_F(KubeFakeTest, PagingWithContinueIsAConsistentSnapshot) {
  for (int i = 0; i < 7; ++i) CreateCm("p", absl::StrCat("cm", i));
  HttpResponse p1 = Call("GET", "/api/v1/namespaces/p/configmaps?limit=3");
  rapidjson::Document d1 = Parse(p1.body);
  ASSERT_EQ(d1["items"].Size(), 3u);
  std::string cont = Str(d1, "metadata", "continue");
  ASSERT_FALSE(cont.empty());
  EXPECT_EQ(d1["metadata"]["remainingItemCount"].GetInt(), 4);
  std::string list_rv = Str(d1, "metadata", "resourceVersion");

  // Changes after the first page do not show in later pages.
  ASSERT_TRUE(server_->DeleteConfigMap("p", "cm5").ok());
  CreateCm("p", "cm35");
  HttpResponse p2 = Call("GET", "/api/v1/namespaces/p/configmaps?limit=3&continue=" + cont);
  rapidjson::Document d2 = Parse(p2.body);
  ASSERT_EQ(p2.status, 200) << p2.body;
  EXPECT_EQ(Str(d2, "metadata", "resourceVersion"), list_rv);
  std::vector<std::string> names;
  for (const auto& i : d2["items"].GetArray()) names.push_back(Str(i, "metadata", "name"));
  EXPECT_THAT(names, ElementsAre("cm3", "cm4", "cm5"));
  std::string cont2 = Str(d2, "metadata", "continue");
  ASSERT_FALSE(cont2.empty());

  // Once the history window no longer covers the token's RV: 410.
  server_->ExpireHistory();
  HttpResponse p3 = Call("GET", "/api/v1/namespaces/p/configmaps?limit=3&continue=" + cont2);
  EXPECT_EQ(p3.status, 410);
  EXPECT_EQ(Str(Parse(p3.body), "reason"), "Expired");
}

TEST_F(KubeFakeTest, ListResourceVersionSemantics) {
  std::string rv = CreateCm("ns", "a");
  CreateCm("ns", "b");
  EXPECT_THAT(ListNames("/api/v1/configmaps?resourceVersion=0"), ElementsAre("ns/a", "ns/b"));
  EXPECT_THAT(ListNames("/api/v1/configmaps?resourceVersion=" + rv +
                        "&resourceVersionMatch=NotOlderThan"),
              ElementsAre("ns/a", "ns/b"));
  EXPECT_THAT(ListNames("/api/v1/configmaps?resourceVersion=" + rv + "&resourceVersionMatch=Exact"),
              ElementsAre("ns/a"));
  HttpResponse future = Call("GET", "/api/v1/configmaps?resourceVersion=999999");
  EXPECT_EQ(future.status, 504);
  EXPECT_THAT(future.body, HasSubstr("Too large resource version"));
  HttpResponse list = Call("GET", "/api/v1/configmaps");
  EXPECT_EQ(Str(Parse(list.body), "metadata", "resourceVersion"),
            std::to_string(server_->resource_version()));
  EXPECT_EQ(Str(Parse(list.body), "kind"), "ConfigMapList");
}

TEST_F(KubeFakeTest, WatchFromResourceVersionReplaysInOrder) {
  std::string rv = CreateCm("w", "a");
  CreateCm("w", "b");
  ASSERT_TRUE(server_->ApplyConfigMap("w", "a", {}, {{"k", "v2"}}).ok());
  ASSERT_TRUE(server_->DeleteConfigMap("w", "b").ok());
  CreateCm("other", "c");
  std::vector<WatchEvent> ev = WatchFor("/api/v1/namespaces/w/configmaps?resourceVersion=" + rv);
  EXPECT_THAT(Types(ev), ElementsAre("ADDED b", "MODIFIED a", "DELETED b"));
  for (size_t i = 1; i < ev.size(); ++i) EXPECT_LT(std::stoll(ev[i - 1].rv), std::stoll(ev[i].rv));

  // Without a resourceVersion: the current state as ADDED events.
  EXPECT_THAT(Types(WatchFor("/api/v1/configmaps?resourceVersion=0")),
              ElementsAre("ADDED c", "ADDED a"));
  EXPECT_THAT(Types(WatchFor("/api/v1/configmaps?fieldSelector=metadata.name%3Da")),
              ElementsAre("ADDED a"));
  // Streaming list: initial events end with an annotated bookmark.
  std::vector<WatchEvent> sl = WatchFor(
      "/api/v1/namespaces/w/configmaps?sendInitialEvents=true&allowWatchBookmarks=true&"
      "resourceVersionMatch=NotOlderThan&resourceVersion=");
  ASSERT_GE(sl.size(), 2u);
  EXPECT_EQ(sl[0].type, "ADDED");
  EXPECT_EQ(sl[1].type, "BOOKMARK");
  EXPECT_THAT(sl[1].raw, HasSubstr("k8s.io/initial-events-end"));
}

TEST_F(KubeFakeTest, LiveWatchSeesChangesAndLabelTransitions) {
  std::string rv = CreateCm("w", "x", R"({"app":"on"})");
  BackgroundWatch watch(tls_, Req("GET", "/api/v1/configmaps?watch=true&labelSelector=app%3Don&"
                                         "resourceVersion=" + rv));
  ASSERT_TRUE(server_->ApplyConfigMap("w", "x", {{"app", "on"}}, {{"k", "1"}}).ok());
  ASSERT_TRUE(watch.WaitFor(R"("type":"MODIFIED")"));
  ASSERT_TRUE(server_->ApplyConfigMap("w", "x", {{"app", "off"}}, {{"k", "1"}}).ok());
  ASSERT_TRUE(watch.WaitFor(R"("type":"DELETED")"));
  ASSERT_TRUE(server_->ApplyConfigMap("w", "x", {{"app", "on"}}, {{"k", "2"}}).ok());
  ASSERT_TRUE(watch.WaitFor(R"("type":"ADDED")"));
  EXPECT_THAT(Types(ParseEvents(watch.data())), ElementsAre("MODIFIED x", "DELETED x", "ADDED x"));
}

TEST_F(KubeFakeTest, BookmarksCarryOnlyTheResourceVersion) {
  CreateCm("w", "a");
  std::vector<WatchEvent> ev = WatchFor(
      absl::StrCat("/api/v1/configmaps?allowWatchBookmarks=true&resourceVersion=",
                   server_->resource_version()),
      2);
  int bookmarks = 0;
  for (const auto& e : ev) {
    ASSERT_EQ(e.type, "BOOKMARK");
    ++bookmarks;
    EXPECT_EQ(e.rv, std::to_string(server_->resource_version()));
    rapidjson::Document d = Parse(e.raw);
    EXPECT_EQ(Str(d["object"], "kind"), "ConfigMap");
    EXPECT_EQ(d["object"]["metadata"].MemberCount(), 1u) << e.raw;
  }
  EXPECT_GE(bookmarks, 2);
  // Not asked for, none sent.
  EXPECT_TRUE(WatchFor(absl::StrCat("/api/v1/configmaps?resourceVersion=",
                                    server_->resource_version()))
                  .empty());
}

TEST_F(KubeFakeTest, ExpiredHistoryAnswers410) {
  std::string rv = CreateCm("w", "a");
  CreateCm("w", "b");
  server_->ExpireHistory();
  std::vector<WatchEvent> ev = WatchFor("/api/v1/configmaps?resourceVersion=" + rv);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "ERROR");
  EXPECT_EQ(ev[0].code, 410);
  EXPECT_EQ(ev[0].reason, "Expired");
  // The current RV is still fine.
  EXPECT_TRUE(WatchFor(absl::StrCat("/api/v1/configmaps?resourceVersion=",
                                    server_->resource_version()))
                  .empty());
}

TEST(KubeFakeWindowTest, HistoryWindowIsBounded) {
  FakeKubeApiServer::Options o;
  o.tls = false;
  o.token = "";
  o.history_events = 3;
  auto s = FakeKubeApiServer::Start(o);
  ASSERT_TRUE(s.ok());
  FakeKubeApiServer& server = **s;
  EXPECT_EQ(server.url().rfind("http://", 0), 0u);
  int64_t start = server.resource_version();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(server.ApplyConfigMap("n", "c", {}, {{"i", std::to_string(i)}}).ok());
  HttpClient client;
  HttpRequest r;
  r.url = absl::StrCat(server.url(), "/api/v1/configmaps?watch=1&timeoutSeconds=1&resourceVersion=",
                       start);
  auto old = client.Do(r);
  ASSERT_TRUE(old.ok());
  EXPECT_THAT(old->body, HasSubstr(R"("code":410)"));
  r.url = absl::StrCat(server.url(), "/api/v1/configmaps?watch=1&timeoutSeconds=1&resourceVersion=",
                       server.resource_version() - 2);
  auto recent = client.Do(r);
  ASSERT_TRUE(recent.ok());
  EXPECT_THAT(Types(ParseEvents(recent->body)), ElementsAre("MODIFIED c", "MODIFIED c"));
}

TEST_F(KubeFakeTest, DropWatchesEndsStreams) {
  BackgroundWatch watch(tls_, Req("GET", absl::StrCat("/api/v1/configmaps?watch=1&resourceVersion=",
                                                      server_->resource_version())));
  CreateCm("d", "a");
  ASSERT_TRUE(watch.WaitFor("ADDED"));
  server_->DropWatches();
  ASSERT_TRUE(watch.WaitDone());
  // A new watch works again.
  EXPECT_TRUE(WatchFor(absl::StrCat("/api/v1/configmaps?resourceVersion=",
                                    server_->resource_version()))
                  .empty());
}

TEST_F(KubeFakeTest, StalledWatchTripsTheIdleDeadline) {
  HttpRequest req = Req("GET", absl::StrCat("/api/v1/configmaps?watch=1&resourceVersion=",
                                            server_->resource_version()));
  req.idle_timeout = absl::Seconds(1);
  BackgroundWatch watch(tls_, req);
  CreateCm("s", "a");
  ASSERT_TRUE(watch.WaitFor("ADDED"));
  server_->StallWatches();
  CreateCm("s", "b");
  ASSERT_TRUE(watch.WaitDone(absl::Seconds(15)));
  EXPECT_EQ(watch.result().code(), absl::StatusCode::kDeadlineExceeded) << watch.result();
  EXPECT_EQ(watch.data().find(R"("name":"b")"), std::string::npos);
  // Watches opened after the stall are served.
  EXPECT_THAT(Types(WatchFor("/api/v1/namespaces/s/configmaps?resourceVersion=0")),
              ElementsAre("ADDED a", "ADDED b"));
}

TEST_F(KubeFakeTest, FailNextRequests) {
  server_->FailNextRequests(500, 2);
  HttpResponse a = Call("GET", "/api/v1/configmaps");
  EXPECT_EQ(a.status, 500);
  EXPECT_EQ(Str(Parse(a.body), "kind"), "Status");
  EXPECT_EQ(Parse(a.body)["code"].GetInt(), 500);
  EXPECT_EQ(Call("GET", "/api/v1/configmaps").status, 500);
  EXPECT_EQ(Call("GET", "/api/v1/configmaps").status, 200);
  server_->FailNextRequests(429, 1);
  HttpResponse t = Call("GET", "/api/v1/configmaps");
  EXPECT_EQ(t.status, 429);
  EXPECT_EQ(t.Header("retry-after"), "1");
  server_->FailNextRequests(410, 1);
  HttpResponse g = Call("GET", "/api/v1/configmaps");
  EXPECT_EQ(g.status, 410);
  EXPECT_EQ(Str(Parse(g.body), "reason"), "Expired");
  std::vector<std::string> log = server_->RequestLog();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back(), "GET /api/v1/configmaps");
}

TEST_F(KubeFakeTest, SplitWritesKeepJsonIntact) {
  const std::string text = "h\u00e9llo \u2603 \u65e5\u672c \U0001F600";
  server_->SplitWrites(3);
  ASSERT_TRUE(server_->ApplyConfigMap("u", "utf", {}, {{"t", text}}).ok());
  HttpResponse r = Call("GET", "/api/v1/namespaces/u/configmaps/utf");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Str(Parse(r.body), "data", "t"), text);
  std::vector<WatchEvent> ev = WatchFor("/api/v1/namespaces/u/configmaps?resourceVersion=0");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(Str(Parse(ev[0].raw)["object"], "data", "t"), text);
  server_->SplitWrites(0);
}

TEST_F(KubeFakeTest, RestartResetsResourceVersions) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(server_->ApplyConfigMap("r", "a", {}, {{"i", std::to_string(i)}}).ok());
  CreateCm("r", "b");
  int64_t before = server_->resource_version();
  std::string url = server_->url();
  ASSERT_TRUE(server_->Restart().ok());
  EXPECT_EQ(server_->url(), url);
  EXPECT_LT(server_->resource_version(), before);
  EXPECT_THAT(ListNames("/api/v1/namespaces/r/configmaps"), ElementsAre("r/a", "r/b"));
  // A watch from the pre-restart RV is now "in the future": 410, re-list.
  std::vector<WatchEvent> ev = WatchFor(absl::StrCat("/api/v1/configmaps?resourceVersion=", before));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].code, 410);
}

TEST_F(KubeFakeTest, WritesKubeconfig) {
  std::string path = ::testing::TempDir() + "/kubeconfig-unit";
  ASSERT_TRUE(server_->WriteKubeconfig(path).ok());
  FILE* f = fopen(path.c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buf[8192];
  size_t n = fread(buf, 1, sizeof(buf), f);
  fclose(f);
  std::string text(buf, n);
  EXPECT_THAT(text, HasSubstr("server: " + server_->url()));
  EXPECT_THAT(text, HasSubstr("token: test-token"));
  EXPECT_THAT(text, HasSubstr("certificate-authority-data: "));
}

// --- the HTTP test server itself, over a raw socket --------------------------

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return -1;
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// Reads until `needle` has been seen `count` times or the peer closes.
std::string ReadUntil(int fd, const std::string& needle, int count) {
  std::string out;
  char buf[4096];
  for (int i = 0; i < 1000; ++i) {
    size_t seen = 0;
    for (size_t p = out.find(needle); p != std::string::npos; p = out.find(needle, p + 1)) ++seen;
    if (static_cast<int>(seen) >= count) break;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST(HttpTestServerTest, ChunkedBodiesKeepAliveAndStreaming) {
  HttpTestServer server(HttpTestServer::Options{});
  server.Route("POST", "/echo", [](const HttpTestRequest& req, HttpTestResponse& resp) {
    resp.Send(200, "text/plain", absl::StrCat(req.Param("q"), ":", req.body, "|"));
  });
  server.Route("GET", "/stream", [](const HttpTestRequest&, HttpTestResponse& resp) {
    resp.StartChunked(200, "text/plain");
    resp.WriteChunk("one\n");
    resp.WriteChunk("two\n");
    resp.EndChunked();
  });
  ASSERT_TRUE(server.Start().ok());
  int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  std::string reqs =
      "POST /echo?q=a%20b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxy"
      "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(send(fd, reqs.data(), reqs.size(), 0), static_cast<ssize_t>(reqs.size()));
  std::string out = ReadUntil(fd, "HTTP/1.1 ", 4);
  out += ReadUntil(fd, "\x01", 1);  // to EOF: the last request asked to close
  close(fd);
  EXPECT_THAT(out, HasSubstr("a b:abcde|"));
  EXPECT_THAT(out, HasSubstr(":xy|"));
  EXPECT_THAT(out, HasSubstr("Transfer-Encoding: chunked\r\n\r\n4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\n"));
  EXPECT_THAT(out, HasSubstr("HTTP/1.1 404"));
  server.Stop();
}

TEST(HttpTestServerTest, SplitWritesAndTls) {
  auto certs = MakeTestCertificates();
  ASSERT_TRUE(certs.ok()) << certs.status();
  HttpTestServer::Options o;
  o.cert_pem = certs->cert_pem;
  o.key_pem = certs->key_pem;
  HttpTestServer server(o);
  std::string big(10000, 'z');
  server.Route("", "/", [&](const HttpTestRequest&, HttpTestResponse& resp) {
    resp.Send(200, "text/plain", big);
  });
  ASSERT_TRUE(server.Start().ok());
  server.SplitWrites(7);
  TlsOptions tls;
  tls.ca_pem = certs->ca_pem;
  HttpClient client(tls);
  HttpRequest r;
  r.url = server.url() + "/x";
  for (int i = 0; i < 3; ++i) {  // keep-alive reuse
    auto resp = client.Do(r);
    ASSERT_TRUE(resp.ok()) << resp.status();
    EXPECT_EQ(resp->body, big);
  }
  r.url = absl::StrCat("https://localhost:", server.port(), "/x");  // DNS SAN
  EXPECT_TRUE(client.Do(r).ok());
}

}  // namespace
}  // namespace promconf
