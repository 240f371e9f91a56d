#include "informers/kubernetes/reflector.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace promconf::kube {
namespace {

TEST(KubeUrls, ResourcePaths) {
  EXPECT_EQ(KubeResourcePath("", KubeResource::kConfigMaps), "/api/v1/configmaps");
  EXPECT_EQ(KubeResourcePath("team-a", KubeResource::kConfigMaps),
            "/api/v1/namespaces/team-a/configmaps");
  EXPECT_EQ(KubeResourcePath("team-a", KubeResource::kSecrets), "/api/v1/namespaces/team-a/secrets");
}

TEST(KubeUrls, LabelSelectorIsEncoded) {
  EXPECT_EQ(KubeListQuery("promconf.io/fragment=true", 500, "0", ""),
            "labelSelector=promconf.io%2Ffragment%3Dtrue&limit=500&resourceVersion=0");
  EXPECT_EQ(KubeListQuery("env in (a,b),!legacy", 500, "", "tok/+="),
            "labelSelector=env%20in%20%28a%2Cb%29%2C%21legacy&limit=500&continue=tok%2F%2B%3D");
  EXPECT_EQ(KubeListQuery("", 10, "", ""), "limit=10");
  EXPECT_EQ(KubeWatchQuery("a!=b", "123", 417),
            "watch=1&labelSelector=a%21%3Db&resourceVersion=123&allowWatchBookmarks=true&"
            "timeoutSeconds=417");
}

TEST(KubeDocuments, Names) {
  EXPECT_EQ(KubeDocumentName(KubeResource::kConfigMaps, "ns", "cm", "a.rules.yml"),
            "ns/cm/a.rules.yml");
  EXPECT_EQ(KubeDocumentName(KubeResource::kSecrets, "ns", "cm", "a.rules.yml"),
            "ns/secret:cm/a.rules.yml");
}

TEST(Backoff, DoublesToCapWithJitterAndResets) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  Backoff b(absl::Milliseconds(800), absl::Seconds(30), absl::Minutes(2), 0.2, 42);
  absl::Time t = t0;
  absl::Duration base = absl::Milliseconds(800);
  for (int i = 0; i < 10; ++i) {
    const absl::Duration d = b.Next(t);
    EXPECT_GE(d, base) << i;
    EXPECT_LE(d, base * 1.2) << i;
    base = std::min(base * 2, absl::Seconds(30));
    t += absl::Seconds(1);
  }
  EXPECT_GE(b.Next(t), absl::Seconds(30)) << "stays at the cap";
  // Healthy for longer than reset_after: back to the start.
  t += absl::Minutes(3);
  const absl::Duration d = b.Next(t);
  EXPECT_GE(d, absl::Milliseconds(800));
  EXPECT_LE(d, absl::Milliseconds(960));
}

TEST(Backoff, JitterSpreadsClients) {
  Backoff a(absl::Seconds(1), absl::Seconds(30), absl::Minutes(2), 1.0, 1);
  Backoff b(absl::Seconds(1), absl::Seconds(30), absl::Minutes(2), 1.0, 2);
  const absl::Time t = absl::FromUnixSeconds(1000);
  EXPECT_NE(a.Next(t), b.Next(t));
}

}  // namespace
}  // namespace promconf::kube
