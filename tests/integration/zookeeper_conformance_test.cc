// The Source conformance suite against a real ZooKeeper (Debian's package).
//
// ZooKeeper's analogues of the suite's faults:
//  - DropWatch restarts the server: the client loses its connection, and
//    either its session survives (watches are re-registered, the server fires
//    those whose nodes changed) or it expired meanwhile (new session, every
//    tree read again). Writes made right after must not be lost either way.
//  - ExpireHistory expires the source's session the way Curator's
//    KillSession does: every watch is gone, the source must rebuild with no
//    lost and no phantom documents.
//  - StallWatch freezes the server (SIGSTOP): the client's pings go
//    unanswered, the library reports the connection lost and the source says
//    so through OnError; SIGCONT after three session timeouts.
//  - RestartBackend restarts the server on the same port and data dir.

#include <memory>
#include <thread>

#include "absl/time/clock.h"
#include "informers/zookeeper/zookeeper_source.h"
#include "tests/conformance/source_conformance.h"
#include "tests/fakes/zookeeper_server.h"

namespace promconf {
namespace {

constexpr char kRoot[] = "/promconf";
constexpr absl::Duration kSessionTimeout = absl::Seconds(2);

class ZookeeperHarness : public SourceHarness {
 public:
  absl::Status SetUp() override {
    auto server = ZookeeperServer::Start();
    if (!server.ok()) return server.status();
    server_ = std::move(*server);
    return absl::OkStatus();
  }

  void TearDown() override {
    if (resumer_.joinable()) resumer_.join();
    server_.reset();
  }

  absl::StatusOr<std::unique_ptr<Source>> NewSource(const SourceContext& context) override {
    ZookeeperSourceConfig config;
    config.servers = {server_->address()};
    config.session_timeout = kSessionTimeout;
    config.paths = {kRoot};
    auto source = zk::NewZookeeperSource(context, config);
    if (source.ok()) hooks_ = dynamic_cast<zk::ZookeeperSourceTestHooks*>(source->get());
    return source;
  }

  absl::Status Put(const std::string& name, const std::string& data) override {
    return server_->Put(absl::StrCat(kRoot, "/", name), data);
  }
  absl::Status Delete(const std::string& name) override {
    return server_->Delete(absl::StrCat(kRoot, "/", name));
  }

  absl::Status DropWatch() override { return server_->Restart(); }

  absl::Status ExpireHistory() override {
    if (hooks_ == nullptr) return absl::FailedPreconditionError("no source");
    const int64_t id = hooks_->SessionIdForTesting();
    if (id == 0) return absl::FailedPreconditionError("the source has no session");
    return server_->ExpireSession(id, hooks_->SessionPasswordForTesting());
  }

  absl::Status StallWatch() override {
    if (resumer_.joinable()) resumer_.join();
    server_->Pause();
    ZookeeperServer* server = server_.get();
    resumer_ = std::thread([server] {
      absl::SleepFor(3 * kSessionTimeout);
      server->Resume();
    });
    return absl::OkStatus();
  }

  absl::Status RestartBackend() override { return server_->Restart(); }

 private:
  std::unique_ptr<ZookeeperServer> server_;
  zk::ZookeeperSourceTestHooks* hooks_ = nullptr;
  std::thread resumer_;
};

INSTANTIATE_TEST_SUITE_P(Zookeeper, SourceConformanceTest,
                         testing::Values(HarnessFactory{
                             "zookeeper", [] { return std::make_unique<ZookeeperHarness>(); }}),
                         HarnessFactoryName);

}  // namespace
}  // namespace promconf
