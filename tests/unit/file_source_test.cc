#include "informers/file/file_source.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "informers/document_store.h"
#include "tests/conformance/source_conformance.h"
#include "tests/fakes/fake_clock.h"
#include "util/dropped.h"

namespace promconf {
namespace {

constexpr absl::Duration kWait = absl::Seconds(10);

using State = std::map<std::string, std::string>;

// RecordingCallbacks plus the last Document seen per name (origin,
// oversized_bytes) and every upserted payload (to prove no partial read).
class DocRecorder : public RecordingCallbacks {
 public:
  void OnSnapshot(absl::string_view prefix, std::vector<Document> docs) override {
    {
      absl::MutexLock lock(&mu_);
      docs_.clear();
      for (const Document& d : docs) docs_[d.name] = d;
    }
    RecordingCallbacks::OnSnapshot(prefix, std::move(docs));
  }
  void OnUpsert(Document doc) override {
    {
      absl::MutexLock lock(&mu_);
      docs_[doc.name] = doc;
      upserts_.push_back(doc.data);
      if (block_next_upsert_) {
        block_next_upsert_ = false;
        blocked_ = true;
        mu_.Await(absl::Condition(&released_));
        blocked_ = false;
      }
    }
    RecordingCallbacks::OnUpsert(std::move(doc));
  }

  Document Doc(const std::string& name) const {
    absl::MutexLock lock(&mu_);
    auto it = docs_.find(name);
    return it == docs_.end() ? Document{} : it->second;
  }
  std::vector<std::string> Upserts() const {
    absl::MutexLock lock(&mu_);
    return upserts_;
  }

  // The next OnUpsert parks the source's thread until Release().
  void BlockNextUpsert() {
    absl::MutexLock lock(&mu_);
    block_next_upsert_ = true;
    released_ = false;
  }
  bool WaitUntilBlocked(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&blocked_), timeout);
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, Document> docs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> upserts_ ABSL_GUARDED_BY(mu_);
  bool block_next_upsert_ ABSL_GUARDED_BY(mu_) = false;
  bool blocked_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = true;
};

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  ASSERT_TRUE(out.good()) << path;
  out << data;
}

// What atomic writers do: a hidden temp file in the same directory, renamed
// over the target.
void AtomicWrite(const std::string& path, const std::string& data) {
  const auto p = std::filesystem::path(path);
  const std::string tmp = (p.parent_path() / ("." + p.filename().string() + ".tmp")).string();
  WriteFile(tmp, data);
  ASSERT_EQ(rename(tmp.c_str(), path.c_str()), 0) << path;
}

// Feeds a real DocumentStore, as the controller's SourceSink does.
class StoreFeeder : public SourceCallbacks {
 public:
  StoreFeeder(DocumentStore* store, std::string source) : store_(store), source_(source) {}
  void OnSnapshot(absl::string_view prefix, std::vector<Document> docs) override {
    store_->ReplacePrefix(source_, prefix, std::move(docs));
    synced_.Notify();
  }
  void OnUpsert(Document doc) override { store_->Upsert(source_, std::move(doc)); }
  void OnDelete(absl::string_view name) override { store_->Delete(source_, name); }
  void OnProgress() override {}
  void OnError(const absl::Status&) override { errors_.fetch_add(1); }
  bool WaitForSnapshot(absl::Duration timeout) {
    return synced_.WaitForNotificationWithTimeout(timeout);
  }
  int errors() const { return errors_.load(); }

 private:
  DocumentStore* const store_;
  const std::string source_;
  absl::Notification synced_;
  std::atomic<int> errors_{0};
};

// Waits (bounded) until promconf_dropped_total{what} reaches `want`.
bool WaitForDropped(absl::string_view what, uint64_t want) {
  const absl::Time deadline = absl::Now() + kWait;
  while (DroppedCount(what) < want) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// Document bytes held by the store.
uint64_t StoredBytes(const DocumentStore& store) {
  uint64_t bytes = 0;
  for (const auto& source : store.Snapshot()->sources) {
    for (const auto& d : source.docs) bytes += d->doc.data.size();
  }
  return bytes;
}

std::string Describe(const State& state) {
  std::string out;
  for (const auto& [k, v] : state) absl::StrAppend(&out, "\n  ", k, "=", v);
  return out;
}

class FileSourceTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/promconf-file-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
  }
  void TearDown() override {
    if (source_ != nullptr) source_->Stop();
    source_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void StartSource(std::vector<std::string> paths = {}, SourceContext context = {}) {
    if (paths.empty()) paths = {root_};
    context.name = "files";
    FileSourceConfig config;
    config.paths = std::move(paths);
    auto source = file::NewFileSource(context, config);
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = std::move(*source);
    ASSERT_TRUE(source_->Start(&cb_).ok());
  }

  // Root-relative path.
  std::string R(const std::string& rel) const { return root_ + "/" + rel; }

  void ExpectState(const State& want, const char* step) {
    EXPECT_TRUE(cb_.WaitForState(want, kWait))
        << step << "\nwant:" << Describe(want) << "\ngot:" << Describe(cb_.State())
        << "\nlast error: " << cb_.last_error();
  }

  std::string dir_, root_;
  DocRecorder cb_;  // outlives the source
  std::unique_ptr<Source> source_;
};

TEST(FileSourceFactoryTest, RejectsEmptyPaths) {
  EXPECT_FALSE(file::NewFileSource(SourceContext{}, FileSourceConfig{}).ok());
  FileSourceConfig config;
  config.paths = {""};
  EXPECT_FALSE(file::NewFileSource(SourceContext{}, config).ok());
}

TEST_F(FileSourceTest, InitialSyncOfNestedDirectoriesSkipsHiddenAndEditorFiles) {
  ASSERT_EQ(mkdir(R("sub").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(R("sub/deeper").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(R(".git").c_str(), 0755), 0);
  WriteFile(R("a.rules.yml"), "a");
  WriteFile(R("sub/b.scrape.yml"), "b");
  WriteFile(R("sub/deeper/c.targets.json"), "c");
  WriteFile(R(".git/config"), "hidden dir");
  WriteFile(R(".hidden.rules.yml"), "hidden");
  WriteFile(R("a.rules.yml~"), "backup");
  WriteFile(R("sub/x.swp"), "swap");
  WriteFile(R("4913"), "");
  // A symlink to a file inside the watched folder is followed; one to a file
  // outside is not (SymlinksOutsideWatchedFoldersAreSkipped); one to a
  // directory is not descended into.
  ASSERT_EQ(mkdir((dir_ + "/outside").c_str(), 0755), 0);
  WriteFile(dir_ + "/outside/o.rules.yml", "outside");
  ASSERT_EQ(symlink("sub/b.scrape.yml", R("link.scrape.yml").c_str()), 0);
  ASSERT_EQ(symlink((dir_ + "/outside").c_str(), R("linkdir").c_str()), 0);

  StartSource();
  ASSERT_TRUE(cb_.WaitForSnapshots(1, kWait));
  EXPECT_EQ(cb_.State(), (State{{"a.rules.yml", "a"},
                                {"sub/b.scrape.yml", "b"},
                                {"sub/deeper/c.targets.json", "c"},
                                {"link.scrape.yml", "b"}}));
  EXPECT_EQ(cb_.Doc("sub/b.scrape.yml").origin, R("sub/b.scrape.yml"));
  EXPECT_EQ(cb_.errors(), 0) << cb_.last_error();
}

// A tenant who may write a watched folder links to host files: every such
// link is skipped, logged and counted, at the first scan and when created
// later, directly or through a chain of links or a linked directory.
TEST_F(FileSourceTest, SymlinksOutsideWatchedFoldersAreSkipped) {
  ASSERT_EQ(mkdir((dir_ + "/outside").c_str(), 0755), 0);
  WriteFile(dir_ + "/outside/o.rules.yml", "outside");
  WriteFile(R("a.rules.yml"), "a");
  ASSERT_EQ(symlink("/etc/passwd", R("passwd.rules.yml").c_str()), 0);
  ASSERT_EQ(symlink((dir_ + "/outside/o.rules.yml").c_str(), R("o.rules.yml").c_str()), 0);
  // A chain: inside link -> inside link -> outside file.
  ASSERT_EQ(symlink("o.rules.yml", R("chain.rules.yml").c_str()), 0);
  // Through ".." from inside.
  ASSERT_EQ(symlink("../outside/o.rules.yml", R("up.rules.yml").c_str()), 0);
  const uint64_t before = DroppedCount(kDroppedSymlinks);

  StartSource();
  ASSERT_TRUE(cb_.WaitForSnapshots(1, kWait));
  EXPECT_EQ(cb_.State(), (State{{"a.rules.yml", "a"}}));
  EXPECT_GE(DroppedCount(kDroppedSymlinks), before + 4);

  // Created while running.
  ASSERT_EQ(symlink("/etc/hostname", R("late.rules.yml").c_str()), 0);
  ASSERT_EQ(symlink("a.rules.yml", R("inside.rules.yml").c_str()), 0);
  ExpectState({{"a.rules.yml", "a"}, {"inside.rules.yml", "a"}}, "late links");
  EXPECT_TRUE(WaitForDropped(kDroppedSymlinks, before + 5));
  // An inside link re-pointed outside is dropped.
  ASSERT_EQ(symlink((dir_ + "/outside/o.rules.yml").c_str(), R(".tmp-link").c_str()), 0);
  ASSERT_EQ(rename(R(".tmp-link").c_str(), R("inside.rules.yml").c_str()), 0);
  ExpectState({{"a.rules.yml", "a"}}, "re-pointed outside");
}

// Names that are not fragments are never opened nor held: 150 files of 1 MB
// add nothing to the store, and each is counted.
TEST_F(FileSourceTest, NonFragmentFilesAreCountedNotReadNorStored) {
  const std::string mb(1 << 20, 'x');
  for (int i = 0; i < 150; ++i) WriteFile(R(absl::StrCat("blob", i, ".bin")), mb);
  WriteFile(R("a.rules.yml"), "a");
  // Unreadable: opening it would fail and be reported as an error.
  WriteFile(R("secret.txt"), "s");
  ASSERT_EQ(chmod(R("secret.txt").c_str(), 0), 0);
  const uint64_t before = DroppedCount(kDroppedNonFragmentDocuments);

  DocumentStore store({"files"});
  StoreFeeder feeder(&store, "files");
  SourceContext context;
  context.name = "files";
  FileSourceConfig config;
  config.paths = {root_};
  auto source = file::NewFileSource(context, config);
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_TRUE((*source)->Start(&feeder).ok());
  ASSERT_TRUE(feeder.WaitForSnapshot(kWait));
  // Written while running: dropped too.
  for (int i = 150; i < 160; ++i) WriteFile(R(absl::StrCat("blob", i, ".bin")), mb);
  WriteFile(R("b.rules.yml"), "b");
  const absl::Time deadline = absl::Now() + kWait;
  while (store.DocumentCount("files") < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(WaitForDropped(kDroppedNonFragmentDocuments, before + 161));
  (*source)->Stop();

  EXPECT_EQ(store.DocumentCount("files"), 2u);
  EXPECT_EQ(StoredBytes(store), 2u) << "only a.rules.yml and b.rules.yml are held";
  EXPECT_EQ(feeder.errors(), 0) << "secret.txt must not even be opened";
}

TEST_F(FileSourceTest, EmptyDirectorySyncs) {
  StartSource();
  ASSERT_TRUE(cb_.WaitForSnapshots(1, kWait));
  EXPECT_TRUE(cb_.State().empty());
}

TEST_F(FileSourceTest, CreateModifyDelete) {
  StartSource();
  ASSERT_TRUE(cb_.WaitForSnapshots(1, kWait));
  WriteFile(R("x.rules.yml"), "one");
  ExpectState({{"x.rules.yml", "one"}}, "create");
  WriteFile(R("x.rules.yml"), "two");
  ExpectState({{"x.rules.yml", "two"}}, "modify in place");
  ASSERT_EQ(unlink(R("x.rules.yml").c_str()), 0);
  ExpectState({}, "delete");
  for (int i = 0; i < 30; ++i) WriteFile(R("churn.rules.yml"), absl::StrCat("# ", i));
  ExpectState({{"churn.rules.yml", "# 29"}}, "churn: last write wins");
  // Hidden and editor files created while running stay invisible.
  WriteFile(R(".x.rules.yml"), "hidden");
  WriteFile(R("y.rules.yml~"), "backup");
  WriteFile(R("y.swp"), "swap");
  WriteFile(R("sentinel.rules.yml"), "s");
  ExpectState({{"churn.rules.yml", "# 29"}, {"sentinel.rules.yml", "s"}}, "skipped names");
}

TEST_F(FileSourceTest, HalfWrittenFileIsNotReported) {
  StartSource();
  ASSERT_TRUE(cb_.WaitForSnapshots(1, kWait));
  const int fd = open(R("slow.rules.yml").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "first half ", 11), 11);
  absl::SleepFor(absl::Milliseconds(300));  // far past the debounce, below the write grace
  EXPECT_TRUE(cb_.State().empty()) << "read before the writer closed the file";
  ASSERT_EQ(write(fd, "second half", 11), 11);
  ASSERT_EQ(close(fd), 0);
  ExpectState({{"slow.rules.yml", "first half second half"}}, "after close");
  for (const std::string& data : cb_.Upserts()) EXPECT_EQ(data, "first half second half");
}

TEST_F(FileSourceTest, FileThatNeverGoesQuietIsStillRead) {
  FakeClock clock;
  SourceContext context;
  context.clock = &clock;
  StartSource({}, context);
  ASSERT_TRUE(cb_.WaitForSnapshots(1, kWait));
  const int fd = open(R("busy.rules.yml").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  // Never closed, written every (fake) second: each write pushes the read
  // back, but not beyond a few seconds after the first unread event.
  bool seen = false;
  for (int i = 0; i < 60 && !seen; ++i) {
    ASSERT_EQ(write(fd, "x", 1), 1);
    absl::SleepFor(absl::Milliseconds(50));
    clock.Advance(absl::Seconds(1));
    absl::SleepFor(absl::Milliseconds(50));
    seen = cb_.State().count("busy.rules.yml") != 0;
  }
  EXPECT_TRUE(seen) << "a file written continuously was never read";
  ASSERT_EQ(write(fd, "!", 1), 1);
  ASSERT_EQ(close(fd), 0);
  bool final_seen = false;
  for (int i = 0; i < 100 && !final_seen; ++i) {
    clock.Advance(absl::Milliseconds(100));
    final_seen = absl::EndsWith(cb_.State()["busy.rules.yml"], "!");
    if (!final_seen) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(final_seen) << cb_.State()["busy.rules.yml"];
}

TEST_F(FileSourceTest, RenameIntoPlaceAndSedInPlace) {
  WriteFile(R("x.rules.yml"), "v1");
  StartSource();
  ExpectState({{"x.rules.yml", "v1"}}, "initial");
  AtomicWrite(R("x.rules.yml"), "v2");
  ExpectState({{"x.rules.yml", "v2"}}, "temp + rename");
  // sed -i: a visible temp name ("sedXXXXXX") in the same directory.
  WriteFile(R("sedAb12Cd"), "v3");
  ASSERT_EQ(rename(R("sedAb12Cd").c_str(), R("x.rules.yml").c_str()), 0);
  ExpectState({{"x.rules.yml", "v3"}}, "sed -i style");
  // The real thing.
  ASSERT_EQ(system(absl::StrCat("sed -i s/v3/v4/ ", R("x.rules.yml")).c_str()), 0);
  ExpectState({{"x.rules.yml", "v4"}}, "sed -i");
  // Renamed within the tree: old name gone, new name present.
  ASSERT_EQ(rename(R("x.rules.yml").c_str(), R("y.rules.yml").c_str()), 0);
  ExpectState({{"y.rules.yml", "v4"}}, "rename");
}

TEST_F(FileSourceTest, VimStyleSave) {
  WriteFile(R("x.rules.yml"), "old");
  StartSource();
  ExpectState({{"x.rules.yml", "old"}}, "initial");
  // vim (backupcopy=no): probe with 4913, rename the original to x~, write a
  // new x, delete the backup.
  WriteFile(R("4913"), "");
  ASSERT_EQ(unlink(R("4913").c_str()), 0);
  ASSERT_EQ(rename(R("x.rules.yml").c_str(), R("x.rules.yml~").c_str()), 0);
  WriteFile(R("x.rules.yml"), "new");
  ASSERT_EQ(unlink(R("x.rules.yml~").c_str()), 0);
  ExpectState({{"x.rules.yml", "new"}}, "after vim save");
}

TEST_F(FileSourceTest, NewSubdirectoryFilesWrittenRightAfterMkdirAreSeen) {
  StartSource();
  ASSERT_TRUE(cb_.WaitForSnapshots(1, kWait));
  ASSERT_EQ(mkdir(R("sub").c_str(), 0755), 0);
  WriteFile(R("sub/a.rules.yml"), "a");
  std::filesystem::create_directories(R("sub/deep/deeper"));
  WriteFile(R("sub/deep/b.rules.yml"), "b");
  WriteFile(R("sub/deep/deeper/c.rules.yml"), "c");
  ExpectState({{"sub/a.rules.yml", "a"},
               {"sub/deep/b.rules.yml", "b"},
               {"sub/deep/deeper/c.rules.yml", "c"}},
              "new tree");
  // And they are watched from now on.
  WriteFile(R("sub/deep/deeper/c.rules.yml"), "c2");
  ExpectState({{"sub/a.rules.yml", "a"},
               {"sub/deep/b.rules.yml", "b"},
               {"sub/deep/deeper/c.rules.yml", "c2"}},
              "change in the new tree");
  // A tree built elsewhere and moved in at once.
  std::filesystem::create_directories(dir_ + "/staging/inner");
  WriteFile(dir_ + "/staging/inner/d.rules.yml", "d");
  ASSERT_EQ(rename((dir_ + "/staging").c_str(), R("moved").c_str()), 0);
  ExpectState({{"sub/a.rules.yml", "a"},
               {"sub/deep/b.rules.yml", "b"},
               {"sub/deep/deeper/c.rules.yml", "c2"},
               {"moved/inner/d.rules.yml", "d"}},
              "tree moved in");
}

TEST_F(FileSourceTest, RemovedAndMovedAwaySubtreesDropTheirDocuments) {
  std::filesystem::create_directories(R("gone/deep"));
  std::filesystem::create_directories(R("away/deep"));
  WriteFile(R("keep.rules.yml"), "k");
  WriteFile(R("gone/a.rules.yml"), "a");
  WriteFile(R("gone/deep/b.rules.yml"), "b");
  WriteFile(R("away/deep/c.rules.yml"), "c");
  StartSource();
  ExpectState({{"keep.rules.yml", "k"},
               {"gone/a.rules.yml", "a"},
               {"gone/deep/b.rules.yml", "b"},
               {"away/deep/c.rules.yml", "c"}},
              "initial");
  std::filesystem::remove_all(R("gone"));
  ExpectState({{"keep.rules.yml", "k"}, {"away/deep/c.rules.yml", "c"}}, "rm -r");
  ASSERT_EQ(rename(R("away").c_str(), (dir_ + "/away").c_str()), 0);
  ExpectState({{"keep.rules.yml", "k"}}, "moved out of the tree");
  // Changes out there are not ours.
  WriteFile(dir_ + "/away/deep/c.rules.yml", "c2");
  WriteFile(R("sentinel.rules.yml"), "s");
  ExpectState({{"keep.rules.yml", "k"}, {"sentinel.rules.yml", "s"}}, "outside changes ignored");
  ASSERT_EQ(rename((dir_ + "/away").c_str(), R("back").c_str()), 0);
  ExpectState({{"keep.rules.yml", "k"}, {"sentinel.rules.yml", "s"}, {"back/deep/c.rules.yml", "c2"}},
              "moved back in");
}

// The kubelet's mounted-ConfigMap layout (pkg/volume/util/atomic_writer.go).
TEST_F(FileSourceTest, KubeletConfigMapDataSwap) {
  const std::string cm = R("cm");
  const std::string ts1 = "..2024_01_01_00_00_00.1";
  const std::string ts2 = "..2024_01_01_00_01_00.2";
  ASSERT_EQ(mkdir(cm.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((cm + "/" + ts1).c_str(), 0755), 0);
  WriteFile(cm + "/" + ts1 + "/a.rules.yml", "a1");
  WriteFile(cm + "/" + ts1 + "/b.rules.yml", "b1");
  ASSERT_EQ(symlink(ts1.c_str(), (cm + "/..data").c_str()), 0);
  ASSERT_EQ(symlink("..data/a.rules.yml", (cm + "/a.rules.yml").c_str()), 0);
  ASSERT_EQ(symlink("..data/b.rules.yml", (cm + "/b.rules.yml").c_str()), 0);
  StartSource();
  ExpectState({{"cm/a.rules.yml", "a1"}, {"cm/b.rules.yml", "b1"}}, "initial");
  EXPECT_EQ(cb_.Doc("cm/a.rules.yml").origin, cm + "/a.rules.yml");

  // Update: a changed (visible only through the ..data swap), b removed, c new.
  ASSERT_EQ(mkdir((cm + "/" + ts2).c_str(), 0755), 0);
  WriteFile(cm + "/" + ts2 + "/a.rules.yml", "a2");
  WriteFile(cm + "/" + ts2 + "/c.rules.yml", "c1");
  ASSERT_EQ(symlink(ts2.c_str(), (cm + "/..data_tmp").c_str()), 0);
  ASSERT_EQ(rename((cm + "/..data_tmp").c_str(), (cm + "/..data").c_str()), 0);
  ASSERT_EQ(symlink("..data/c.rules.yml", (cm + "/c.rules.yml").c_str()), 0);
  ASSERT_EQ(unlink((cm + "/b.rules.yml").c_str()), 0);
  std::filesystem::remove_all(cm + "/" + ts1);
  ExpectState({{"cm/a.rules.yml", "a2"}, {"cm/c.rules.yml", "c1"}}, "after ..data swap");

  // A content-only update: no visible name changes at all.
  const std::string ts3 = "..2024_01_01_00_02_00.3";
  ASSERT_EQ(mkdir((cm + "/" + ts3).c_str(), 0755), 0);
  WriteFile(cm + "/" + ts3 + "/a.rules.yml", "a3");
  WriteFile(cm + "/" + ts3 + "/c.rules.yml", "c3");
  ASSERT_EQ(symlink(ts3.c_str(), (cm + "/..data_tmp").c_str()), 0);
  ASSERT_EQ(rename((cm + "/..data_tmp").c_str(), (cm + "/..data").c_str()), 0);
  std::filesystem::remove_all(cm + "/" + ts2);
  ExpectState({{"cm/a.rules.yml", "a3"}, {"cm/c.rules.yml", "c3"}}, "content-only swap");
}

// A configured single file that is a kubelet key: the swap happens in its
// directory, not to the file itself.
TEST_F(FileSourceTest, KubeletKeyAsSingleFilePath) {
  const std::string ts1 = "..2024_01_01_00_00_00.1";
  const std::string ts2 = "..2024_01_01_00_01_00.2";
  ASSERT_EQ(mkdir(R(ts1).c_str(), 0755), 0);
  WriteFile(R(ts1 + "/prometheus.rules.yml"), "v1");
  ASSERT_EQ(symlink(ts1.c_str(), R("..data").c_str()), 0);
  ASSERT_EQ(symlink("..data/prometheus.rules.yml", R("prometheus.rules.yml").c_str()), 0);
  StartSource({R("prometheus.rules.yml")});
  ExpectState({{"prometheus.rules.yml", "v1"}}, "initial");
  ASSERT_EQ(mkdir(R(ts2).c_str(), 0755), 0);
  WriteFile(R(ts2 + "/prometheus.rules.yml"), "v2");
  ASSERT_EQ(symlink(ts2.c_str(), R("..data_tmp").c_str()), 0);
  ASSERT_EQ(rename(R("..data_tmp").c_str(), R("..data").c_str()), 0);
  std::filesystem::remove_all(R(ts1));
  ExpectState({{"prometheus.rules.yml", "v2"}}, "after swap");
}

TEST_F(FileSourceTest, QueueOverflowRescansEverything) {
  int max_queued = 16384;
  if (FILE* f = fopen("/proc/sys/fs/inotify/max_queued_events", "r")) {
    if (fscanf(f, "%d", &max_queued) != 1) max_queued = 16384;
    fclose(f);
  }
  if (max_queued > 200000) GTEST_SKIP() << "max_queued_events too large to overflow quickly";
  WriteFile(R("a.rules.yml"), "a");
  WriteFile(R("m.rules.yml"), "m1");
  StartSource();
  ExpectState({{"a.rules.yml", "a"}, {"m.rules.yml", "m1"}}, "initial");
  const int snapshots = cb_.snapshots();

  // Park the source's thread inside a callback so its inotify queue fills.
  cb_.BlockNextUpsert();
  WriteFile(R("trigger.rules.yml"), "t");
  ASSERT_TRUE(cb_.WaitUntilBlocked(kWait));
  // 3 events per file (IN_CREATE, IN_CLOSE_WRITE, IN_DELETE).
  for (int i = 0; i < max_queued / 3 + 200; ++i) {
    const std::string f = R(absl::StrCat("f", i));
    const int fd = open(f.c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
    unlink(f.c_str());
  }
  // Changes whose events are lost: only a rescan can see them.
  ASSERT_EQ(unlink(R("a.rules.yml").c_str()), 0);
  WriteFile(R("b.rules.yml"), "b");
  WriteFile(R("m.rules.yml"), "m2");
  std::filesystem::create_directories(R("newdir"));
  WriteFile(R("newdir/n.rules.yml"), "n");
  cb_.Release();

  ExpectState({{"trigger.rules.yml", "t"},
               {"b.rules.yml", "b"},
               {"m.rules.yml", "m2"},
               {"newdir/n.rules.yml", "n"}},
              "after overflow");
  EXPECT_GT(cb_.snapshots(), snapshots) << "an overflow must end in a full snapshot";
  // The directory found by the rescan is watched.
  WriteFile(R("newdir/o.rules.yml"), "o");
  ExpectState({{"trigger.rules.yml", "t"},
               {"b.rules.yml", "b"},
               {"m.rules.yml", "m2"},
               {"newdir/n.rules.yml", "n"},
               {"newdir/o.rules.yml", "o"}},
              "watching after the rescan");
}

TEST_F(FileSourceTest, OversizedFileIsReportedWithoutData) {
  WriteFile(R("big.rules.yml"), std::string(1000, 'x'));
  SourceContext context;
  context.max_document_bytes = 100;
  StartSource({}, context);
  ExpectState({{"big.rules.yml", ""}}, "initial");
  EXPECT_EQ(cb_.Doc("big.rules.yml").oversized_bytes, 1000u);
  WriteFile(R("big.rules.yml"), "small");
  ExpectState({{"big.rules.yml", "small"}}, "shrunk");
  EXPECT_EQ(cb_.Doc("big.rules.yml").oversized_bytes, 0u);
  WriteFile(R("big.rules.yml"), std::string(101, 'y'));
  ASSERT_TRUE(cb_.WaitForState({{"big.rules.yml", ""}}, kWait));
  EXPECT_EQ(cb_.Doc("big.rules.yml").oversized_bytes, 101u);
}

TEST_F(FileSourceTest, SingleFilePath) {
  WriteFile(R("one.rules.yml"), "v1");
  WriteFile(R("other.rules.yml"), "not ours");
  StartSource({R("one.rules.yml")});
  ExpectState({{"one.rules.yml", "v1"}}, "initial");
  EXPECT_EQ(cb_.Doc("one.rules.yml").origin, R("one.rules.yml"));
  AtomicWrite(R("one.rules.yml"), "v2");
  ExpectState({{"one.rules.yml", "v2"}}, "replaced");
  WriteFile(R("other.rules.yml"), "still not ours");
  WriteFile(R("one.rules.yml"), "v3");
  ExpectState({{"one.rules.yml", "v3"}}, "in place");
  ASSERT_EQ(unlink(R("one.rules.yml").c_str()), 0);
  ExpectState({}, "deleted");
  WriteFile(R("one.rules.yml"), "v4");
  ExpectState({{"one.rules.yml", "v4"}}, "recreated");
}

TEST_F(FileSourceTest, RelativePathsAreMadeAbsolute) {
  WriteFile(R("x.rules.yml"), "x");
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(chdir(dir_.c_str()), 0);
  StartSource({"./root/"});
  ASSERT_EQ(chdir(cwd), 0);
  ExpectState({{"x.rules.yml", "x"}}, "initial");
  EXPECT_EQ(cb_.Doc("x.rules.yml").origin, R("x.rules.yml"));
}

TEST_F(FileSourceTest, MissingPathIsReportedAndRetriedByTheClock) {
  FakeClock clock;
  SourceContext context;
  context.clock = &clock;
  const std::string later = dir_ + "/later";
  StartSource({later, root_}, context);
  ASSERT_TRUE(cb_.WaitForErrors(1, kWait));
  EXPECT_NE(cb_.last_error().find(later), std::string::npos) << cb_.last_error();
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(cb_.snapshots(), 0) << "no snapshot while a configured path is missing";

  ASSERT_EQ(mkdir(later.c_str(), 0755), 0);
  WriteFile(later + "/x.rules.yml", "x");
  for (int i = 0; i < 50 && cb_.snapshots() == 0; ++i) {
    clock.Advance(absl::Seconds(1));
    cb_.WaitForSnapshots(1, absl::Milliseconds(200));
  }
  ExpectState({{"x.rules.yml", "x"}}, "after the path appeared");
}

TEST_F(FileSourceTest, ConfiguredDirectoryMovedAwayKeepsDocumentsUntilItReturns) {
  WriteFile(R("x.rules.yml"), "x");
  StartSource();
  ExpectState({{"x.rules.yml", "x"}}, "initial");
  const int errors = cb_.errors();
  ASSERT_EQ(rename(root_.c_str(), (dir_ + "/elsewhere").c_str()), 0);
  ASSERT_TRUE(cb_.WaitForErrors(errors + 1, kWait));
  EXPECT_NE(cb_.last_error().find(root_), std::string::npos) << cb_.last_error();
  EXPECT_EQ(cb_.State(), (State{{"x.rules.yml", "x"}})) << "documents kept while it is gone";
  WriteFile(dir_ + "/elsewhere/x.rules.yml", "x2");
  WriteFile(dir_ + "/elsewhere/y.rules.yml", "y");
  ASSERT_EQ(rename((dir_ + "/elsewhere").c_str(), root_.c_str()), 0);
  ExpectState({{"x.rules.yml", "x2"}, {"y.rules.yml", "y"}}, "back again");
  WriteFile(R("z.rules.yml"), "z");
  ExpectState({{"x.rules.yml", "x2"}, {"y.rules.yml", "y"}, {"z.rules.yml", "z"}},
              "watched again");
}

TEST_F(FileSourceTest, StopIsPromptIdempotentAndFinal) {
  StartSource();
  ASSERT_TRUE(cb_.WaitForSnapshots(1, kWait));
  WriteFile(R("pending.rules.yml"), "p");  // maybe still debouncing
  const absl::Time start = absl::Now();
  source_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  const State state = cb_.State();
  const int errors = cb_.errors();
  WriteFile(R("after.rules.yml"), "a");
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(cb_.State(), state);
  EXPECT_EQ(cb_.errors(), errors);
  source_->Stop();
  EXPECT_FALSE(source_->Start(&cb_).ok()) << "no restart after Stop";
}

TEST_F(FileSourceTest, StopWithoutStart) {
  FileSourceConfig config;
  config.paths = {root_};
  auto source = file::NewFileSource(SourceContext{}, config);
  ASSERT_TRUE(source.ok());
  (*source)->Stop();
  (*source)->Stop();
  EXPECT_EQ((*source)->progress_deadline(), absl::InfiniteDuration());
}

}  // namespace
}  // namespace promconf
