// A rejected Kubernetes fragment whose document names no ConfigMap or Secret
// cannot become an Event: that drop is logged and counted, once per rejection.

#include "controller/rejection_events.h"

#include <memory>

#include "gtest/gtest.h"
#include "informers/kubernetes/kube_client.h"
#include "informers/kubernetes/kubernetes_source.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/kube_apiserver.h"
#include "tests/fakes/temp_dir.h"
#include "util/dropped.h"

namespace promconf {
namespace {

FragmentStatus Rejected(std::string document, std::string error) {
  FragmentStatus s;
  s.source = "kube";
  s.document = std::move(document);
  s.kind = "rules";
  s.status = "rejected";
  s.error = std::move(error);
  return s;
}

TEST(RejectionEventsTest, ADocumentWithNoObjectIsCountedAsADroppedEvent) {
  kube::KubeRestConfig config;  // nothing listens: no Event could be posted anyway
  config.server = "http://127.0.0.1:" + std::to_string(PickFreeLoopbackPort());
  RejectionEvents events;
  events.AddSource("kube", std::make_unique<kube::KubeEventRecorder>(
                               std::make_shared<kube::KubeCredentials>(config)));
  const uint64_t before = DroppedCount(kDroppedEvents);
  events.Observe({Rejected("no-slashes", "bad")});
  EXPECT_EQ(DroppedCount(kDroppedEvents), before + 1);
  // The same rejection on the next render says nothing new.
  events.Observe({Rejected("no-slashes", "bad")});
  EXPECT_EQ(DroppedCount(kDroppedEvents), before + 1);
  // A new error is a new Event, dropped again.
  events.Observe({Rejected("no-slashes", "worse")});
  EXPECT_EQ(DroppedCount(kDroppedEvents), before + 2);
}

// --once exits right after its run: Flush returns only once every queued
// Event was answered.
TEST(RejectionEventsTest, FlushWaitsUntilEveryEventIsPosted) {
  auto api = FakeKubeApiServer::Start({});
  ASSERT_TRUE(api.ok()) << api.status();
  TempDir dir;
  KubernetesSourceConfig config;
  config.kubeconfig = dir.path() + "/kubeconfig";
  ASSERT_TRUE((*api)->WriteKubeconfig(config.kubeconfig).ok());
  auto credentials = kube::KubeCredentialsFor(config);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  auto owned = std::make_unique<kube::KubeEventRecorder>(*std::move(credentials));
  kube::KubeEventRecorder* recorder = owned.get();
  RejectionEvents events;
  events.AddSource("kube", std::move(owned));
  events.Observe({Rejected("team-a/rules/a.rules.yml", "bad"),
                  Rejected("team-a/rules/b.rules.yml", "bad"),
                  Rejected("team-b/secret:s/c.rules.yml", "bad")});
  events.Flush(absl::Seconds(20));
  EXPECT_EQ(recorder->posted(), 3);
}

}  // namespace
}  // namespace promconf
