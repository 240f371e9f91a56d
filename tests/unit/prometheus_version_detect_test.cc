// validation.prometheus_version "": the reload target's own release.

#include <string>

#include "controller/app.h"
#include "gtest/gtest.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/http_test_server.h"

namespace promconf {
namespace {

TEST(DetectPrometheusVersionTest, ReadsTheReloadTargetsBuildinfo) {
  HttpTestServer server({});
  server.Route("GET", "/api/v1/status/buildinfo", [](const HttpTestRequest&, HttpTestResponse& resp) {
    resp.Send(200, "application/json",
              R"({"status":"success","data":{"version":"2.42.0+ds","revision":"","branch":"debian/sid"}})");
  });
  ASSERT_TRUE(server.Start().ok());
  ReloadConfig reload;
  reload.url = server.url() + "/-/reload";
  EXPECT_EQ(DetectPrometheusVersion(reload), "2.42");
}

TEST(DetectPrometheusVersionTest, NothingToAskOrNoAnswerMeansUnknown) {
  ReloadConfig none;
  EXPECT_EQ(DetectPrometheusVersion(none), "");
  ReloadConfig refused;
  refused.url = "http://127.0.0.1:" + std::to_string(PickFreeLoopbackPort()) + "/-/reload";
  EXPECT_EQ(DetectPrometheusVersion(refused), "");
  ReloadConfig signal;
  signal.signal = "SIGHUP";
  EXPECT_EQ(DetectPrometheusVersion(signal), "");
  // A release outside the supported range is not guessed at.
  HttpTestServer old({});
  old.Route("GET", "/api/v1/status/buildinfo", [](const HttpTestRequest&, HttpTestResponse& resp) {
    resp.Send(200, "application/json", R"({"status":"success","data":{"version":"1.8.2"}})");
  });
  ASSERT_TRUE(old.Start().ok());
  ReloadConfig ancient;
  ancient.url = old.url() + "/-/reload";
  EXPECT_EQ(DetectPrometheusVersion(ancient), "");
}

TEST(DetectPrometheusVersionTest, ReadsDataVersionAsJson) {
  // Whitespace and key order are JSON's to choose; only data.version counts.
  EXPECT_EQ(PrometheusVersionFromBuildinfo(
                "{ \"status\" : \"success\",\n  \"data\" : { \"revision\": \"x\", "
                "\"version\" : \"2.42.0\" } }"),
            "2.42");
  EXPECT_EQ(PrometheusVersionFromBuildinfo(
                R"({"warnings":[{"version":"1.8.2"}],"data":{"version":"2.42.0"}})"),
            "2.42");
  for (const char* bad : {"", "not json", "[]", R"({"data":"2.42.0"})", R"({"data":{"version":2.42}})",
                          R"({"data":{"version":"2.42.0")", R"({"version":"2.42.0"})"}) {
    EXPECT_EQ(PrometheusVersionFromBuildinfo(bad), "") << bad;
  }
  // Deep nesting is refused without recursion.
  EXPECT_EQ(PrometheusVersionFromBuildinfo(std::string(100000, '[')), "");
}

}  // namespace
}  // namespace promconf
