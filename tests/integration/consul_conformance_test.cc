// The Source conformance suite against the fake Consul (no Consul server can
// be installed here; tests/fakes/consul_server.h follows Consul's HTTP API).
//
//  - DropWatch aborts every open connection, blocked queries included.
//  - ExpireHistory lowers Consul's index (a snapshot restore, a new leader):
//    the source's next blocking query would wait for an index the server no
//    longer reaches; it must notice the index went backwards and re-read.
//  - StallWatch makes the next blocking query hang without an answer and
//    wakes the current one, so the hang starts at once; the request deadline
//    (wait + wait/16 + margin) must catch it.
//  - RestartBackend replaces the server on the same port with one restored
//    from the same data, its index back at the start.

#include <map>
#include <memory>

#include "informers/consul/consul_source.h"
#include "tests/conformance/source_conformance.h"
#include "tests/fakes/consul_server.h"

namespace promconf {
namespace {

constexpr char kPrefix[] = "promconf/";

class ConsulHarness : public SourceHarness {
 public:
  absl::Status SetUp() override { return StartServer(0); }
  void TearDown() override { server_.reset(); }

  static consul::ConsulSourceTuning Tuning() {
    return FastConsulTuning();
  }

  absl::StatusOr<std::unique_ptr<Source>> NewSource(const SourceContext& context) override {
    ConsulSourceConfig config;
    config.address = server_->address();
    config.kv_prefix = kPrefix;
    return consul::NewConsulSource(context, config, Tuning());
  }

  absl::Status Put(const std::string& name, const std::string& data) override {
    server_->PutKV(kPrefix + name, data);
    kv_[name] = data;
    return absl::OkStatus();
  }
  absl::Status Delete(const std::string& name) override {
    server_->DeleteKV(kPrefix + name);
    kv_.erase(name);
    return absl::OkStatus();
  }

  absl::Status DropWatch() override {
    server_->DropConnections();
    return absl::OkStatus();
  }
  absl::Status ExpireHistory() override {
    server_->ResetIndex(3);
    return absl::OkStatus();
  }
  absl::Status StallWatch() override {
    server_->StallNext(1);
    server_->WakeBlockingQueries();
    return absl::OkStatus();
  }
  absl::Status RestartBackend() override {
    const int port = server_->port();
    server_.reset();
    absl::Status s = StartServer(port);
    if (!s.ok()) return s;
    for (const auto& [name, data] : kv_) server_->PutKV(kPrefix + name, data);
    return absl::OkStatus();
  }

 private:
  absl::Status StartServer(int port) {
    FakeConsulServer::Options options;
    options.port = port;
    auto server = FakeConsulServer::Start(options);
    if (!server.ok()) return server.status();
    server_ = std::move(*server);
    return absl::OkStatus();
  }

  std::unique_ptr<FakeConsulServer> server_;
  std::map<std::string, std::string> kv_;  // what a restored server holds
};

INSTANTIATE_TEST_SUITE_P(Consul, SourceConformanceTest,
                         testing::Values(HarnessFactory{
                             "consul", [] { return std::make_unique<ConsulHarness>(); }}),
                         HarnessFactoryName);

}  // namespace
}  // namespace promconf
