// `promconf check`: the daemon's validator offline, run as a team's CI would.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/temp_dir.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const char kPromconf[] = PROMCONF_BINARY_DIR "/promconf";

class CheckCommandTest : public testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& data) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << data;
    return path;
  }
  ChildProcess::Result Check(std::vector<std::string> args) {
    args.insert(args.begin(), {kPromconf, "check"});
    return ChildProcess::Run(args, dir_.path(), absl::Seconds(60));
  }
  TempDir dir_;
};

TEST_F(CheckCommandTest, VerdictsWithLineAndReasonAndExitStatus) {
  const std::string good = Write("good.rules.yml", "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n");
  const std::string bad =
      Write("bad.rules.yml", "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    bogus: 1\n");
  ChildProcess::Result ok = Check({good});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("good.rules.yml: accepted (rules)"));

  ChildProcess::Result r = Check({good, bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("bad.rules.yml:6: bad.rules.yml: rejected (rules): groups[0].rules[0].bogus"));
  EXPECT_THAT(r.out, HasSubstr("unknown key"));
}

TEST_F(CheckCommandTest, ConfigMapManifestsAsTheKubernetesSourceNamesThem) {
  const std::string manifest = Write(
      "cm.yaml",
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: team-rules, namespace: team-a}\ndata:\n"
      "  a.rules.yml: |\n    groups: []\n  README: not a fragment\n"
      "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: scrape, namespace: team-a}\ndata:\n"
      "  s.scrape.yml: |\n    job_name: s\n    bogus: 1\n");
  ChildProcess::Result r = Check({"--as-source=kubernetes", "--format=json", manifest});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  rapidjson::Document d;
  d.Parse(r.out.c_str());
  ASSERT_TRUE(d.IsArray()) << r.out;
  ASSERT_EQ(d.Size(), 2u) << r.out;
  EXPECT_STREQ(d[0]["document"].GetString(), "team-a/team-rules/a.rules.yml");
  EXPECT_STREQ(d[0]["status"].GetString(), "accepted");
  EXPECT_STREQ(d[1]["document"].GetString(), "team-a/scrape/s.scrape.yml");
  EXPECT_STREQ(d[1]["status"].GetString(), "rejected");
  EXPECT_THAT(d[1]["reason"].GetString(), HasSubstr("bogus"));
}

TEST_F(CheckCommandTest, UsageErrors) {
  EXPECT_EQ(Check({}).exit_code, 2);
  EXPECT_EQ(Check({"--format=xml", "x.rules.yml"}).exit_code, 2);
  EXPECT_EQ(Check({"--as-source=ftp", "x.rules.yml"}).exit_code, 2);
  ChildProcess::Result help = Check({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--as-source"));
  const std::string other = Write("notes.txt", "hello");
  ChildProcess::Result r = Check({other});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("not a fragment"));
  EXPECT_THAT(Check({dir_.path() + "/missing.rules.yml"}).err, HasSubstr("missing.rules.yml"));
}

}  // namespace
}  // namespace promconf
