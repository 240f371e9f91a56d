#include "gtest/gtest.h"
#include "util/duration.h"

namespace promconf {
namespace {

TEST(DurationTest, ParsesPrometheusDurations) {
  EXPECT_EQ(*ParsePrometheusDuration("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParsePrometheusDuration("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParsePrometheusDuration("0"), absl::ZeroDuration());
  EXPECT_EQ(*ParsePrometheusDuration("1d2h"), absl::Hours(26));
  EXPECT_EQ(*ParsePrometheusDuration("2m1s5ms"), absl::Seconds(121) + absl::Milliseconds(5));
  for (const char* bad : {"", "1.5s", "s", "1x", "1s1h", "1m1m", "-1s", " 1s", "1s "}) {
    EXPECT_FALSE(ParsePrometheusDuration(bad).ok()) << bad;
  }
}

TEST(DurationTest, FormatsLikePrometheus) {
  EXPECT_EQ(FormatPrometheusDuration(absl::Minutes(90)), "1h30m");
  EXPECT_EQ(FormatPrometheusDuration(absl::Milliseconds(1500)), "1s500ms");
  EXPECT_EQ(FormatPrometheusDuration(absl::ZeroDuration()), "0s");
}

}  // namespace
}  // namespace promconf
