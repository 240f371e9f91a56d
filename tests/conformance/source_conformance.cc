#include "tests/conformance/source_conformance.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rapidjson/document.h"

namespace promconf {

std::string HarnessFactoryName(const testing::TestParamInfo<HarnessFactory>& info) {
  return info.param.name;
}

void RecordingCallbacks::OnSnapshot(absl::string_view prefix, std::vector<Document> docs) {
  absl::MutexLock lock(&mu_);
  for (auto it = state_.begin(); it != state_.end();) {
    it = absl::StartsWith(it->first, prefix) ? state_.erase(it) : std::next(it);
  }
  for (Document& d : docs) state_[d.name] = std::move(d.data);
  ++snapshots_;
}

void RecordingCallbacks::OnUpsert(Document doc) {
  absl::MutexLock lock(&mu_);
  state_[doc.name] = std::move(doc.data);
}

void RecordingCallbacks::OnDelete(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  state_.erase(std::string(name));
}

void RecordingCallbacks::OnProgress() {
  absl::MutexLock lock(&mu_);
  ++progress_;
}

void RecordingCallbacks::OnError(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  ++errors_;
  last_error_ = status.ToString();
}

std::map<std::string, std::string> RecordingCallbacks::State() const {
  absl::MutexLock lock(&mu_);
  return state_;
}
int RecordingCallbacks::snapshots() const {
  absl::MutexLock lock(&mu_);
  return snapshots_;
}
int RecordingCallbacks::errors() const {
  absl::MutexLock lock(&mu_);
  return errors_;
}
int RecordingCallbacks::progress() const {
  absl::MutexLock lock(&mu_);
  return progress_;
}
std::string RecordingCallbacks::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

bool RecordingCallbacks::WaitForState(const std::map<std::string, std::string>& want,
                                      absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto equal = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return state_ == want; };
  return mu_.AwaitWithTimeout(absl::Condition(&equal), timeout);
}

bool RecordingCallbacks::WaitForErrors(int at_least, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return errors_ >= at_least; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

bool RecordingCallbacks::WaitForSnapshots(int at_least, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return snapshots_ >= at_least; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

void SourceConformanceTest::SetUp() {
  harness_ = GetParam().make();
  absl::Status s = harness_->SetUp();
  ASSERT_TRUE(s.ok()) << "harness SetUp: " << s;
}

void SourceConformanceTest::TearDown() {
  if (source_ != nullptr) source_->Stop();
  source_.reset();
  if (harness_ != nullptr) harness_->TearDown();
}

void SourceConformanceTest::Put(const std::string& name, const std::string& data) {
  absl::Status s = harness_->Put(name, data);
  ASSERT_TRUE(s.ok()) << "Put " << name << ": " << s;
  want_[name] = data;
}

void SourceConformanceTest::Delete(const std::string& name) {
  absl::Status s = harness_->Delete(name);
  ASSERT_TRUE(s.ok()) << "Delete " << name << ": " << s;
  want_.erase(name);
}

void SourceConformanceTest::StartSource() {
  SourceContext context;
  context.name = "conformance";
  auto source = harness_->NewSource(context);
  ASSERT_TRUE(source.ok()) << source.status();
  source_ = std::move(*source);
  absl::Status s = source_->Start(&callbacks_);
  ASSERT_TRUE(s.ok()) << s;
}

void SourceConformanceTest::ExpectConverged(const char* step) {
  bool ok = callbacks_.WaitForState(want_, harness_->ConvergeTimeout());
  if (ok) return;
  std::string got, want;
  for (const auto& [k, v] : callbacks_.State()) absl::StrAppend(&got, " ", k, "=", v.size(), "B");
  for (const auto& [k, v] : want_) absl::StrAppend(&want, " ", k, "=", v.size(), "B");
  ADD_FAILURE() << step << ": source did not converge within "
                << absl::FormatDuration(harness_->ConvergeTimeout()) << "\n  want:" << want
                << "\n  got: " << got << "\n  last error: " << callbacks_.last_error();
}

#define SKIP_IF_UNIMPLEMENTED(expr)                                         \
  do {                                                                      \
    absl::Status _s = (expr);                                               \
    if (absl::IsUnimplemented(_s)) GTEST_SKIP() << #expr << " not offered"; \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s;                            \
  } while (0)

void DocumentRecorder::OnSnapshot(absl::string_view prefix, std::vector<Document> docs) {
  {
    absl::MutexLock lock(&doc_mu_);
    for (auto it = docs_.begin(); it != docs_.end();) {
      it = absl::StartsWith(it->first, prefix) ? docs_.erase(it) : std::next(it);
    }
    for (const Document& d : docs) docs_[d.name] = d;
  }
  RecordingCallbacks::OnSnapshot(prefix, std::move(docs));
}

void DocumentRecorder::OnUpsert(Document doc) {
  {
    absl::MutexLock lock(&doc_mu_);
    docs_[doc.name] = doc;
    ++upserts_;
  }
  RecordingCallbacks::OnUpsert(std::move(doc));
}

void DocumentRecorder::OnDelete(absl::string_view name) {
  {
    absl::MutexLock lock(&doc_mu_);
    docs_.erase(std::string(name));
  }
  RecordingCallbacks::OnDelete(name);
}

std::optional<Document> DocumentRecorder::Get(const std::string& name) const {
  absl::MutexLock lock(&doc_mu_);
  auto it = docs_.find(name);
  if (it == docs_.end()) return std::nullopt;
  return it->second;
}

int DocumentRecorder::upserts() const {
  absl::MutexLock lock(&doc_mu_);
  return upserts_;
}

bool DocumentRecorder::WaitForTargets(const std::string& name, const std::vector<std::string>& want,
                                      absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    std::optional<Document> d = Get(name);
    if (d.has_value() && TargetsOf(d->data) == want) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

std::vector<std::string> TargetsOf(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  if (!d.IsArray()) return {"<not a list: " + json + ">"};
  std::vector<std::string> out;
  for (const auto& group : d.GetArray()) {
    if (!group.IsObject() || !group.HasMember("targets") || !group["targets"].IsArray()) {
      return {"<not a target group: " + json + ">"};
    }
    for (const auto& t : group["targets"].GetArray()) {
      if (t.IsString()) out.push_back(t.GetString());
    }
  }
  return out;
}

TEST_P(SourceConformanceTest, InitialSync) {
  Put("a.rules.yml", "groups: []\n");
  Put("b.scrape.yml", "job_name: b\n");
  StartSource();
  ASSERT_TRUE(callbacks_.WaitForSnapshots(1, harness_->ConvergeTimeout()));
  ExpectConverged("initial sync");
}

TEST_P(SourceConformanceTest, EmptyBackendSyncs) {
  StartSource();
  ASSERT_TRUE(callbacks_.WaitForSnapshots(1, harness_->ConvergeTimeout()))
      << "an empty backend must still report a (empty) snapshot: readiness depends on it";
  ExpectConverged("empty sync");
}

TEST_P(SourceConformanceTest, AddModifyDelete) {
  Put("keep.rules.yml", "groups: []\n");
  StartSource();
  ExpectConverged("initial");
  Put("new.rules.yml", "groups: [{name: a, rules: []}]\n");
  ExpectConverged("add");
  Put("new.rules.yml", "groups: [{name: b, rules: []}]\n");
  ExpectConverged("modify");
  Delete("new.rules.yml");
  ExpectConverged("delete");
  // Many quick changes to one document: the last one wins.
  for (int i = 0; i < 20; ++i) Put("churn.rules.yml", absl::StrCat("# ", i, "\n"));
  ExpectConverged("churn");
}

TEST_P(SourceConformanceTest, DropAndResumeLosesNothing) {
  Put("a.rules.yml", "# a\n");
  Put("b.rules.yml", "# b\n");
  StartSource();
  ExpectConverged("initial");
  SKIP_IF_UNIMPLEMENTED(harness_->DropWatch());
  Put("c.rules.yml", "# c\n");
  Delete("a.rules.yml");
  Put("b.rules.yml", "# b2\n");
  ExpectConverged("after drop");
  SKIP_IF_UNIMPLEMENTED(harness_->DropWatch());
  Put("d.rules.yml", "# d\n");
  ExpectConverged("after second drop");
}

TEST_P(SourceConformanceTest, HistoryTooOldRelistsWithoutPhantoms) {
  Put("a.rules.yml", "# a\n");
  Put("b.rules.yml", "# b\n");
  StartSource();
  ExpectConverged("initial");
  const int snapshots = callbacks_.snapshots();
  // Changes made while the history is gone are only visible through a re-list:
  // "a" must disappear (no phantom), "c" must appear (nothing lost).
  SKIP_IF_UNIMPLEMENTED(harness_->ExpireHistory());
  Delete("a.rules.yml");
  Put("c.rules.yml", "# c\n");
  ExpectConverged("after re-list");
  // A live watch may show the changes before it breaks: wait for the re-list.
  EXPECT_TRUE(callbacks_.WaitForSnapshots(snapshots + 1, harness_->ConvergeTimeout()))
      << "expected a re-list (a new snapshot)";
  Put("d.rules.yml", "# d\n");
  ExpectConverged("watching again after re-list");
}

TEST_P(SourceConformanceTest, StalledWatchIsDetectedAndRecovered) {
  Put("a.rules.yml", "# a\n");
  StartSource();
  ExpectConverged("initial");
  const int errors = callbacks_.errors();
  SKIP_IF_UNIMPLEMENTED(harness_->StallWatch());
  Put("b.rules.yml", "# b\n");
  EXPECT_TRUE(callbacks_.WaitForErrors(errors + 1, harness_->ConvergeTimeout()))
      << "a stalled watch must be reported through OnError";
  ExpectConverged("after stall");
}

TEST_P(SourceConformanceTest, BackendRestart) {
  Put("a.rules.yml", "# a\n");
  StartSource();
  ExpectConverged("initial");
  SKIP_IF_UNIMPLEMENTED(harness_->RestartBackend());
  Put("b.rules.yml", "# b\n");
  Delete("a.rules.yml");
  ExpectConverged("after restart");
}

TEST_P(SourceConformanceTest, StopIsPromptAndFinal) {
  StartSource();
  ASSERT_TRUE(callbacks_.WaitForSnapshots(1, harness_->ConvergeTimeout()));
  const absl::Time start = absl::Now();
  source_->Stop();
  // Generous bound; the point is that Stop() does not wait for a watch timeout.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  const auto state = callbacks_.State();
  Put("after-stop.rules.yml", "# x\n");
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(callbacks_.State(), state) << "no callback may run after Stop()";
  source_->Stop();  // idempotent
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SourceConformanceTest);

}  // namespace promconf
