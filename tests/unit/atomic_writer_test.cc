#include "reconcile/atomic_writer.h"

#include <fnmatch.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/child_process.h"  // ReadWholeFile
#include "tests/fakes/temp_dir.h"
#include "reconcile/filesystem.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& p) { return ReadWholeFile(p); }

// Fails the Nth filesystem step (1-based, counted across every call) as a
// crash would: the step does not happen, except WriteFile which leaves half
// the bytes behind; every later step fails too (the process is "dead").
class CrashingFilesystem : public Filesystem {
 public:
  explicit CrashingFilesystem(int crash_at) : crash_at_(crash_at) {}
  int steps() const { return steps_; }
  int syncfs_calls() const { return syncfs_calls_; }
  bool crashed() const { return crashed_; }

  absl::Status WriteFile(const std::string& path, absl::string_view data) override {
    if (Crash()) {
      RealFilesystem()->WriteFile(path, data.substr(0, data.size() / 2)).IgnoreError();
      return absl::UnavailableError("crash in write");
    }
    return RealFilesystem()->WriteFile(path, data);
  }
  absl::Status SyncFile(const std::string& path) override {
    return Crash() ? absl::UnavailableError("crash in fsync") : RealFilesystem()->SyncFile(path);
  }
  absl::Status SyncFilesystem(const std::string& path) override {
    if (Crash()) return absl::UnavailableError("crash in syncfs");
    ++syncfs_calls_;
    return RealFilesystem()->SyncFilesystem(path);
  }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    return Crash() ? absl::UnavailableError("crash in rename") : RealFilesystem()->Rename(from, to);
  }
  absl::Status SyncDir(const std::string& dir) override {
    return Crash() ? absl::UnavailableError("crash in dir fsync") : RealFilesystem()->SyncDir(dir);
  }
  absl::Status Unlink(const std::string& path) override {
    return Crash() ? absl::UnavailableError("crash in unlink") : RealFilesystem()->Unlink(path);
  }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    return RealFilesystem()->ListDir(dir);
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    return RealFilesystem()->ReadFile(path);
  }
  absl::Status MkDirs(const std::string& path) override {
    return Crash() ? absl::UnavailableError("crash in mkdir") : RealFilesystem()->MkDirs(path);
  }

 private:
  bool Crash() {
    ++steps_;
    if (steps_ >= crash_at_) crashed_ = true;
    return crashed_;
  }
  const int crash_at_;
  int steps_ = 0;
  int syncfs_calls_ = 0;
  bool crashed_ = false;
};

// What Prometheus' rule_files / file_sd globs would pick up.
std::vector<std::string> GlobMatches(const std::string& dir, const char* pattern) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (fnmatch(pattern, name.c_str(), 0) == 0) out.push_back(name);
  }
  return out;
}

TEST(AtomicFileWriterTest, CrashAtEveryStepLeavesOldOrNewBytes) {
  const std::string old_bytes = "groups: []  # old\n";
  const std::string new_bytes = "groups:\n- name: new\n  rules: []\n";
  int total_steps = 0;
  {
    TempDir dir;
    CrashingFilesystem counter(1 << 30);
    AtomicFileWriter w(&counter, dir.path());
    ASSERT_TRUE(w.Write("rules/kv_a.yml", new_bytes).ok());
    total_steps = counter.steps();
  }
  ASSERT_GE(total_steps, 4);  // write, fsync, rename, dir fsync (+ mkdir)
  for (int k = 1; k <= total_steps + 1; ++k) {
    SCOPED_TRACE(absl::StrCat("crash at step ", k));
    TempDir dir;
    AtomicFileWriter setup(RealFilesystem(), dir.path());
    ASSERT_TRUE(setup.Write("rules/kv_a.yml", old_bytes).ok());
    CrashingFilesystem crashing(k);
    AtomicFileWriter w(&crashing, dir.path());
    absl::StatusOr<bool> st = w.Write("rules/kv_a.yml", new_bytes);
    EXPECT_EQ(st.ok(), k > total_steps);
    std::string got = ReadAll(dir.path() + "/rules/kv_a.yml");
    EXPECT_TRUE(got == old_bytes || got == new_bytes) << got;
    EXPECT_THAT(GlobMatches(dir.path() + "/rules", "*.yml"), ::testing::ElementsAre("kv_a.yml"));
    EXPECT_TRUE(GlobMatches(dir.path() + "/rules", "*.json").empty());
    // The next start cleans leftovers and converges.
    AtomicFileWriter restart(RealFilesystem(), dir.path());
    absl::StatusOr<AtomicFileWriter::SyncResult> sync = restart.SyncTree(
        {{"rules/kv_a.yml", new_bytes}}, {"rules"}, [](absl::string_view, absl::string_view) { return false; });
    ASSERT_TRUE(sync.ok()) << sync.status();
    EXPECT_EQ(ReadAll(dir.path() + "/rules/kv_a.yml"), new_bytes);
    for (const auto& e : fs::directory_iterator(dir.path() + "/rules")) {
      EXPECT_FALSE(absl::StartsWith(e.path().filename().string(), kTempFilePrefix)) << e.path();
    }
  }
}

// A batched sync (rules, targets and prometheus.yml changing together, some
// files new, some stale): a crash between any two steps leaves every file
// with its old or its new bytes, no temp file where a glob sees it, and the
// next start converges. Run with few files (one fsync per temp file) and
// with many (one syncfs).
std::map<std::string, absl::string_view> Views(const std::map<std::string, std::string>& files) {
  return {files.begin(), files.end()};
}

void CrashDuringBatch(int rule_files) {
  std::map<std::string, std::string> old_tree, new_tree;
  for (int i = 0; i < rule_files; ++i) {
    old_tree[absl::StrCat("rules/kv_r", i, ".yml")] = absl::StrCat("groups: []  # old ", i, "\n");
    new_tree[absl::StrCat("rules/kv_r", i, ".yml")] = absl::StrCat("groups: []  # new ", i, "\n");
  }
  old_tree["rules/kv_gone.yml"] = "groups: []  # stale\n";
  old_tree["prometheus.yml"] = "rule_files: []  # old\n";
  new_tree["prometheus.yml"] = "rule_files: []  # new\n";
  new_tree["targets/kv_t.json"] = "[]\n";  // a new file in a new directory
  auto owned = [](absl::string_view, absl::string_view name) { return absl::StartsWith(name, "kv_"); };
  const std::vector<std::string> managed = {"rules", "targets"};

  int total_steps = 0;
  {
    TempDir dir;
    ASSERT_TRUE(AtomicFileWriter(RealFilesystem(), dir.path()).SyncTree(Views(old_tree), managed, owned).ok());
    CrashingFilesystem counter(1 << 30);
    AtomicFileWriter w(&counter, dir.path());
    ASSERT_TRUE(w.SyncTree(Views(new_tree), managed, owned).ok());
    total_steps = counter.steps();
    size_t changed = new_tree.size();
    EXPECT_EQ(counter.syncfs_calls(), changed > kPerFileSyncMax ? 1 : 0);
  }
  for (int k = 1; k <= total_steps + 1; ++k) {
    SCOPED_TRACE(absl::StrCat(rule_files, " rule files, crash at step ", k, " of ", total_steps));
    TempDir dir;
    ASSERT_TRUE(AtomicFileWriter(RealFilesystem(), dir.path()).SyncTree(Views(old_tree), managed, owned).ok());
    CrashingFilesystem crashing(k);
    AtomicFileWriter w(&crashing, dir.path());
    auto st = w.SyncTree(Views(new_tree), managed, owned);
    EXPECT_EQ(st.ok(), k > total_steps);
    for (const auto& [rel, bytes] : new_tree) {
      std::string p = dir.path() + "/" + rel;
      auto old = old_tree.find(rel);
      if (old == old_tree.end() && !fs::exists(p)) continue;
      std::string got = ReadAll(p);
      EXPECT_TRUE(got == bytes || (old != old_tree.end() && got == old->second)) << rel << ": " << got;
    }
    if (fs::exists(dir.path() + "/rules/kv_gone.yml")) {
      EXPECT_EQ(ReadAll(dir.path() + "/rules/kv_gone.yml"), old_tree["rules/kv_gone.yml"]);
    }
    for (const std::string& sub : {std::string(""), std::string("/rules"), std::string("/targets")}) {
      if (!fs::exists(dir.path() + sub)) continue;
      for (const char* glob : {"*.yml", "*.yaml", "*.json"}) {
        for (const std::string& name : GlobMatches(dir.path() + sub, glob)) {
          EXPECT_FALSE(absl::StartsWith(name, kTempFilePrefix)) << name;
        }
      }
    }
    // The next start cleans leftovers and converges.
    AtomicFileWriter restart(RealFilesystem(), dir.path());
    auto sync = restart.SyncTree(Views(new_tree), managed, owned);
    ASSERT_TRUE(sync.ok()) << sync.status();
    for (const auto& [rel, bytes] : new_tree) EXPECT_EQ(ReadAll(dir.path() + "/" + rel), bytes) << rel;
    EXPECT_FALSE(fs::exists(dir.path() + "/rules/kv_gone.yml"));
    for (const auto& e : fs::recursive_directory_iterator(dir.path())) {
      EXPECT_FALSE(absl::StartsWith(e.path().filename().string(), kTempFilePrefix)) << e.path();
    }
  }
}

TEST(AtomicFileWriterTest, CrashAtEveryStepOfSmallBatch) { CrashDuringBatch(3); }
TEST(AtomicFileWriterTest, CrashAtEveryStepOfSyncfsBatch) { CrashDuringBatch(12); }

TEST(AtomicFileWriterTest, TempNameMatchesNoPrometheusGlob) {
  TempDir dir;
  // Crash at the fsync so the temp file stays behind, then look at it.
  CrashingFilesystem crashing(3);
  AtomicFileWriter w(&crashing, dir.path());
  ASSERT_FALSE(w.Write("prometheus.yml", "x: 1\n").ok());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
  ASSERT_EQ(names.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(names[0], ".promconf-tmp-prometheus.yml-")) << names[0];
  for (const char* glob : {"*.yml", "*.yaml", "*.json", "*.rules.yml"}) {
    EXPECT_NE(fnmatch(glob, names[0].c_str(), 0), 0) << glob;
  }
}

TEST(AtomicFileWriterTest, SkipsUnchangedBytes) {
  TempDir dir;
  AtomicFileWriter w(RealFilesystem(), dir.path());
  EXPECT_EQ(*w.Write("a.yml", "1\n"), true);
  EXPECT_EQ(*w.Write("a.yml", "1\n"), false);
  EXPECT_EQ(w.writes(), 1u);
  // A fresh writer reads the file back instead of rewriting it.
  AtomicFileWriter again(RealFilesystem(), dir.path());
  EXPECT_EQ(*again.Write("a.yml", "1\n"), false);
  EXPECT_EQ(again.writes(), 0u);
  EXPECT_EQ(*again.Write("a.yml", "2\n"), true);
  EXPECT_EQ(ReadAll(dir.path() + "/a.yml"), "2\n");
}

TEST(AtomicFileWriterTest, SyncTreeRemovesOnlyOwnedStaleFiles) {
  TempDir dir;
  fs::create_directories(dir.path() + "/rules");
  std::ofstream(dir.path() + "/rules/user.yml") << "groups: []\n";
  std::ofstream(dir.path() + "/rules/kv_old.yml") << "groups: []\n";
  std::ofstream(dir.path() + "/rules/.promconf-tmp-kv_x.yml-1-abcd") << "junk";
  auto owned = [](absl::string_view, absl::string_view name) { return absl::StartsWith(name, "kv_"); };
  AtomicFileWriter w(RealFilesystem(), dir.path());
  auto r = w.SyncTree({{"prometheus.yml", "p\n"}, {"rules/kv_a.yml", "a\n"}}, {"rules", "targets"}, owned);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->written, 2);
  EXPECT_EQ(r->removed, 1);
  EXPECT_TRUE(fs::exists(dir.path() + "/rules/user.yml"));
  EXPECT_FALSE(fs::exists(dir.path() + "/rules/kv_old.yml"));
  EXPECT_FALSE(fs::exists(dir.path() + "/rules/.promconf-tmp-kv_x.yml-1-abcd"));
  // The fragment is gone: its file goes too; unchanged files are not touched.
  r = w.SyncTree({{"prometheus.yml", "p\n"}}, {"rules", "targets"}, owned);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->written, 0);
  EXPECT_EQ(r->removed, 1);
  EXPECT_FALSE(fs::exists(dir.path() + "/rules/kv_a.yml"));
  EXPECT_EQ(w.writes(), 2u);
}

TEST(AtomicFileWriterTest, PathEscapesNeverCreateFilesOutside) {
  TempDir outer;
  std::string root = outer.path() + "/out";
  fs::create_directories(root);
  AtomicFileWriter w(RealFilesystem(), root);
  for (std::string bad : {std::string("../escape.yml"), std::string("/tmp/abs.yml"),
                          std::string("rules/../../escape.yml"), std::string("rules//x.yml"),
                          std::string("a\0b.yml", 7), std::string(".."), std::string("."),
                          std::string(""), std::string("rules/") + std::string(4096, 'a'),
                          std::string("r\\..\\x.yml"), std::string("sp ace.yml")}) {
    EXPECT_EQ(w.Write(bad, "x").status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(w.Remove(bad).ok()) << bad;
  }
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(outer.path())) names.push_back(e.path().string());
  EXPECT_THAT(names, ::testing::ElementsAre(root));
  EXPECT_FALSE(IsSafeRelativePath("rules/./x.yml"));
  EXPECT_TRUE(IsSafeRelativePath("rules/kv_a-1f2e.yml"));
}

}  // namespace
}  // namespace promconf
