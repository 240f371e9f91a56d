// Rejected Kubernetes fragments become Warning Events on their ConfigMap or
// Secret, once per rejection, through the fake API server.

#include "informers/kubernetes/kube_events.h"

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "controller/rejection_events.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informers/kubernetes/kubernetes_source.h"
#include "rapidjson/document.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/kube_apiserver.h"
#include "tests/fakes/temp_dir.h"

namespace promconf::kube {
namespace {

using ::testing::HasSubstr;

TEST(KubeEventsTest, ObjectOfDocument) {
  std::string ns, kind, name;
  ASSERT_TRUE(KubeObjectOfDocument("team-a/rules/cpu.rules.yml", &ns, &kind, &name));
  EXPECT_EQ(ns, "team-a");
  EXPECT_EQ(kind, "ConfigMap");
  EXPECT_EQ(name, "rules");
  ASSERT_TRUE(KubeObjectOfDocument("team-b/secret:creds/x.scrape.yml", &ns, &kind, &name));
  EXPECT_EQ(kind, "Secret");
  EXPECT_EQ(name, "creds");
  EXPECT_FALSE(KubeObjectOfDocument("no-slashes", &ns, &kind, &name));
  EXPECT_FALSE(KubeObjectOfDocument("ns//key", &ns, &kind, &name));
}

TEST(KubeEventsTest, EventJsonIsAWarningOnTheObjectWithATruncatedMessage) {
  KubeEvent e{"team-a", "ConfigMap", "rules", "FragmentRejected", std::string(3000, 'x')};
  rapidjson::Document d;
  const std::string json = KubeEventJson(e, absl::FromUnixSeconds(1700000000), "promconf");
  d.Parse(json.c_str());
  ASSERT_TRUE(d.IsObject()) << json;
  EXPECT_STREQ(d["metadata"]["generateName"].GetString(), "rules.");
  EXPECT_STREQ(d["involvedObject"]["kind"].GetString(), "ConfigMap");
  EXPECT_STREQ(d["involvedObject"]["name"].GetString(), "rules");
  EXPECT_STREQ(d["type"].GetString(), "Warning");
  EXPECT_STREQ(d["firstTimestamp"].GetString(), "2023-11-14T22:13:20Z");
  EXPECT_EQ(d["message"].GetStringLength(), 1024u);
}

class RejectionEventsTest : public testing::Test {
 protected:
  void SetUp() override {
    auto api = FakeKubeApiServer::Start({});
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = std::move(*api);
    KubernetesSourceConfig config;
    config.kubeconfig = dir_.path() + "/kubeconfig";
    ASSERT_TRUE(api_->WriteKubeconfig(config.kubeconfig).ok());
    auto credentials = kube::KubeCredentialsFor(config);
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    auto recorder = std::make_unique<KubeEventRecorder>(*std::move(credentials));
    recorder_ = recorder.get();
    events_.AddSource("cluster", std::move(recorder));
  }

  static FragmentStatus Rejected(const std::string& source, const std::string& doc,
                                 const std::string& error) {
    FragmentStatus s;
    s.source = source;
    s.document = doc;
    s.kind = "rules";
    s.status = "rejected";
    s.error = error;
    return s;
  }

  bool WaitForPosted(int n) {
    return PollUntil([&] { return recorder_->posted() >= n; }, absl::Seconds(10));
  }

  TempDir dir_;
  std::unique_ptr<FakeKubeApiServer> api_;
  RejectionEvents events_;
  KubeEventRecorder* recorder_ = nullptr;
};

TEST_F(RejectionEventsTest, OncePerRejectionOnTheRightObject) {
  FragmentStatus ok = Rejected("cluster", "team-a/fine/x.rules.yml", "");
  ok.status = "accepted";
  const std::vector<FragmentStatus> first = {
      Rejected("cluster", "team-a/rules/cpu.rules.yml", "line 4: unknown key bogus"),
      Rejected("cluster", "team-b/secret:creds/x.scrape.yml", "bad duration"),
      Rejected("local", "team-c/x/y.rules.yml", "not a kubernetes source"),
      ok,
  };
  ASSERT_TRUE(events_.Interested(3));
  events_.Observe(first);
  ASSERT_TRUE(WaitForPosted(2));
  std::vector<std::string> events = api_->EventsJson();
  ASSERT_EQ(events.size(), 2u);
  const std::string all = events[0] + events[1];
  EXPECT_THAT(all, HasSubstr(R"("reason":"FragmentRejected")"));
  EXPECT_THAT(all, HasSubstr(R"("kind":"ConfigMap","namespace":"team-a","name":"rules")"));
  EXPECT_THAT(all, HasSubstr(R"("kind":"Secret","namespace":"team-b","name":"creds")"));
  EXPECT_THAT(all, HasSubstr("team-a/rules/cpu.rules.yml"));
  EXPECT_THAT(all, HasSubstr("line 4: unknown key bogus"));

  // The same rejections again: nothing new.
  events_.Observe(first);
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(api_->EventsJson().size(), 2u);
  // A new bad version of one: a new Event.
  events_.Observe(
      {Rejected("cluster", "team-a/rules/cpu.rules.yml", "line 9: other problem"), first[1]});
  ASSERT_TRUE(WaitForPosted(3));
  // Accepted again, then rejected again with the first error: reported again.
  events_.Observe({first[1]});
  events_.Observe(first);
  ASSERT_TRUE(WaitForPosted(4));
  EXPECT_EQ(api_->EventsJson().size(), 4u);
}

}  // namespace
}  // namespace promconf::kube
