#pragma once

// One conformance suite run over every Source (Envoy runs one subscription
// suite over gRPC, REST and filesystem). A backend plugs in with a
// SourceHarness that drives its real server (etcd, ZooKeeper) or faithful
// fake (Kubernetes, Consul) and a one-line instantiation:
//
//   INSTANTIATE_TEST_SUITE_P(Etcd, SourceConformanceTest,
//       testing::Values(HarnessFactory{"etcd", [] { return std::make_unique<EtcdHarness>(); }}),
//       HarnessFactoryName);
//
// Fault-injection hooks a backend cannot offer return Unimplemented, which
// skips that test.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "informers/source.h"

namespace promconf {

class SourceHarness {
 public:
  virtual ~SourceHarness() = default;

  // Starts the backend. Called once per test, before anything else.
  virtual absl::Status SetUp() = 0;
  // Stops the backend and removes what SetUp made.
  virtual void TearDown() = 0;

  // A source pointed at the backend. Harnesses set short deadlines (idle
  // timeout, backoff) so the fault tests finish in seconds.
  virtual absl::StatusOr<std::unique_ptr<Source>> NewSource(const SourceContext& context) = 0;

  // Creates or replaces the backend object behind the document `name` (the
  // name the source must report, e.g. "team-a/cm/x.rules.yml" for
  // Kubernetes, "x.rules.yml" for etcd).
  virtual absl::Status Put(const std::string& name, const std::string& data) = 0;
  virtual absl::Status Delete(const std::string& name) = 0;

  // Closes the source's watch connection(s) from the server side. The source
  // must resume without losing writes made meanwhile.
  virtual absl::Status DropWatch() { return absl::UnimplementedError("DropWatch"); }
  // Makes the source's resume point unusable (Kubernetes 410 Gone, etcd
  // compaction) and drops the watch: the source must re-list, with no lost and
  // no phantom documents.
  virtual absl::Status ExpireHistory() { return absl::UnimplementedError("ExpireHistory"); }
  // Keeps the watch connection open but sends nothing (a dead peer without a
  // FIN). The source must notice within its idle deadline (OnError) and
  // recover by reconnecting.
  virtual absl::Status StallWatch() { return absl::UnimplementedError("StallWatch"); }
  // Restarts the backend (same data; Kubernetes fake: resourceVersions reset).
  virtual absl::Status RestartBackend() { return absl::UnimplementedError("RestartBackend"); }

  // Upper bound for the source to converge after any step.
  virtual absl::Duration ConvergeTimeout() const { return absl::Seconds(20); }
};

struct HarnessFactory {
  std::string name;
  std::function<std::unique_ptr<SourceHarness>()> make;
};
std::string HarnessFactoryName(const testing::TestParamInfo<HarnessFactory>& info);

// Applies callbacks to a map, the way the store would, and lets tests wait
// for a state. Fails the running test (ADD_FAILURE) when two callbacks
// overlap, when a snapshot holds a document outside its prefix, or when a
// callback runs after MarkStopped() (call it once Source::Stop() returned):
// the SourceCallbacks contract. Thread-safe.
class RecordingCallbacks : public SourceCallbacks {
 public:
  void OnSnapshot(absl::string_view prefix, std::vector<Document> docs) override;
  void OnUpsert(Document doc) override;
  void OnDelete(absl::string_view name) override;
  void OnProgress() override;
  void OnError(const absl::Status& status) override;

  std::map<std::string, std::string> State() const;
  int snapshots() const;
  int errors() const;
  int progress() const;
  std::string last_error() const;
  // The prefixes of every OnSnapshot so far, in order.
  std::vector<std::string> snapshot_prefixes() const;
  // Source::Stop() has returned: any later callback fails the test.
  void MarkStopped() { stopped_.store(true); }

  // Waits (real time, bounded) until State() equals `want`.
  bool WaitForState(const std::map<std::string, std::string>& want, absl::Duration timeout);
  bool WaitForErrors(int at_least, absl::Duration timeout);
  bool WaitForSnapshots(int at_least, absl::Duration timeout);
  bool WaitForProgress(int at_least, absl::Duration timeout);

 protected:
  // Brackets every callback: checks the contract (see the class comment).
  class Call {
   public:
    Call(RecordingCallbacks* r, const char* what);
    ~Call();

   private:
    RecordingCallbacks* const r_;
  };

 private:
  std::atomic<int> in_flight_{0};
  std::atomic<bool> stopped_{false};
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> state_ ABSL_GUARDED_BY(mu_);
  int snapshots_ ABSL_GUARDED_BY(mu_) = 0;
  int errors_ ABSL_GUARDED_BY(mu_) = 0;
  int progress_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> snapshot_prefixes_ ABSL_GUARDED_BY(mu_);
};

// RecordingCallbacks that also keeps whole documents (job,
// oversized_bytes, origin) and counts upserts. Thread-safe.
class DocumentRecorder : public RecordingCallbacks {
 public:
  void OnSnapshot(absl::string_view prefix, std::vector<Document> docs) override;
  void OnUpsert(Document doc) override;
  void OnDelete(absl::string_view name) override;

  std::optional<Document> Get(const std::string& name) const;
  int upserts() const;
  // Waits (bounded) until document `name` is a file_sd list whose targets
  // are `want`, in order.
  bool WaitForTargets(const std::string& name, const std::vector<std::string>& want,
                      absl::Duration timeout);

 private:
  mutable absl::Mutex doc_mu_;
  std::map<std::string, Document> docs_ ABSL_GUARDED_BY(doc_mu_);
  int upserts_ ABSL_GUARDED_BY(doc_mu_) = 0;
};

// The targets of a file_sd JSON list, in order ("<not a list: ...>" when it
// is not one).
std::vector<std::string> TargetsOf(const std::string& json);

class SourceConformanceTest : public testing::TestWithParam<HarnessFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Puts into the backend and into `want_`.
  void Put(const std::string& name, const std::string& data);
  void Delete(const std::string& name);
  void StartSource(uint64_t max_document_bytes = SourceContext().max_document_bytes);
  // Stops the source and arms the recorder's after-Stop check.
  void StopSource();
  // Asserts the source converges to `want_`.
  void ExpectConverged(const char* step);

  std::unique_ptr<SourceHarness> harness_;
  std::unique_ptr<Source> source_;
  DocumentRecorder callbacks_;
  std::map<std::string, std::string> want_;
};

}  // namespace promconf
