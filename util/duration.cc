#include "util/duration.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace promconf {
namespace {

struct Unit {
  absl::string_view suffix;
  absl::Duration size;
};
// Order matters: "ms" must be tried before "m" and "s".
constexpr int kUnits = 7;
const Unit& UnitAt(int i) {
  static const Unit units[kUnits] = {
      {"y", absl::Hours(24 * 365)}, {"w", absl::Hours(24 * 7)}, {"d", absl::Hours(24)},
      {"h", absl::Hours(1)},        {"m", absl::Minutes(1)},    {"s", absl::Seconds(1)},
      {"ms", absl::Milliseconds(1)},
  };
  return units[i];
}

}  // namespace

absl::StatusOr<absl::Duration> ParsePrometheusDuration(absl::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid duration string: \"", text, "\""));
  };
  if (text.empty()) return bad();
  if (text == "0") return absl::ZeroDuration();
  absl::Duration total = absl::ZeroDuration();
  size_t pos = 0;
  int next_unit = 0;  // units must appear in decreasing size, once each
  while (pos < text.size()) {
    size_t digits_end = pos;
    while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9') {
      ++digits_end;
    }
    if (digits_end == pos || digits_end - pos > 18) return bad();
    int64_t n = 0;
    for (size_t i = pos; i < digits_end; ++i) n = n * 10 + (text[i] - '0');
    absl::string_view rest = text.substr(digits_end);
    int matched = -1;
    for (int u = next_unit; u < kUnits; ++u) {
      absl::string_view suffix = UnitAt(u).suffix;
      if (rest.substr(0, suffix.size()) != suffix) continue;
      // "m" must not swallow the "m" of "ms".
      if (suffix == "m" && rest.size() > 1 && rest[1] == 's') continue;
      matched = u;
      break;
    }
    if (matched < 0) return bad();
    total += n * UnitAt(matched).size;
    next_unit = matched + 1;
    pos = digits_end + UnitAt(matched).suffix.size();
  }
  if (total < absl::ZeroDuration() || total == absl::InfiniteDuration()) return bad();
  return total;
}

std::string FormatPrometheusDuration(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms == 0) return "0s";
  std::string out;
  for (int u = 0; u < kUnits; ++u) {
    int64_t size = absl::ToInt64Milliseconds(UnitAt(u).size);
    if (ms >= size) {
      absl::StrAppend(&out, ms / size, UnitAt(u).suffix);
      ms %= size;
    }
  }
  return out;
}

}  // namespace promconf
