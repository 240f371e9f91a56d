#pragma once

// The process_* metrics every exporter has (client_golang's process
// collector), read from /proc at scrape time: prometheus-cpp 1.0 has none.
// Thread-safe and stateless; a /proc file that cannot be read leaves its
// metrics out of the scrape rather than reporting a wrong zero.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace promconf {

struct ProcessStats {
  std::optional<double> cpu_seconds;           // utime + stime
  std::optional<double> resident_bytes;        // rss pages * page size
  std::optional<double> virtual_bytes;         // vsize
  std::optional<double> start_time_seconds;    // btime + starttime / CLK_TCK
  std::optional<double> open_fds;              // entries of fd/
  std::optional<double> max_fds;               // soft "Max open files"
};

// Reads the stats of the process whose /proc directory is `proc_dir`
// (default: this process) with the system-wide /proc/stat at `proc_stat`.
ProcessStats ReadProcessStats(const std::string& proc_dir = "/proc/self",
                              const std::string& proc_stat = "/proc/stat");

// Parsers, exposed for tests. Each returns false on malformed input.
// /proc/<pid>/stat: fields after the parenthesised comm (which may contain
// spaces and parentheses).
bool ParseProcStat(absl::string_view stat, double clk_tck, double page_size, double boot_time,
                   ProcessStats* stats);
// "btime <seconds>" from /proc/stat.
bool ParseBootTime(absl::string_view proc_stat, double* btime);
// The soft limit of "Max open files" from /proc/<pid>/limits ("unlimited"
// yields +Inf).
bool ParseMaxOpenFiles(absl::string_view limits, double* max_fds);

class ProcessCollector : public prometheus::Collectable {
 public:
  explicit ProcessCollector(std::string proc_dir = "/proc/self") : proc_dir_(std::move(proc_dir)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::string proc_dir_;
};

}  // namespace promconf
