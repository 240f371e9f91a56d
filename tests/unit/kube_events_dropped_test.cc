// A full Kubernetes Event queue drops Events: logged at warn and counted in
// promconf_dropped_total{what="events"} (every degraded path is counted).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "informers/kubernetes/kube_client.h"
#include "informers/kubernetes/kube_events.h"
#include "util/dropped.h"

namespace promconf::kube {
namespace {

TEST(KubeEventsDroppedTest, FullQueueDropsAreCounted) {
  // An API server that accepts connections (the kernel's backlog) and never
  // answers: the recorder's thread is stuck on its first Event.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  KubeRestConfig config;
  config.server = absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port));
  const uint64_t before = DroppedCount(kDroppedEvents);
  {
    KubeEventRecorder recorder(std::make_shared<KubeCredentials>(config), "promconf",
                               /*max_queued=*/2);
    for (int i = 0; i < 20; ++i) {
      recorder.Warn({"ns", "ConfigMap", "cm", "FragmentRejected", absl::StrCat("event ", i)});
    }
    // At most one taken by the thread and two queued: the rest are dropped.
    EXPECT_GE(DroppedCount(kDroppedEvents), before + 17);
  }
  close(fd);
}

}  // namespace
}  // namespace promconf::kube
