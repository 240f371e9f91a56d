#include "metrics/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace promconf {

namespace {

bool ReadWholeFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// Counts the entries of <proc_dir>/fd, minus the descriptor opendir itself
// holds when proc_dir is this process.
std::optional<double> CountOpenFds(const std::string& proc_dir) {
  const std::string path = proc_dir + "/fd";
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return std::nullopt;
  const int own_fd = dirfd(dir);
  const bool self = proc_dir == "/proc/self" ||
                    proc_dir == "/proc/" + std::to_string(static_cast<long>(getpid()));
  double count = 0;
  while (struct dirent* entry = readdir(dir)) {
    absl::string_view name(entry->d_name);
    if (name == "." || name == "..") continue;
    int fd = -1;
    if (self && absl::SimpleAtoi(name, &fd) && fd == own_fd) continue;
    ++count;
  }
  closedir(dir);
  return count;
}

prometheus::MetricFamily Family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

}  // namespace

bool ParseProcStat(absl::string_view stat, double clk_tck, double page_size, double boot_time,
                   ProcessStats* stats) {
  // comm is "(...)" and may itself contain ") ": the last ')' ends it.
  const size_t close = stat.rfind(')');
  if (close == absl::string_view::npos || clk_tck <= 0) return false;
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::StripAsciiWhitespace(stat.substr(close + 1)), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state) of proc(5): utime is field 14, stime 15,
  // starttime 22, vsize 23, rss 24.
  constexpr size_t kUtime = 11, kStime = 12, kStartTime = 19, kVsize = 20, kRss = 21;
  if (fields.size() <= kRss) return false;
  uint64_t utime = 0, stime = 0, start = 0, vsize = 0;
  int64_t rss = 0;
  if (!absl::SimpleAtoi(fields[kUtime], &utime) || !absl::SimpleAtoi(fields[kStime], &stime) ||
      !absl::SimpleAtoi(fields[kStartTime], &start) || !absl::SimpleAtoi(fields[kVsize], &vsize) ||
      !absl::SimpleAtoi(fields[kRss], &rss)) {
    return false;
  }
  stats->cpu_seconds = static_cast<double>(utime + stime) / clk_tck;
  stats->virtual_bytes = static_cast<double>(vsize);
  stats->resident_bytes = static_cast<double>(rss) * page_size;
  if (boot_time > 0) stats->start_time_seconds = boot_time + static_cast<double>(start) / clk_tck;
  return true;
}

bool ParseBootTime(absl::string_view proc_stat, double* btime) {
  for (absl::string_view line : absl::StrSplit(proc_stat, '\n')) {
    if (!absl::ConsumePrefix(&line, "btime ")) continue;
    int64_t v = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &v)) return false;
    *btime = static_cast<double>(v);
    return true;
  }
  return false;
}

bool ParseMaxOpenFiles(absl::string_view limits, double* max_fds) {
  // "Max open files            1024                 1048576              files"
  for (absl::string_view line : absl::StrSplit(limits, '\n')) {
    if (!absl::ConsumePrefix(&line, "Max open files")) continue;
    std::vector<absl::string_view> cols = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (cols.empty()) return false;
    if (cols[0] == "unlimited") {
      *max_fds = std::numeric_limits<double>::infinity();
      return true;
    }
    uint64_t v = 0;
    if (!absl::SimpleAtoi(cols[0], &v)) return false;
    *max_fds = static_cast<double>(v);
    return true;
  }
  return false;
}

ProcessStats ReadProcessStats(const std::string& proc_dir, const std::string& proc_stat) {
  ProcessStats stats;
  std::string text;
  double btime = 0;
  if (ReadWholeFile(proc_stat, &text)) ParseBootTime(text, &btime);
  if (ReadWholeFile(proc_dir + "/stat", &text)) {
    const double clk_tck = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page_size = static_cast<double>(sysconf(_SC_PAGESIZE));
    ParseProcStat(text, clk_tck, page_size, btime, &stats);
  }
  double max_fds = 0;
  if (ReadWholeFile(proc_dir + "/limits", &text) && ParseMaxOpenFiles(text, &max_fds)) {
    stats.max_fds = max_fds;
  }
  stats.open_fds = CountOpenFds(proc_dir);
  return stats;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  const ProcessStats s = ReadProcessStats(proc_dir_);
  std::vector<prometheus::MetricFamily> out;
  if (s.cpu_seconds) {
    out.push_back(Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                         MetricType::Counter, *s.cpu_seconds));
  }
  if (s.open_fds) {
    out.push_back(Family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
                         *s.open_fds));
  }
  if (s.max_fds) {
    out.push_back(Family("process_max_fds", "Maximum number of open file descriptors.",
                         MetricType::Gauge, *s.max_fds));
  }
  if (s.virtual_bytes) {
    out.push_back(Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                         MetricType::Gauge, *s.virtual_bytes));
  }
  if (s.resident_bytes) {
    out.push_back(Family("process_resident_memory_bytes", "Resident memory size in bytes.",
                         MetricType::Gauge, *s.resident_bytes));
  }
  if (s.start_time_seconds) {
    out.push_back(Family("process_start_time_seconds",
                         "Start time of the process since unix epoch in seconds.",
                         MetricType::Gauge, *s.start_time_seconds));
  }
  return out;
}

}  // namespace promconf
