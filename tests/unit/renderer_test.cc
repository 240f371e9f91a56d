#include "reconcile/renderer.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reconcile/fragment.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kGoldenDir = std::string(PROMCONF_SOURCE_DIR) + "/tests/unit/testdata/golden";
const std::vector<std::string> kSources = {"kv", "local", "zk"};

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Parsed {
  int source_index;
  std::string source;
  Document doc;
  Fragment fragment;
};

// testdata/golden/sources/<source>/<document>; the zk source's files are
// job targets named <job>.json.
std::vector<Parsed> LoadGoldenFragments() {
  std::vector<Parsed> out;
  for (size_t i = 0; i < kSources.size(); ++i) {
    fs::path dir = fs::path(kGoldenDir) / "sources" / kSources[i];
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      Document d;
      d.name = fs::relative(f, dir).string();
      d.data = ReadAll(f);
      if (kSources[i] == "zk") d.job = f.stem().string();
      absl::StatusOr<Fragment> frag = ParseFragment(kSources[i], d, {});
      EXPECT_TRUE(frag.ok()) << frag.status();
      if (!frag.ok() || frag->kind == FragmentKind::kIgnored) continue;
      out.push_back({static_cast<int>(i), kSources[i], d, *std::move(frag)});
    }
  }
  return out;
}

RenderInput MakeInput(const std::vector<Parsed>& parsed, std::string base) {
  RenderInput in;
  in.base_config = std::move(base);
  for (const Parsed& p : parsed) in.fragments.push_back({p.source_index, p.source, p.doc.name, &p.fragment});
  return in;
}

void ExpectGolden(const std::string& name, const std::string& actual) {
  fs::path path = fs::path(kGoldenDir) / name;
  if (std::getenv("PROMCONF_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path, std::ios::binary) << actual;
  }
  ASSERT_TRUE(fs::exists(path)) << path << " missing; run with PROMCONF_UPDATE_GOLDEN=1";
  EXPECT_EQ(ReadAll(path), actual) << "golden " << name << " differs";
}

TEST(RendererTest, GoldenWithoutBase) {
  std::vector<Parsed> parsed = LoadGoldenFragments();
  absl::StatusOr<RenderOutput> out = Render(MakeInput(parsed, ""));
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectGolden("prometheus_no_base.yml", *out->files.at("prometheus.yml"));
  // Only the later "alpha" loses without a base; "promconf" is free.
  ASSERT_EQ(out->rejections.size(), 1u);
  EXPECT_EQ(out->rejections[0].source, "local");
  EXPECT_EQ(out->rejections[0].document, "alpha.scrape.yml");
  EXPECT_THAT(out->rejections[0].reason, HasSubstr("already defined by kv: alpha.scrape.yml"));
}

TEST(RendererTest, GoldenWithBase) {
  std::vector<Parsed> parsed = LoadGoldenFragments();
  absl::StatusOr<RenderOutput> out = Render(MakeInput(parsed, ReadAll(fs::path(kGoldenDir) / "base.yml")));
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectGolden("prometheus_with_base.yml", *out->files.at("prometheus.yml"));
  ASSERT_EQ(out->rejections.size(), 2u);
  EXPECT_THAT(out->rejections[0].reason, HasSubstr("\"promconf\" is already defined by base config"));
  EXPECT_THAT(*out->files.at("prometheus.yml"), HasSubstr("- /etc/prometheus/static/*.rules.yml\n- rules/*.yml\n"));
  // Every other output file.
  std::vector<std::string> names;
  for (const auto& [k, v] : out->files) names.push_back(k);
  EXPECT_THAT(names, ::testing::ElementsAre("prometheus.yml", "rules/kv_team_slo-64ab064a.yml",
                                            "targets/local_web.json", "targets/zk-api.json",
                                            "targets/zk-web.json"));
  // Rule files are emitted from their validated tree, not copied.
  ExpectGolden("rules_kv_team_slo.yml", *out->files.at("rules/kv_team_slo-64ab064a.yml"));
}

TEST(RendererTest, DeterministicUnderShuffle) {
  std::vector<Parsed> parsed = LoadGoldenFragments();
  std::string base = ReadAll(fs::path(kGoldenDir) / "base.yml");
  absl::StatusOr<RenderOutput> want = Render(MakeInput(parsed, base));
  ASSERT_TRUE(want.ok());
  std::mt19937 rng(42);
  for (int i = 0; i < 20; ++i) {
    RenderInput in = MakeInput(parsed, base);
    std::shuffle(in.fragments.begin(), in.fragments.end(), rng);
    absl::StatusOr<RenderOutput> got = Render(in);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(FileViews(got->files), FileViews(want->files));
  }
}

TEST(RendererTest, JobTargetsGetScrapeConfigUnlessDefined) {
  std::vector<Parsed> parsed = LoadGoldenFragments();
  absl::StatusOr<RenderOutput> out = Render(MakeInput(parsed, ""));
  ASSERT_TRUE(out.ok());
  const std::string& cfg = *out->files.at("prometheus.yml");
  EXPECT_THAT(cfg, HasSubstr("- job_name: api\n  file_sd_configs:\n  - files:\n    - targets/zk-api.json\n"));
  // "web" is defined by local/web.scrape.yml: no generated config.
  EXPECT_THAT(cfg, ::testing::Not(HasSubstr("targets/zk-web.json")));
}

TEST(RendererTest, EmptyInputsStillValid) {
  absl::StatusOr<RenderOutput> out = Render({});
  ASSERT_TRUE(out.ok());
  EXPECT_THAT(*out->files.at("prometheus.yml"), HasSubstr("rule_files:\n- rules/*.yml\nscrape_configs: []\n"));
}

TEST(RendererTest, BadBaseNamesLine) {
  RenderInput in;
  in.base_config = "global: {}\nscrape_configs: {a: b}\n";
  absl::StatusOr<RenderOutput> out = Render(in);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(out.status().message(), HasSubstr("scrape_configs"));
  in.base_config = "[1, 2";
  EXPECT_FALSE(Render(in).ok());
}

}  // namespace
}  // namespace promconf
