// Controller mode's pure pieces: the shard transform of prometheus.yml and
// reading the rendered tree back.

#include "controller/configmap_output.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;

TEST(ShardPrometheusConfigTest, AppendsTheHashmodPairLastToEveryScrapeConfig) {
  const std::string in =
      "global:\n  scrape_interval: 15s\n"
      "rule_files:\n- rules/*.yml\n"
      "scrape_configs:\n"
      "- job_name: a\n  static_configs:\n  - targets: ['x:1']\n    labels: {team: \"007\", "
      "flag: \"true\", name: \"caf\\u00e9\\u2028\"}\n"
      "  relabel_configs:\n  - {source_labels: [__address__], target_label: instance}\n"
      "- job_name: b\n  file_sd_configs:\n  - files: [targets/b.json]\n";
  auto out = ShardPrometheusConfig(in, 2, 3);
  ASSERT_TRUE(out.ok()) << out.status();
  YAML::Node root = YAML::Load(*out);
  ASSERT_EQ(root["scrape_configs"].size(), 2u);
  for (const auto& sc : root["scrape_configs"]) {
    YAML::Node rc = sc["relabel_configs"];
    ASSERT_GE(rc.size(), 2u);
    YAML::Node hash = rc[rc.size() - 2], keep = rc[rc.size() - 1];
    EXPECT_EQ(hash["action"].as<std::string>(), "hashmod");
    EXPECT_EQ(hash["modulus"].as<int>(), 3);
    EXPECT_EQ(hash["source_labels"][0].as<std::string>(), "__address__");
    EXPECT_EQ(hash["target_label"].as<std::string>(), "__tmp_hash");
    EXPECT_EQ(keep["action"].as<std::string>(), "keep");
    EXPECT_EQ(keep["regex"].as<std::string>(), "2");
    EXPECT_EQ(keep["source_labels"][0].as<std::string>(), "__tmp_hash");
  }
  // The job's own relabeling stays first; the rest is unchanged.
  EXPECT_EQ(root["scrape_configs"][0]["relabel_configs"].size(), 3u);
  EXPECT_EQ(root["scrape_configs"][0]["relabel_configs"][0]["target_label"].as<std::string>(),
            "instance");
  EXPECT_EQ(root["rule_files"][0].as<std::string>(), "rules/*.yml");
  EXPECT_EQ(root["global"]["scrape_interval"].as<std::string>(), "15s");
  // Quoted strings stay quoted (a YAML 1.1 reader must not see 007 or true
  // as numbers or booleans) and no raw U+2028 reaches the output.
  EXPECT_TRUE(absl::StrContains(*out, "\"007\"")) << *out;
  EXPECT_TRUE(absl::StrContains(*out, "\"true\"")) << *out;
  EXPECT_TRUE(absl::StrContains(*out, "regex: \"2\"")) << *out;
  EXPECT_FALSE(absl::StrContains(*out, "\xe2\x80\xa8")) << *out;
  auto labels = root["scrape_configs"][0]["static_configs"][0]["labels"];
  EXPECT_EQ(labels["name"].as<std::string>(), "caf\xc3\xa9\xe2\x80\xa8");
}

TEST(ShardPrometheusConfigTest, NoScrapeConfigsIsFine) {
  auto out = ShardPrometheusConfig("global: {scrape_interval: 15s}\n", 0, 2);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(absl::StrContains(*out, "hashmod"));
}

TEST(ReadOutputTreeTest, ReadsTheOutputFilesOnly) {
  char tmpl[] = "/tmp/promconf-tree-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  EXPECT_TRUE(absl::IsUnavailable(ReadOutputTree(RealFilesystem(), dir.string()).status()));
  fs::create_directories(dir / "rules");
  fs::create_directories(dir / "targets");
  auto write = [&](const fs::path& p, const std::string& d) { std::ofstream(dir / p) << d; };
  write("prometheus.yml", "global: {}\n");
  write("base.yml", "not output");
  write("rules/a.yml", "groups: []\n");
  write("rules/.promconf-tmp-a.yml.1", "half");
  write("rules/README", "not output");
  write("targets/t.json", "[]");
  auto tree = ReadOutputTree(RealFilesystem(), dir.string());
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_EQ(*tree, (std::map<std::string, std::string>{{"prometheus.yml", "global: {}\n"},
                                                       {"rules/a.yml", "groups: []\n"},
                                                       {"targets/t.json", "[]"}}));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace promconf
