#include "reconcile/promtool.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "util/subprocess.h"

namespace promconf {
namespace {

// A directory removed with everything in it on scope exit.
struct ScratchDir {
  std::string path;
  ~ScratchDir() {
    std::error_code ignored;
    if (!path.empty()) std::filesystem::remove_all(path, ignored);
  }
};

// promtool's whole output is parsed for verdicts: one "Checking F" and
// "SUCCESS" line pair per file, a few per problem.
constexpr size_t kMaxPromtoolOutput = 64 << 20;

// Runs promtool with `args` (args[0] is its path), stdin from /dev/null;
// DeadlineExceeded after `timeout` (it is killed then).
absl::StatusOr<SubprocessResult> RunPromtool(std::vector<std::string> args, absl::Duration timeout) {
  SubprocessOptions options;
  options.argv = std::move(args);
  options.timeout = timeout;
  options.max_output_bytes = kMaxPromtoolOutput;
  absl::StatusOr<SubprocessResult> run = RunSubprocess(options);
  if (!run.ok()) {
    return absl::UnavailableError(absl::StrCat("promtool: cannot run ", options.argv[0], ": ",
                                               run.status().message()));
  }
  if (run->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat("promtool: no answer within ", absl::FormatDuration(timeout)));
  }
  return run;
}

// A shell's exit code: 128 + the signal for a run a signal ended.
int ExitCode(const SubprocessResult& run) { return run.signal != 0 ? 128 + run.signal : run.exit_code; }

}  // namespace

std::string FindPromtool() {
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/promtool");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string PromtoolVersion(const std::string& promtool) {
  absl::StatusOr<SubprocessResult> run = RunPromtool({promtool, "--version"}, absl::Seconds(10));
  if (!run.ok() || ExitCode(*run) != 0) return "";
  // "promtool, version 2.42.0+ds (branch: ..., revision: ...)"
  for (absl::string_view text : {absl::string_view(run->out), absl::string_view(run->err)}) {
    size_t at = text.find("version ");
    if (at == absl::string_view::npos) continue;
    absl::string_view v = text.substr(at + 8);
    v = v.substr(0, v.find_first_not_of("0123456789."));
    std::vector<absl::string_view> parts = absl::StrSplit(v, '.');
    if (parts.size() >= 2 && !parts[0].empty() && !parts[1].empty()) return absl::StrCat(parts[0], ".", parts[1]);
  }
  return "";
}

absl::StatusOr<std::vector<std::string>> PromtoolCheckRules(
    const std::string& promtool, const std::vector<absl::string_view>& files,
    absl::Duration timeout) {
  std::vector<std::string> verdicts(files.size());
  if (files.empty()) return verdicts;
  std::string tmpl = (std::filesystem::temp_directory_path() / "promconf-promtool.XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("promtool: cannot make a temp dir: ", strerror(errno)));
  }
  ScratchDir dir{tmpl};
  std::vector<std::string> names;
  std::vector<std::string> args = {promtool, "check", "rules", "--lint=none"};
  for (size_t i = 0; i < files.size(); ++i) {
    names.push_back(absl::StrCat(dir.path, "/f", i, ".yml"));
    std::ofstream out(names.back(), std::ios::binary);
    out.write(files[i].data(), static_cast<std::streamsize>(files[i].size()));
    if (!out) return absl::UnavailableError(absl::StrCat("promtool: cannot write ", names.back()));
    args.push_back(names.back());
  }
  absl::StatusOr<SubprocessResult> run = RunPromtool(args, timeout);
  if (!run.ok()) {
    if (absl::IsDeadlineExceeded(run.status())) {
      return absl::DeadlineExceededError(absl::StrCat("promtool: no verdict on ", files.size(),
                                                      " rule files within ", absl::FormatDuration(timeout)));
    }
    return run.status();
  }
  const std::string& out = run->out;
  const std::string& err = run->err;
  const int code = ExitCode(*run);
  if (code != 0 && code != 1) {
    return absl::UnavailableError(absl::StrCat("promtool exited with ", code, ": ",
                                               absl::StripAsciiWhitespace(err.substr(0, 500))));
  }
  // stdout: "Checking F" then "  SUCCESS: ..." for each file that passed;
  // stderr: "F: <message>" lines for each problem.
  std::vector<bool> passed(files.size(), false);
  int current = -1;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (absl::ConsumePrefix(&line, "Checking ")) {
      current = -1;
      for (size_t i = 0; i < names.size(); ++i) {
        if (line == names[i]) current = static_cast<int>(i);
      }
    } else if (current >= 0 &&
               absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "SUCCESS")) {
      passed[current] = true;
    }
  }
  for (absl::string_view line : absl::StrSplit(err, '\n')) {
    for (size_t i = 0; i < names.size(); ++i) {
      absl::string_view rest = line;
      if (!absl::ConsumePrefix(&rest, names[i]) || !absl::ConsumePrefix(&rest, ": ")) continue;
      if (!verdicts[i].empty()) verdicts[i].append("; ");
      verdicts[i].append(rest.data(), rest.size());
      break;
    }
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (!passed[i] && verdicts[i].empty()) verdicts[i] = "promtool rejected the file (no details)";
    if (passed[i]) verdicts[i].clear();
  }
  return verdicts;
}

}  // namespace promconf
