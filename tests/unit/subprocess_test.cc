#include "util/subprocess.h"

#include <signal.h>

#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace promconf {
namespace {

using ::testing::HasSubstr;

SubprocessResult RunOk(std::vector<std::string> argv, SubprocessOptions options = {}) {
  options.argv = std::move(argv);
  absl::StatusOr<SubprocessResult> r = RunSubprocess(options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : SubprocessResult{};
}

TEST(SubprocessTest, CapturesBothStreamsAndTheExitStatus) {
  SubprocessResult r = RunOk({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.Describe(absl::Seconds(1)), "exited with status 3");
}

TEST(SubprocessTest, MergedStderrLandsInOut) {
  SubprocessOptions o;
  o.merge_stderr = true;
  SubprocessResult r = RunOk({"/bin/sh", "-c", "echo one; echo two >&2"}, o);
  EXPECT_EQ(r.out, "one\ntwo\n");
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(r.success());
}

// argv goes to the program as it is: no shell splits or expands it.
TEST(SubprocessTest, ArgumentsAreNotInterpretedByAShell) {
  SubprocessResult r = RunOk({"echo", "$HOME;", "a  b", "`id`"});  // echo found in $PATH
  EXPECT_EQ(r.out, "$HOME; a  b `id`\n");
}

// A child writing more than the bound is read to the end (it does not block
// on a full pipe) and the rest dropped.
TEST(SubprocessTest, OutputIsBounded) {
  SubprocessOptions o;
  o.max_output_bytes = 1000;
  SubprocessResult r = RunOk({"head", "-c", "1000000", "/dev/zero"}, o);
  EXPECT_TRUE(r.success()) << r.Describe(o.timeout);
  EXPECT_EQ(r.out.size(), 1000u);
  EXPECT_TRUE(r.out_truncated);
  EXPECT_FALSE(r.err_truncated);
}

TEST(SubprocessTest, ReportsTheSignalThatEndedIt) {
  SubprocessResult r = RunOk({"/bin/sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_EQ(r.Describe(absl::Seconds(1)), "killed by signal 15");
}

TEST(SubprocessTest, MissingProgramIsUnavailable) {
  SubprocessOptions o;
  o.argv = {"/nonexistent/promconf-no-such-program"};
  absl::StatusOr<SubprocessResult> r = RunSubprocess(o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  o.argv = {};
  EXPECT_FALSE(RunSubprocess(o).ok());
}

bool GoneOrZombie(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && line.size() > paren + 2 && line[paren + 2] == 'Z';
}

// At the deadline the child and what it started in the background (which
// holds the pipe open) are killed, and the call returns promptly.
TEST(SubprocessTest, TimeoutKillsTheWholeProcessGroup) {
  SubprocessOptions o;
  o.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  SubprocessResult r = RunOk({"/bin/sh", "-c", "sleep 30 & echo $!; wait"}, o);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_THAT(r.Describe(o.timeout), HasSubstr("timed out after 300ms"));
  int grandchild = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(r.out), &grandchild)) << r.out;
  bool gone = false;
  for (int i = 0; i < 200 && !(gone = GoneOrZombie(grandchild)); ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_TRUE(gone) << "background sleep " << grandchild << " survived the timeout";
}

}  // namespace
}  // namespace promconf
