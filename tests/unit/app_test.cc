// App with its sources injected (AppOptions::source_factory): the daemon
// path and --once run the same controller over a fake Source, no backend.

#include "controller/app.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/metrics.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/http_test_server.h"
#include "tests/fakes/temp_dir.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const char kRules[] = "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up\n";

// Delivers its documents as one snapshot when started.
class FakeSource final : public Source {
 public:
  explicit FakeSource(std::vector<Document> docs) : docs_(std::move(docs)) {}
  absl::Status Start(SourceCallbacks* callbacks) override {
    callbacks->OnSnapshot("", docs_);
    return absl::OkStatus();
  }
  void Stop() override {}
  absl::Duration progress_deadline() const override { return absl::Hours(1); }

 private:
  const std::vector<Document> docs_;
};

class AppTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<App>> Create(std::string reload = "") {
    const std::string yaml = absl::StrCat("output:\n  dir: ", dir_.path(),
                                          "/out\nsources:\n- name: fake\n  file:\n    paths: [",
                                          dir_.path(), "/unused]\nvalidation:\n  promtool: never\n",
                                          reload);
    absl::StatusOr<Config> config = ParseConfig(yaml, "test.yml");
    if (!config.ok()) return config.status();
    AppOptions options;
    options.sync_timeout = absl::Seconds(10);
    options.source_factory = [this](const SourceContext& context, const SourceConfig&)
        -> absl::StatusOr<std::unique_ptr<Source>> {
      names_.push_back(context.name);
      std::vector<Document> docs;
      docs.emplace_back();
      docs.back().name = "a.rules.yml";
      docs.back().data = kRules;
      return std::make_unique<FakeSource>(std::move(docs));
    };
    return App::Create(*config, options, &metrics_);
  }
  std::string Out(const std::string& rel) { return ReadWholeFile(dir_.path() + "/out/" + rel); }

  TempDir dir_;
  Metrics metrics_;
  std::vector<std::string> names_;
};

TEST_F(AppTest, TheDaemonRendersWhatAnInjectedSourceHolds) {
  absl::StatusOr<std::unique_ptr<App>> app = Create();
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ(names_, std::vector<std::string>{"fake"});
  ASSERT_TRUE((*app)->Start().ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!(*app)->Readyz().ok && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_TRUE((*app)->Readyz().ok) << (*app)->Readyz().body;
  EXPECT_EQ(Out("rules/fake_a.yml"), kRules);
  EXPECT_THAT((*app)->FragmentsJson(), HasSubstr("\"document\":\"a.rules.yml\""));
  (*app)->Stop();
}

TEST_F(AppTest, OnceRunsTheControllerUntilIdle) {
  absl::StatusOr<std::unique_ptr<App>> app = Create();
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_TRUE((*app)->RunOnce().ok());
  EXPECT_EQ(Out("rules/fake_a.yml"), kRules);
  EXPECT_TRUE(fs::exists(dir_.path() + "/out/prometheus.yml"));
  EXPECT_TRUE((*app)->Readyz().ok);
  (*app)->Stop();
}

TEST_F(AppTest, OnceTreatsNothingListeningAtReloadUrlAsNothingToReload) {
  absl::StatusOr<std::unique_ptr<App>> app = Create(absl::StrCat(
      "reload:\n  url: http://127.0.0.1:", PickFreeLoopbackPort(), "/-/reload\n"));
  ASSERT_TRUE(app.ok()) << app.status();
  absl::Status s = (*app)->RunOnce();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(Out("rules/fake_a.yml"), kRules);
  (*app)->Stop();
}

TEST_F(AppTest, OnceFailsWhenTheReloadTargetAnswersWithAnError) {
  HttpTestServer server({});
  server.Route("POST", "/-/reload", [](const HttpTestRequest&, HttpTestResponse& resp) {
    resp.Send(500, "text/plain", "broken");
  });
  ASSERT_TRUE(server.Start().ok());
  absl::StatusOr<std::unique_ptr<App>> app =
      Create(absl::StrCat("reload:\n  url: ", server.url(), "/-/reload\n"));
  ASSERT_TRUE(app.ok()) << app.status();
  absl::Status s = (*app)->RunOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("reload"));
  EXPECT_THAT(s.message(), HasSubstr("500"));
  // The files were written before the reload was tried.
  EXPECT_EQ(Out("rules/fake_a.yml"), kRules);
  (*app)->Stop();
}

}  // namespace
}  // namespace promconf
