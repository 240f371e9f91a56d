#include "metrics/process_metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <string>

#include "gtest/gtest.h"

namespace promconf {
namespace {

double ValueOf(const std::vector<prometheus::MetricFamily>& families, const std::string& name) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    if (f.metric.size() != 1) return -1;
    return f.type == prometheus::MetricType::Counter ? f.metric[0].counter.value
                                                     : f.metric[0].gauge.value;
  }
  return -1;
}

TEST(ProcessMetricsTest, ValuesAreSane) {
  ProcessStats s = ReadProcessStats();
  ASSERT_TRUE(s.cpu_seconds && s.resident_bytes && s.virtual_bytes && s.start_time_seconds &&
              s.open_fds && s.max_fds);
  EXPECT_GE(*s.cpu_seconds, 0);
  EXPECT_GT(*s.resident_bytes, 0);
  EXPECT_GE(*s.virtual_bytes, *s.resident_bytes);
  EXPECT_GE(*s.open_fds, 3);  // stdin, stdout, stderr
  EXPECT_GE(*s.max_fds, *s.open_fds);
  // This test process started moments ago (allow a slow, loaded machine).
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(*s.start_time_seconds, now + 2);
  EXPECT_GT(*s.start_time_seconds, now - 600);
}

TEST(ProcessMetricsTest, OpenFdsCountsADescriptorWeOpen) {
  const double before = *ReadProcessStats().open_fds;
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const double during = *ReadProcessStats().open_fds;
  close(fd);
  const double after = *ReadProcessStats().open_fds;
  EXPECT_EQ(during, before + 1);
  EXPECT_EQ(after, before);
}

TEST(ProcessMetricsTest, CollectorExposesEveryFamily) {
  ProcessCollector collector;
  auto families = collector.Collect();
  EXPECT_GT(ValueOf(families, "process_resident_memory_bytes"), 0);
  EXPECT_GT(ValueOf(families, "process_virtual_memory_bytes"), 0);
  EXPECT_GT(ValueOf(families, "process_open_fds"), 0);
  EXPECT_GT(ValueOf(families, "process_max_fds"), 0);
  EXPECT_GT(ValueOf(families, "process_start_time_seconds"), 1.6e9);
  EXPECT_GE(ValueOf(families, "process_cpu_seconds_total"), 0);
  for (const auto& f : families) {
    if (f.name == "process_cpu_seconds_total") {
      EXPECT_EQ(f.type, prometheus::MetricType::Counter);
    }
  }
}

TEST(ProcessMetricsTest, ParsesStatWithAWickedCommName) {
  // comm may hold spaces and ')' — the last ')' ends it.
  const std::string stat =
      "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 3 0 "
      "1000 123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
  ProcessStats s;
  ASSERT_TRUE(ParseProcStat(stat, 100, 4096, 1'600'000'000, &s));
  EXPECT_DOUBLE_EQ(*s.cpu_seconds, 4.0);  // (250 + 150) / 100
  EXPECT_DOUBLE_EQ(*s.virtual_bytes, 123456789);
  EXPECT_DOUBLE_EQ(*s.resident_bytes, 300.0 * 4096);
  EXPECT_DOUBLE_EQ(*s.start_time_seconds, 1'600'000'010.0);  // btime + 1000 / 100
  EXPECT_FALSE(ParseProcStat("4242 (x) S 1 2", 100, 4096, 0, &s));
  EXPECT_FALSE(ParseProcStat("no paren", 100, 4096, 0, &s));
}

TEST(ProcessMetricsTest, ParsesLimitsAndBootTime) {
  const std::string limits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max cpu time              unlimited            unlimited            seconds   \n"
      "Max open files            1024                 1048576              files     \n";
  double max_fds = 0;
  ASSERT_TRUE(ParseMaxOpenFiles(limits, &max_fds));
  EXPECT_EQ(max_fds, 1024);
  ASSERT_TRUE(ParseMaxOpenFiles("Max open files            unlimited            unlimited   files\n",
                                &max_fds));
  EXPECT_TRUE(std::isinf(max_fds));
  EXPECT_FALSE(ParseMaxOpenFiles("Max processes 10 10\n", &max_fds));

  double btime = 0;
  ASSERT_TRUE(ParseBootTime("cpu  1 2 3\nctxt 99\nbtime 1700000000\nprocesses 5\n", &btime));
  EXPECT_EQ(btime, 1700000000);
  EXPECT_FALSE(ParseBootTime("cpu 1 2 3\n", &btime));
}

TEST(ProcessMetricsTest, MissingProcDirLeavesMetricsOut) {
  ProcessCollector collector("/nonexistent/proc/dir");
  auto families = collector.Collect();
  for (const auto& f : families) {
    EXPECT_NE(f.name, "process_cpu_seconds_total");
    EXPECT_NE(f.name, "process_open_fds");
  }
}

}  // namespace
}  // namespace promconf
