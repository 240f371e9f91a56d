#include "informers/document_store.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace promconf {
namespace {

Document Doc(std::string name, std::string data) {
  Document d;
  d.name = std::move(name);
  d.data = std::move(data);
  return d;
}

std::vector<std::string> Names(const StoreSnapshot::Source& s) {
  std::vector<std::string> names;
  for (const auto& d : s.docs) names.push_back(d->doc.name);
  return names;
}

uint64_t VersionOf(const DocumentStore& store, const std::string& source,
                   const std::string& name) {
  auto snap = store.Snapshot();
  for (const auto& s : snap->sources) {
    if (s.name != source) continue;
    for (const auto& d : s.docs) {
      if (d->doc.name == name) return d->version;
    }
  }
  return 0;
}

TEST(DocumentStoreTest, ReplacePrefixCountsAddsModifiesDeletes) {
  DocumentStore store({"k8s"});
  StoreChange c = store.ReplacePrefix("k8s", "", {Doc("a", "1"), Doc("b", "2"), Doc("c", "3")});
  EXPECT_EQ(c.added, 3);
  EXPECT_EQ(c.modified, 0);
  EXPECT_EQ(c.deleted, 0);
  EXPECT_EQ(store.generation(), 1u);
  EXPECT_EQ(store.DocumentCount("k8s"), 3u);

  // b changes, c goes, d arrives; given unsorted.
  c = store.ReplacePrefix("k8s", "", {Doc("d", "4"), Doc("b", "22"), Doc("a", "1")});
  EXPECT_EQ(c.added, 1);
  EXPECT_EQ(c.modified, 1);
  EXPECT_EQ(c.deleted, 1);
  EXPECT_EQ(store.generation(), 2u);
  EXPECT_EQ(Names(store.Snapshot()->sources[0]), (std::vector<std::string>{"a", "b", "d"}));

  c = store.ReplacePrefix("k8s", "", {});
  EXPECT_EQ(c.deleted, 3);
  EXPECT_EQ(store.DocumentCount("k8s"), 0u);
}

TEST(DocumentStoreTest, IdenticalDocumentsKeepVersion) {
  DocumentStore store({"etcd"});
  store.ReplacePrefix("etcd", "", {Doc("a", "1"), Doc("b", "2")});
  const uint64_t a1 = VersionOf(store, "etcd", "a");
  const uint64_t b1 = VersionOf(store, "etcd", "b");
  EXPECT_EQ(a1, 1u);

  StoreChange c = store.ReplacePrefix("etcd", "", {Doc("a", "1"), Doc("b", "2")});
  EXPECT_FALSE(c.any());
  EXPECT_EQ(store.generation(), 1u);  // nothing changed, no new generation

  c = store.ReplacePrefix("etcd", "", {Doc("a", "1"), Doc("b", "3")});
  EXPECT_EQ(c.modified, 1);
  EXPECT_EQ(VersionOf(store, "etcd", "a"), a1);
  EXPECT_GT(VersionOf(store, "etcd", "b"), b1);
  EXPECT_EQ(VersionOf(store, "etcd", "b"), store.generation());

  // Any field counts: origin, job, oversized.
  Document b = Doc("b", "3");
  b.origin = "/registry/b";
  c = store.ReplacePrefix("etcd", "", {Doc("a", "1"), b});
  EXPECT_EQ(c.modified, 1);
}

TEST(DocumentStoreTest, ReplacePrefixIsScopedToItsPrefix) {
  DocumentStore store({"k8s"});
  store.ReplacePrefix("k8s", "ns1/", {Doc("ns1/a", "1"), Doc("ns1/b", "1")});
  store.ReplacePrefix("k8s", "ns2/", {Doc("ns2/a", "1")});
  // "ns1" without the slash and "ns10/" sort around "ns1/": untouched.
  store.Upsert("k8s", Doc("ns1", "x"));
  store.Upsert("k8s", Doc("ns10/a", "x"));
  EXPECT_EQ(store.DocumentCount("k8s"), 5u);

  // Replacing ns1/ with nothing deletes only ns1/*; a document outside the
  // prefix in the input is ignored (a source bug must not escape).
  StoreChange c = store.ReplacePrefix("k8s", "ns1/", {Doc("ns2/a", "evil"), Doc("ns3/x", "1")});
  EXPECT_EQ(c.added, 0);
  EXPECT_EQ(c.modified, 0);
  EXPECT_EQ(c.deleted, 2);
  EXPECT_EQ(Names(store.Snapshot()->sources[0]),
            (std::vector<std::string>{"ns1", "ns10/a", "ns2/a"}));
  EXPECT_EQ(store.Snapshot()->sources[0].docs[2]->doc.data, "1");
}

TEST(DocumentStoreTest, DuplicateNamesInOneReplaceLaterWins) {
  DocumentStore store({"file"});
  StoreChange c = store.ReplacePrefix("file", "", {Doc("a", "first"), Doc("b", "1"),
                                                   Doc("a", "second")});
  EXPECT_EQ(c.added, 2);
  auto snap = store.Snapshot();
  ASSERT_EQ(snap->sources[0].docs.size(), 2u);
  EXPECT_EQ(snap->sources[0].docs[0]->doc.data, "second");
}

TEST(DocumentStoreTest, UnknownSourceChangesNothing) {
  DocumentStore store({"a"});
  EXPECT_FALSE(store.ReplacePrefix("nope", "", {Doc("x", "1")}).any());
  EXPECT_FALSE(store.Upsert("nope", Doc("x", "1")).any());
  EXPECT_FALSE(store.Delete("nope", "x").any());
  EXPECT_EQ(store.DocumentCount("nope"), 0u);
  EXPECT_EQ(store.generation(), 0u);
}

TEST(DocumentStoreTest, SnapshotOrderIsConfigOrderThenName) {
  DocumentStore store({"zk", "consul", "etcd"});
  store.Upsert("etcd", Doc("b", "1"));
  store.Upsert("zk", Doc("z", "1"));
  store.Upsert("etcd", Doc("a", "1"));
  store.Upsert("zk", Doc("m", "1"));
  auto snap = store.Snapshot();
  ASSERT_EQ(snap->sources.size(), 3u);
  EXPECT_EQ(snap->sources[0].name, "zk");
  EXPECT_EQ(snap->sources[1].name, "consul");
  EXPECT_EQ(snap->sources[2].name, "etcd");
  EXPECT_EQ(Names(snap->sources[0]), (std::vector<std::string>{"m", "z"}));
  EXPECT_TRUE(snap->sources[1].docs.empty());
  EXPECT_EQ(Names(snap->sources[2]), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(snap->generation, store.generation());
}

TEST(DocumentStoreTest, SnapshotIsCachedUntilTheNextChange) {
  DocumentStore store({"a"});
  store.Upsert("a", Doc("x", "1"));
  auto s1 = store.Snapshot();
  EXPECT_EQ(store.Snapshot().get(), s1.get());
  store.Upsert("a", Doc("x", "1"));  // no-op keeps the cache
  EXPECT_EQ(store.Snapshot().get(), s1.get());

  store.Upsert("a", Doc("x", "2"));
  auto s2 = store.Snapshot();
  EXPECT_NE(s2.get(), s1.get());
  // The old snapshot is immutable: it still shows the old data.
  EXPECT_EQ(s1->sources[0].docs[0]->doc.data, "1");
  EXPECT_EQ(s2->sources[0].docs[0]->doc.data, "2");
  EXPECT_GT(s2->generation, s1->generation);
  // Unchanged documents are shared, not copied.
  store.Upsert("a", Doc("y", "1"));
  auto s3 = store.Snapshot();
  EXPECT_EQ(s3->sources[0].docs[0].get(), s2->sources[0].docs[0].get());

  store.Delete("a", "y");
  EXPECT_NE(store.Snapshot().get(), s3.get());
}

TEST(DocumentStoreTest, UpsertAndDeleteAreNoOpsWhenUnchanged) {
  DocumentStore store({"a"});
  StoreChange c = store.Upsert("a", Doc("x", "1"));
  EXPECT_EQ(c.added, 1);
  EXPECT_EQ(store.generation(), 1u);
  EXPECT_FALSE(store.Upsert("a", Doc("x", "1")).any());
  EXPECT_EQ(store.generation(), 1u);
  c = store.Upsert("a", Doc("x", "2"));
  EXPECT_EQ(c.modified, 1);
  EXPECT_EQ(store.generation(), 2u);
  EXPECT_EQ(VersionOf(store, "a", "x"), 2u);

  EXPECT_FALSE(store.Delete("a", "missing").any());
  EXPECT_EQ(store.generation(), 2u);
  c = store.Delete("a", "x");
  EXPECT_EQ(c.deleted, 1);
  EXPECT_EQ(store.generation(), 3u);
  EXPECT_FALSE(store.Delete("a", "x").any());
  EXPECT_EQ(store.generation(), 3u);
}

TEST(DocumentStoreTest, ConcurrentWritersAndReaders) {
  DocumentStore store({"s0", "s1"});
  constexpr int kWriters = 4;
  constexpr int kOps = 300;
  std::atomic<bool> writers_done{false};
  std::atomic<bool> bad{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&store, w] {
      const std::string source = absl::StrCat("s", w % 2);
      const std::string prefix = absl::StrCat("w", w, "/");
      for (int i = 0; i < kOps; ++i) {
        switch (i % 3) {
          case 0:
            store.Upsert(source, Doc(absl::StrCat(prefix, i % 7), absl::StrCat(i)));
            break;
          case 1:
            store.Delete(source, absl::StrCat(prefix, (i + 3) % 7));
            break;
          default:
            store.ReplacePrefix(source, prefix,
                                {Doc(absl::StrCat(prefix, "a"), absl::StrCat(i)),
                                 Doc(absl::StrCat(prefix, "b"), "fixed")});
        }
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      uint64_t last_generation = 0;
      // Bounded: at most this many snapshots even if the writers are slow.
      for (int i = 0; i < 20000 && !writers_done.load(); ++i) {
        auto snap = store.Snapshot();
        if (snap->generation < last_generation) bad = true;
        last_generation = snap->generation;
        for (const auto& s : snap->sources) {
          for (size_t d = 1; d < s.docs.size(); ++d) {
            if (!(s.docs[d - 1]->doc.name < s.docs[d]->doc.name)) bad = true;
          }
          for (const auto& d : s.docs) {
            if (d->version > snap->generation) bad = true;
          }
        }
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  writers_done = true;
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  EXPECT_FALSE(bad.load());
  // Each writer's last op (i = 299, a ReplacePrefix) leaves exactly a and b.
  EXPECT_EQ(store.DocumentCount("s0"), 4u);
  EXPECT_EQ(store.DocumentCount("s1"), 4u);
}

}  // namespace
}  // namespace promconf
