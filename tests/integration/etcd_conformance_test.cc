// The Source conformance suite against a real etcd.
//
// DropWatch cuts the source's watch through a test hook (the source cancels
// its HttpClient stream and stays down until released) rather than killing
// etcd: etcd has no admin call that closes one client's stream, and a restart
// is already RestartBackend. The hook waits until the connection is really
// down, so the writes the suite makes next race a reconnecting source, which
// must resume from its last revision + 1 without losing them.
// ExpireHistory holds the watch down, writes past the source's revision
// (outside the prefix), compacts at the current revision and releases: the
// resume hits compacted history and must re-list.
// StallWatch freezes etcd with SIGSTOP (an open connection that says nothing,
// no FIN) and SIGCONTs it after three idle deadlines, by which time the
// source must have reported the stall through OnError.

#include <signal.h>

#include <memory>
#include <thread>

#include "absl/time/clock.h"
#include "informers/etcd/etcd_source.h"
#include "tests/conformance/source_conformance.h"
#include "tests/fakes/etcd_server.h"

namespace promconf {
namespace {

constexpr char kPrefix[] = "/promconf/";

class EtcdHarness : public SourceHarness {
 public:
  absl::Status SetUp() override {
    EtcdServer::Options options;
    options.progress_notify_interval = "500ms";
    auto server = EtcdServer::Start(options);
    if (!server.ok()) return server.status();
    server_ = std::move(*server);
    return absl::OkStatus();
  }

  void TearDown() override {
    if (resumer_.joinable()) resumer_.join();
    server_.reset();
  }

  static etcd::EtcdSourceTuning Tuning() {
    etcd::EtcdSourceTuning t;
    t.idle_timeout = absl::Seconds(2);
    t.backoff.initial = absl::Milliseconds(100);
    t.backoff.max = absl::Seconds(1);
    t.page_size = 2;
    t.request_timeout = absl::Seconds(3);
    t.connect_timeout = absl::Seconds(1);
    return t;
  }

  absl::StatusOr<std::unique_ptr<Source>> NewSource(const SourceContext& context) override {
    EtcdSourceConfig config;
    config.endpoints = {server_->endpoint()};
    config.prefix = kPrefix;
    auto source = etcd::NewEtcdSource(context, config, Tuning());
    if (source.ok()) hooks_ = dynamic_cast<etcd::EtcdSourceTestHooks*>(source->get());
    return source;
  }

  absl::Status Put(const std::string& name, const std::string& data) override {
    return server_->Put(kPrefix + name, data);
  }
  absl::Status Delete(const std::string& name) override {
    return server_->Delete(kPrefix + name);
  }

  absl::Status DropWatch() override {
    if (hooks_ == nullptr) return absl::FailedPreconditionError("no source");
    if (!hooks_->PauseWatchForTesting(absl::Seconds(10))) {
      hooks_->ResumeWatchForTesting();
      return absl::DeadlineExceededError("watch did not go down");
    }
    hooks_->ResumeWatchForTesting();
    return absl::OkStatus();
  }

  absl::Status ExpireHistory() override {
    if (hooks_ == nullptr) return absl::FailedPreconditionError("no source");
    if (!hooks_->PauseWatchForTesting(absl::Seconds(10))) {
      hooks_->ResumeWatchForTesting();
      return absl::DeadlineExceededError("watch did not go down");
    }
    // Two writes outside the prefix so that compacting at the current
    // revision puts the source's resume point (applied + 1) below it.
    absl::Status s = server_->Put("/elsewhere/filler", "1");
    if (s.ok()) s = server_->Put("/elsewhere/filler", "2");
    absl::StatusOr<int64_t> rev = s.ok() ? server_->Revision() : absl::StatusOr<int64_t>(s);
    if (rev.ok()) s = server_->Compact(*rev);
    hooks_->ResumeWatchForTesting();
    return rev.ok() ? s : rev.status();
  }

  absl::Status StallWatch() override {
    if (resumer_.joinable()) resumer_.join();
    server_->Pause();
    EtcdServer* server = server_.get();
    resumer_ = std::thread([server] {
      absl::SleepFor(Tuning().idle_timeout * 3);
      server->Resume();
    });
    return absl::OkStatus();
  }

  absl::Status RestartBackend() override { return server_->Restart(); }

 private:
  std::unique_ptr<EtcdServer> server_;
  etcd::EtcdSourceTestHooks* hooks_ = nullptr;
  std::thread resumer_;
};

INSTANTIATE_TEST_SUITE_P(Etcd, SourceConformanceTest,
                         testing::Values(HarnessFactory{
                             "etcd", [] { return std::make_unique<EtcdHarness>(); }}),
                         HarnessFactoryName);

}  // namespace
}  // namespace promconf
