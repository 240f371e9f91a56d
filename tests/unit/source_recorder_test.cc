// The conformance suite's recorder must itself catch what it exists to catch:
// overlapping callbacks, a callback after Stop, a snapshot document outside
// its prefix. Without these checks the suite's contract tests pass vacuously.

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/conformance/source_conformance.h"

namespace promconf {
namespace {

// Makes a callback while another one is (as far as the recorder knows) in
// progress: what two unserialised informer threads would do.
class NestingRecorder : public RecordingCallbacks {
 public:
  void ProgressInsideAnotherCallback() {
    Call outer(this, "OnUpsert");
    OnProgress();
  }
};

TEST(SourceRecorder, FailsOnOverlappingCallbacks) {
  NestingRecorder r;
  EXPECT_NONFATAL_FAILURE(r.ProgressInsideAnotherCallback(), "overlaps another callback");
}

TEST(SourceRecorder, FailsOnACallbackAfterStop) {
  RecordingCallbacks r;
  r.OnProgress();
  r.MarkStopped();
  EXPECT_NONFATAL_FAILURE(r.OnError(absl::UnavailableError("late")), "after Source::Stop()");
}

TEST(SourceRecorder, FailsOnASnapshotDocumentOutsideItsPrefix) {
  RecordingCallbacks r;
  std::vector<Document> docs(1);
  docs[0].name = "team-b/cm/x.rules.yml";
  EXPECT_NONFATAL_FAILURE(r.OnSnapshot("team-a/", docs), "outside its prefix");
}

TEST(SourceRecorder, SerialCallbacksPass) {
  RecordingCallbacks r;
  std::vector<Document> docs(1);
  docs[0].name = "team-a/cm/x.rules.yml";
  r.OnSnapshot("team-a/", docs);
  r.OnUpsert(docs[0]);
  r.OnDelete(docs[0].name);
  r.OnProgress();
  EXPECT_EQ(r.snapshot_prefixes(), std::vector<std::string>{"team-a/"});
  EXPECT_EQ(r.progress(), 1);
}

}  // namespace
}  // namespace promconf
