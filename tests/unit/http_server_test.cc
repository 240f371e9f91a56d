#include "metrics/http_server.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/http_client.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics_.SetSourceUp("kv", "etcd", true);
    HttpServer::Options options;
    options.listen_address = "127.0.0.1:0";
    auto server = HttpServer::Start(options, &metrics_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }

  HttpResponse Get(const std::string& path,
                   std::vector<std::pair<std::string, std::string>> headers = {},
                   const std::string& method = "GET") {
    HttpRequest req;
    req.method = method;
    req.url = server_->url() + path;
    req.headers = std::move(headers);
    req.timeout = absl::Seconds(10);
    auto resp = client_.Do(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : HttpResponse{};
  }

  Metrics metrics_;
  std::unique_ptr<HttpServer> server_;
  HttpClient client_;
};

TEST_F(HttpServerTest, MetricsServesTheTextFormat) {
  HttpResponse r = Get("/metrics", {{"Accept-Encoding", "identity"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.Header("content-encoding"), "");
  EXPECT_THAT(r.body, HasSubstr("promconf_source_up{source=\"kv\",type=\"etcd\"} 1"));
  EXPECT_THAT(r.body, HasSubstr("# TYPE process_open_fds gauge"));
  EXPECT_THAT(r.body, HasSubstr("promconf_build_info{"));
}

TEST_F(HttpServerTest, MetricsIsGzippedWhenAsked) {
  // libcurl decodes gzip itself: the header says it was compressed on the
  // wire, the body must be the same exposition.
  HttpResponse r = Get("/metrics", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-encoding"), "gzip");
  EXPECT_THAT(r.body, HasSubstr("promconf_source_up{source=\"kv\",type=\"etcd\"} 1"));
  EXPECT_THAT(r.body, HasSubstr("process_resident_memory_bytes"));

  HttpResponse refused = Get("/metrics", {{"Accept-Encoding", "gzip;q=0, identity"}});
  EXPECT_EQ(refused.Header("content-encoding"), "");
}

TEST(GzipTest, RoundTrip) {
  std::string text;
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&text, "metric_", i, "{a=\"b\"} ", i, "\n");
  auto gz = GzipCompress(text);
  ASSERT_TRUE(gz.ok());
  EXPECT_LT(gz->size(), text.size() / 4);
  EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>((*gz)[1]), 0x8b);
  auto back = GzipDecompress(*gz);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
  EXPECT_FALSE(GzipDecompress("not gzip").ok());
  auto empty = GzipCompress("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*GzipDecompress(*empty), "");
}

TEST_F(HttpServerTest, HealthzDefaultsToOkAndReportsTheStalledSource) {
  HttpResponse ok = Get("/healthz");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "ok\n");

  server_->SetHealthProvider(
      [] { return HealthReport{false, "source \"kv\" stalled: no progress for 5m0s"}; });
  HttpResponse bad = Get("/healthz");
  EXPECT_EQ(bad.status, 503);
  EXPECT_THAT(bad.body, HasSubstr("source \"kv\" stalled"));
}

TEST_F(HttpServerTest, ReadyzIsNotReadyUntilTheProviderSaysSo) {
  HttpResponse before = Get("/readyz");
  EXPECT_EQ(before.status, 503);
  EXPECT_THAT(before.body, HasSubstr("not ready"));

  std::atomic<bool> ready{false};
  server_->SetReadyProvider([&ready] {
    return ready.load() ? HealthReport{} : HealthReport{false, "source \"zk\" not synced"};
  });
  HttpResponse waiting = Get("/readyz");
  EXPECT_EQ(waiting.status, 503);
  EXPECT_THAT(waiting.body, HasSubstr("zk"));
  ready = true;
  HttpResponse done = Get("/readyz");
  EXPECT_EQ(done.status, 200);
  EXPECT_EQ(done.body, "ok\n");
}

TEST_F(HttpServerTest, DebugFragmentsIsJson) {
  HttpResponse empty = Get("/debug/fragments");
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.Header("content-type"), "application/json");
  EXPECT_EQ(empty.body, "[]");

  server_->SetFragmentsProvider([] {
    return std::string(R"([{"source":"kv","document":"a.rules.yml","kind":"rules",)"
                       R"("status":"accepted","error":"","bytes":12}])");
  });
  HttpResponse r = Get("/debug/fragments");
  EXPECT_THAT(r.body, HasSubstr("\"document\":\"a.rules.yml\""));
}

TEST_F(HttpServerTest, UnknownPathsAre404AndOtherMethods405) {
  EXPECT_EQ(Get("/").status, 404);
  EXPECT_EQ(Get("/metricsx").status, 404);
  EXPECT_EQ(Get("/debug").status, 404);
  EXPECT_EQ(Get("/metrics", {}, "POST").status, 405);
  HttpResponse head = Get("/healthz", {}, "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
}

TEST_F(HttpServerTest, ConcurrentScrapesAndProviderSwaps) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, &ok] {
      HttpClient client;
      for (int i = 0; i < 20; ++i) {
        HttpRequest req;
        req.url = server_->url() + (i % 2 ? "/metrics" : "/healthz");
        req.timeout = absl::Seconds(10);
        auto r = client.Do(req);
        if (r.ok() && (r->status == 200 || r->status == 503)) ok.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    server_->SetHealthProvider([i] { return HealthReport{i % 2 == 0, "x"}; });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST_F(HttpServerTest, StopClosesTheListener) {
  const std::string url = server_->url();
  server_->Stop();
  server_->Stop();  // idempotent
  HttpClient client;
  HttpRequest req;
  req.url = url + "/healthz";
  req.timeout = absl::Seconds(5);
  EXPECT_FALSE(client.Do(req).ok());
}

TEST(HttpServerStartTest, PortInUseIsAnErrorNamingTheAddress) {
  HttpServer::Options options;
  options.listen_address = "127.0.0.1:0";
  auto first = HttpServer::Start(options, nullptr);
  ASSERT_TRUE(first.ok()) << first.status();
  options.listen_address = absl::StrCat("127.0.0.1:", (*first)->port());
  auto second = HttpServer::Start(options, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(options.listen_address));
}

TEST(HttpServerStartTest, NullMetricsMeans404) {
  HttpServer::Options options;
  options.listen_address = "localhost:0";
  auto server = HttpServer::Start(options, nullptr);
  ASSERT_TRUE(server.ok()) << server.status();
  HttpClient client;
  HttpRequest req;
  req.url = (*server)->url() + "/metrics";
  auto r = client.Do(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
}

TEST(ListenAddressTest, TranslatesPrometheusStyleAddresses) {
  EXPECT_EQ(*HttpServer::ToCivetwebPorts(":8080"), "8080");
  EXPECT_EQ(*HttpServer::ToCivetwebPorts("0.0.0.0:9100"), "9100");
  EXPECT_EQ(*HttpServer::ToCivetwebPorts("127.0.0.1:0"), "127.0.0.1:0");
  EXPECT_EQ(*HttpServer::ToCivetwebPorts("localhost:8080"), "127.0.0.1:8080");
  EXPECT_EQ(*HttpServer::ToCivetwebPorts("[::1]:8080"), "[::1]:8080");
  for (const char* bad : {"", "8080", ":", ":http", ":70000", ":-1", "[zz]:80"}) {
    EXPECT_FALSE(HttpServer::ToCivetwebPorts(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace promconf
