// The published-set format: layout over ConfigMaps and reassembly, byte for
// byte, with hostile and half-written sets refused.

#include "informers/kubernetes/published_set.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace promconf::kube {
namespace {

using Files = std::map<std::string, std::string>;

size_t Bytes(const PublishedConfigMap& cm) {
  size_t n = 0;
  for (const auto& [k, v] : cm.data) n += k.size() + v.size();
  return n;
}

absl::StatusOr<Files> RoundTrip(const std::vector<PublishedConfigMap>& cms) {
  std::map<std::string, const PublishedConfigMap*> by_name;
  for (const auto& cm : cms) by_name[cm.name] = &cm;
  return AssemblePublishedSet(
      cms[0].data.at(kPublishedIndexKey),
      [&](const std::string& cm, const std::string& key) -> std::optional<absl::string_view> {
        auto it = by_name.find(cm);
        if (it == by_name.end()) return std::nullopt;
        auto v = it->second->data.find(key);
        if (v == it->second->data.end()) return std::nullopt;
        return absl::string_view(v->second);
      });
}

// Random text with multi-byte UTF-8 characters, so cuts must respect them.
std::string Text(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s;
  while (s.size() < n) {
    switch (rng() % 8) {
      case 0: s += "é"; break;
      case 1: s += "\xe2\x80\xa8"; break;  // U+2028
      case 2: s += "\xf0\x9f\x98\x80"; break;  // U+1F600
      case 3: s += "\n"; break;
      default: s.push_back(static_cast<char>('a' + rng() % 26));
    }
  }
  return s;
}

bool ValidUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

TEST(PublishedSetTest, SmallOutputIsOneConfigMapWithReadableKeys) {
  Files files = {{"prometheus.yml", "global: {}\n"},
                 {"rules/team-a_x.rules.yml", "groups: []\n"},
                 {"targets/zk-api.json", "[]"}};
  PublishedSetId id{"prom", 0, 1};
  auto cms = LayoutPublishedSet(files, id);
  ASSERT_TRUE(cms.ok()) << cms.status();
  ASSERT_EQ(cms->size(), 1u);
  EXPECT_EQ((*cms)[0].name, "prom");
  EXPECT_EQ((*cms)[0].data.at("rules__team-a_x.rules.yml"), "groups: []\n");
  EXPECT_EQ((*cms)[0].data.at("targets__zk-api.json"), "[]");
  EXPECT_EQ((*cms)[0].data.at("prometheus.yml"), "global: {}\n");
  auto back = RoundTrip(*cms);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, files);
  auto index = ParsePublishedIndex((*cms)[0].data.at(kPublishedIndexKey));
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->configmaps, std::vector<std::string>{"prom"});
  EXPECT_EQ(index->hash.size(), 64u);
}

TEST(PublishedSetTest, ThreeMegabytesSplitUnderTheLimitAndReassembleByteForByte) {
  Files files;
  files["prometheus.yml"] = Text(3 << 20, 1);  // one file larger than a ConfigMap
  for (int i = 0; i < 40; ++i) files[absl::StrCat("rules/r", i, ".yml")] = Text(20000 + i, i + 2);
  PublishedSetId id{"prom", 2, 3};
  auto cms = LayoutPublishedSet(files, id);
  ASSERT_TRUE(cms.ok()) << cms.status();
  EXPECT_GE(cms->size(), 4u);
  EXPECT_EQ((*cms)[0].name, "prom-shard-2");
  for (size_t i = 0; i < cms->size(); ++i) {
    EXPECT_LE(Bytes((*cms)[i]), kPublishedConfigMapBytes) << (*cms)[i].name;
    if (i > 0) {
      EXPECT_EQ((*cms)[i].name, absl::StrCat("prom-shard-2-", i));
    }
    for (const auto& [k, v] : (*cms)[i].data) {
      EXPECT_TRUE(ValidUtf8(v)) << k;
      EXPECT_LE(k.size(), 253u);
    }
  }
  auto back = RoundTrip(*cms);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == files);
}

TEST(PublishedSetTest, LayoutIsDeterministic) {
  Files files = {{"prometheus.yml", Text(2 << 20, 9)}, {"rules/a.yml", "x"}};
  auto a = LayoutPublishedSet(files, {"p", 0, 1});
  auto b = LayoutPublishedSet(files, {"p", 0, 1});
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].data, (*b)[i].data);
}

TEST(PublishedSetTest, ConfigMapKeysAreValidWhateverThePath) {
  Files files = {{"rules/" + std::string(245, 'a') + ".yml", "long"},
                 {"rules/file-0.yml", "looks like a fallback"},
                 {"rules/x.yml", "x"}};
  auto cms = LayoutPublishedSet(files, {"p", 0, 1});
  ASSERT_TRUE(cms.ok());
  for (const auto& [k, v] : (*cms)[0].data) {
    EXPECT_LE(k.size(), 253u) << k;
    EXPECT_EQ(k.find('/'), std::string::npos);
  }
  auto back = RoundTrip(*cms);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, files);
}

TEST(PublishedSetTest, HalfWrittenSetsAreRefused) {
  Files files = {{"prometheus.yml", Text(2 << 20, 3)}};
  auto cms = LayoutPublishedSet(files, {"p", 0, 1});
  ASSERT_TRUE(cms.ok());
  ASSERT_GE(cms->size(), 3u);
  // A part missing (not yet created).
  std::vector<PublishedConfigMap> missing = *cms;
  missing.pop_back();
  EXPECT_TRUE(absl::IsFailedPrecondition(RoundTrip(missing).status()));
  // A part from an older set (same key, other bytes).
  std::vector<PublishedConfigMap> stale = *cms;
  auto& v = stale[1].data.begin()->second;
  v[10] = v[10] == 'a' ? 'b' : 'a';
  EXPECT_TRUE(absl::IsFailedPrecondition(RoundTrip(stale).status()));
}

TEST(PublishedSetTest, HostileIndexesNameNoFileOutsideTheOutputTree) {
  auto lookup = [](const std::string&, const std::string&) -> std::optional<absl::string_view> {
    return absl::string_view("");
  };
  const std::string e3b = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  for (const char* path : {"../etc/passwd", "/etc/passwd", "rules/../../x", "rules/a/b.yml",
                           "other/x.yml", "rules/", "prometheus.yaml", "rules/.."}) {
    std::string index = absl::StrCat(
        R"({"apiVersion":"promconf.io/v1","files":[{"path":")", path,
        R"(","size":0,"sha256":")", e3b, R"(","parts":[{"configmap":"p","key":"k"}]}]})");
    auto r = AssemblePublishedSet(index, lookup);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << path << " " << r.status();
  }
  EXPECT_TRUE(absl::IsInvalidArgument(AssemblePublishedSet("[1]", lookup).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      AssemblePublishedSet(R"({"files":[{"path":"rules/a.yml","size":99999999999,"parts":[]}]})",
                           lookup)
          .status()));
  std::string ok = absl::StrCat(R"({"apiVersion":"promconf.io/v1","files":[{"path":"rules/a.yml",)",
                                R"("size":0,"sha256":")", e3b, R"(","parts":[]}]})");
  auto r = AssemblePublishedSet(ok, lookup);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->at("rules/a.yml"), "");
}

TEST(PublishedSetTest, LabelsSelectTheSet) {
  PublishedSetId id{"prom", 1, 3};
  EXPECT_EQ(id.LabelSelector(),
            "app.kubernetes.io/managed-by=promconf,promconf.io/output=prom,promconf.io/shard=1");
  EXPECT_EQ(id.Labels().at("promconf.io/shard"), "1");
}

}  // namespace
}  // namespace promconf::kube
