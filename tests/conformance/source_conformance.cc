#include "tests/conformance/source_conformance.h"

#include <algorithm>
#include <set>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rapidjson/document.h"

namespace promconf {

std::string HarnessFactoryName(const testing::TestParamInfo<HarnessFactory>& info) {
  return info.param.name;
}

RecordingCallbacks::Call::Call(RecordingCallbacks* r, const char* what) : r_(r) {
  if (r_->in_flight_.fetch_add(1) != 0) {
    ADD_FAILURE() << what << " overlaps another callback of the same source";
  }
  if (r_->stopped_.load()) ADD_FAILURE() << what << " after Source::Stop() returned";
}

RecordingCallbacks::Call::~Call() { r_->in_flight_.fetch_sub(1); }

void RecordingCallbacks::OnSnapshot(absl::string_view prefix, std::vector<Document> docs) {
  Call call(this, "OnSnapshot");
  absl::MutexLock lock(&mu_);
  for (auto it = state_.begin(); it != state_.end();) {
    it = absl::StartsWith(it->first, prefix) ? state_.erase(it) : std::next(it);
  }
  for (Document& d : docs) {
    if (!absl::StartsWith(d.name, prefix)) {
      ADD_FAILURE() << "OnSnapshot(\"" << prefix << "\") holds \"" << d.name
                    << "\", outside its prefix";
    }
    state_[d.name] = std::move(d.data);
  }
  ++snapshots_;
  snapshot_prefixes_.emplace_back(prefix);
}

void RecordingCallbacks::OnUpsert(Document doc) {
  Call call(this, "OnUpsert");
  absl::MutexLock lock(&mu_);
  state_[doc.name] = std::move(doc.data);
}

void RecordingCallbacks::OnDelete(absl::string_view name) {
  Call call(this, "OnDelete");
  absl::MutexLock lock(&mu_);
  state_.erase(std::string(name));
}

void RecordingCallbacks::OnProgress() {
  Call call(this, "OnProgress");
  absl::MutexLock lock(&mu_);
  ++progress_;
}

void RecordingCallbacks::OnError(const absl::Status& status) {
  Call call(this, "OnError");
  absl::MutexLock lock(&mu_);
  ++errors_;
  last_error_ = status.ToString();
}

std::vector<std::string> RecordingCallbacks::snapshot_prefixes() const {
  absl::MutexLock lock(&mu_);
  return snapshot_prefixes_;
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

bool RecordingCallbacks::WaitForProgress(int at_least, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return progress_ >= at_least; };
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
  if (source_ != nullptr) StopSource();
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

void SourceConformanceTest::StopSource() {
  source_->Stop();
  callbacks_.MarkStopped();
}

void SourceConformanceTest::StartSource(uint64_t max_document_bytes) {
  SourceContext context;
  context.name = "conformance";
  context.max_document_bytes = max_document_bytes;
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
  StopSource();  // the recorder fails the test on any callback from here on
  // Generous bound; the point is that Stop() does not wait for a watch timeout.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  const auto state = callbacks_.State();
  Put("after-stop.rules.yml", "# x\n");
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(callbacks_.State(), state) << "no callback may run after Stop()";
  source_->Stop();  // idempotent
  EXPECT_TRUE(absl::IsFailedPrecondition(source_->Start(&callbacks_)))
      << "a stopped source must refuse to start again";
}

TEST_P(SourceConformanceTest, StartTwiceIsAnError) {
  StartSource();
  EXPECT_FALSE(source_->Start(&callbacks_).ok()) << "a second Start must be refused";
  ASSERT_TRUE(callbacks_.WaitForSnapshots(1, harness_->ConvergeTimeout()));
}

// Target files (file_sd) travel like any other fragment: by name, bytes intact.
TEST_P(SourceConformanceTest, TargetDocuments) {
  Put("web.targets.json", R"([{"targets":["web-1:8080","web-2:8080"],"labels":{"env":"prod"}}])");
  Put("db.targets.yml", "- targets: ['db-1:9187']\n  labels: {env: prod}\n");
  StartSource();
  ExpectConverged("initial targets");
  Put("web.targets.json", R"([{"targets":["web-1:8080"]}])");
  Put("cache.targets.yaml", "- targets: ['cache-1:6379']\n");
  ExpectConverged("targets changed");
  Delete("db.targets.yml");
  ExpectConverged("targets deleted");
  EXPECT_EQ(TargetsOf(callbacks_.Get("web.targets.json").value_or(Document{}).data),
            (std::vector<std::string>{"web-1:8080"}));
}

// A document over max_document_bytes arrives flagged (oversized_bytes, no
// data) so that the reconciler rejects it by name and counts it; the others
// are untouched, and the document comes back whole once it shrinks.
TEST_P(SourceConformanceTest, OversizedDocumentsAreFlaggedOthersKept) {
  constexpr uint64_t kMax = 256;
  const std::string big = absl::StrCat("# ", std::string(kMax, 'x'), "\n");
  Put("small.rules.yml", "groups: []\n");
  Put("big.rules.yml", big);
  want_["big.rules.yml"] = "";  // flagged, no data
  StartSource(kMax);
  ExpectConverged("initial, one oversized");
  std::optional<Document> d = callbacks_.Get("big.rules.yml");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->oversized_bytes, big.size());
  EXPECT_TRUE(d->data.empty());
  EXPECT_EQ(callbacks_.Get("small.rules.yml").value_or(Document{}).oversized_bytes, 0u);

  // Through the watch too, not only the list.
  Put("big2.targets.json", big);
  want_["big2.targets.json"] = "";
  Put("other.scrape.yml", "job_name: other\n");
  ExpectConverged("oversized through the watch");
  d = callbacks_.Get("big2.targets.json");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->oversized_bytes, big.size());

  Put("big.rules.yml", "groups: []\n");
  ExpectConverged("shrunk below the limit");
  d = callbacks_.Get("big.rules.yml");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->oversized_bytes, 0u) << "a document back under the limit is whole again";
}

// Readiness waits for one OnSnapshot per declared prefix: every prefix must
// get one, and no snapshot may name a prefix the source did not declare (its
// deletes would hit documents it does not own).
TEST_P(SourceConformanceTest, EverySyncPrefixGetsASnapshot) {
  Put("a.rules.yml", "# a\n");
  StartSource();
  const std::vector<std::string> prefixes = source_->SyncPrefixes();
  ASSERT_FALSE(prefixes.empty());
  const absl::Time deadline = absl::Now() + harness_->ConvergeTimeout();
  std::set<std::string> missing(prefixes.begin(), prefixes.end());
  while (!missing.empty() && absl::Now() < deadline) {
    for (const std::string& p : callbacks_.snapshot_prefixes()) missing.erase(p);
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(missing.empty()) << "no snapshot for prefix \"" << *missing.begin() << "\"";
  ExpectConverged("synced");
  for (const std::string& p : callbacks_.snapshot_prefixes()) {
    EXPECT_TRUE(absl::c_linear_search(prefixes, p)) << "snapshot of undeclared prefix " << p;
  }
}

// /healthz calls a source stalled when it makes no progress within
// progress_deadline(): an idle but healthy watch must keep reporting it
// (bookmarks, progress notifications, timed-out blocking queries, pings).
TEST_P(SourceConformanceTest, IdleSourceKeepsReportingProgress) {
  StartSource();
  ASSERT_TRUE(callbacks_.WaitForSnapshots(1, harness_->ConvergeTimeout()));
  if (source_->progress_deadline() == absl::InfiniteDuration()) {
    GTEST_SKIP() << "no stream that can stall (progress_deadline is infinite)";
  }
  const int base = callbacks_.progress();
  const absl::Duration wait = std::min(source_->progress_deadline(), harness_->ConvergeTimeout());
  EXPECT_TRUE(callbacks_.WaitForProgress(base + 2, wait))
      << "an idle source reported " << callbacks_.progress() - base
      << " progress within " << absl::FormatDuration(wait) << "; /healthz would turn red";
  EXPECT_EQ(callbacks_.errors(), 0) << callbacks_.last_error();
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SourceConformanceTest);

}  // namespace promconf
