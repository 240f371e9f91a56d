#include "reconcile/prometheus/values.h"

#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace promconf::prom {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Quote(absl::string_view s) {
  // Go's %q closely enough for an error message: never raw control bytes.
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace

std::string CheckDuration(absl::string_view text, int64_t* nanos) {
  if (nanos != nullptr) *nanos = 0;
  if (text == "0") return "";
  if (text.empty()) return "empty duration string";
  struct Unit {
    absl::string_view name;
    uint64_t mult;
  };
  static constexpr uint64_t kMs = 1000000;
  static constexpr uint64_t kS = 1000 * kMs;
  static constexpr Unit kUnits[] = {{"y", 365 * 24 * 3600 * kS}, {"w", 7 * 24 * 3600 * kS},
                                    {"d", 24 * 3600 * kS},       {"h", 3600 * kS},
                                    {"m", 60 * kS},              {"s", kS},
                                    {"ms", kMs}};
  const std::string invalid = absl::StrCat("not a valid duration string: ", Quote(text));
  absl::string_view s = text;
  uint64_t total = 0;
  int last = -1;
  while (!s.empty()) {
    if (!IsDigit(s[0])) return invalid;
    size_t i = 0;
    uint64_t v = 0;
    bool too_big = false;
    for (; i < s.size() && IsDigit(s[i]); ++i) {
      if (v > (std::numeric_limits<uint64_t>::max() - 9) / 10) too_big = true;
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
    }
    if (too_big) return invalid;  // strconv.ParseUint fails
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !IsDigit(s[j])) ++j;
    if (j == 0) return invalid;
    absl::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    int pos = -1;
    for (int k = 0; k < 7; ++k) {
      if (kUnits[k].name == unit) pos = k;
    }
    if (pos < 0) return absl::StrCat("unknown unit ", Quote(unit), " in duration ", Quote(text));
    if (pos <= last) return invalid;  // units go from biggest to smallest
    last = pos;
    const uint64_t mult = kUnits[pos].mult;
    if (v > (uint64_t{1} << 63) / mult) return "duration out of range";
    total += v * mult;
    if (total > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return "duration out of range";
    }
  }
  if (nanos != nullptr) *nanos = static_cast<int64_t>(total);
  return "";
}

namespace {

// units.ParseUnit over one unit map.
bool ParseUnit(absl::string_view s, bool iec) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s == "0") return true;
  if (s.empty()) return false;
  double f = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || IsDigit(s[0]))) return false;
    size_t i = 0;
    int64_t x = 0;
    for (; i < s.size() && IsDigit(s[i]); ++i) {
      if (x >= (std::numeric_limits<int64_t>::max() - 10) / 10) return false;
      x = x * 10 + (s[i] - '0');
    }
    double g = static_cast<double>(x);
    const bool pre = i > 0;
    s.remove_prefix(i);
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t k = 0;
      int64_t y = 0;
      double scale = 1;
      for (; k < s.size() && IsDigit(s[k]); ++k) {
        if (y >= (std::numeric_limits<int64_t>::max() - 10) / 10) return false;
        y = y * 10 + (s[k] - '0');
        scale *= 10;
      }
      g += static_cast<double>(y) / scale;
      post = k > 0;
      s.remove_prefix(k);
    }
    if (!pre && !post) return false;
    size_t j = 0;
    while (j < s.size() && s[j] != '.' && !IsDigit(s[j])) ++j;
    absl::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    const absl::string_view suffix = iec ? "iB" : "B";
    double mult = 0;
    if (unit == "B") {
      mult = 1;
    } else if (unit.size() == 1 + suffix.size() && absl::EndsWith(unit, suffix)) {
      static constexpr absl::string_view kPrefixes = "KMGTPE";
      size_t p = kPrefixes.find(unit[0]);
      if (p == absl::string_view::npos) return false;
      mult = std::pow(1024.0, static_cast<double>(p + 1));
    } else {
      return false;
    }
    f += g * mult;
  }
  return f <= 9223372036854775807.0;
}

}  // namespace

std::string CheckBase2Bytes(absl::string_view text) {
  if (ParseUnit(text, true) || ParseUnit(text, false)) return "";
  return absl::StrCat("units: invalid size ", Quote(text),
                      " (a number and a unit: B, KB, MB, GB, KiB, MiB, ...)");
}

namespace {

bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// net/url's unescape validation: every '%' starts a two-digit hex escape.
std::string CheckEscapes(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || !IsHex(s[i + 1]) || !IsHex(s[i + 2])) {
      return absl::StrCat("invalid URL escape ", Quote(s.substr(i, 3)));
    }
    i += 2;
  }
  return "";
}

// shouldEscape(c, encodeHost) for ASCII: what a host may not contain.
bool HostCharOk(unsigned char c) {
  if (c >= 0x80) return true;
  if (absl::ascii_isalnum(c)) return true;
  static constexpr absl::string_view kOk = "-_.~!$&'()*+,;=:[]<>\"%";
  return kOk.find(static_cast<char>(c)) != absl::string_view::npos;
}

bool ValidOptionalPort(absl::string_view port) {
  if (port.empty()) return true;
  if (port[0] != ':') return false;
  for (char c : port.substr(1)) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

std::string CheckHost(absl::string_view host) {
  if (!host.empty() && host[0] == '[') {
    size_t close = host.rfind(']');
    if (close == absl::string_view::npos) return "missing ']' in host";
    absl::string_view port = host.substr(close + 1);
    if (!ValidOptionalPort(port)) {
      return absl::StrCat("invalid port ", Quote(port), " after host");
    }
    host = host.substr(0, close + 1);
  } else {
    size_t colon = host.rfind(':');
    if (colon != absl::string_view::npos) {
      absl::string_view port = host.substr(colon);
      if (!ValidOptionalPort(port)) {
        return absl::StrCat("invalid port ", Quote(port), " after host");
      }
    }
  }
  for (unsigned char c : host) {
    if (!HostCharOk(c)) {
      return absl::StrCat("invalid character ", Quote(std::string(1, static_cast<char>(c))),
                          " in host name");
    }
  }
  return CheckEscapes(host);
}

}  // namespace

std::string CheckGoUrl(absl::string_view text, std::string* scheme_out, std::string* host_out) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return "invalid control character in URL";
  }
  absl::string_view rest = text;
  size_t hash = rest.find('#');
  if (hash != absl::string_view::npos) {
    std::string e = CheckEscapes(rest.substr(hash + 1));
    if (!e.empty()) return e;
    rest = rest.substr(0, hash);
  }
  if (rest.empty()) return "";
  absl::string_view scheme;
  for (size_t i = 0; i < rest.size(); ++i) {
    char c = rest[i];
    if (absl::ascii_isalpha(c)) continue;
    if (IsDigit(c) || c == '+' || c == '-' || c == '.') {
      if (i == 0) break;
      continue;
    }
    if (c == ':') {
      if (i == 0) return "missing protocol scheme";
      scheme = rest.substr(0, i);
      rest.remove_prefix(i + 1);
    }
    break;
  }
  if (scheme_out != nullptr) *scheme_out = absl::AsciiStrToLower(scheme);
  size_t q = rest.find('?');
  if (q != absl::string_view::npos) rest = rest.substr(0, q);
  if (!absl::StartsWith(rest, "/")) {
    if (!scheme.empty()) return "";  // opaque: "mailto:x"
    size_t colon = rest.find(':');
    size_t slash = rest.find('/');
    if (colon != absl::string_view::npos && (slash == absl::string_view::npos || colon < slash)) {
      return "first path segment in URL cannot contain colon";
    }
  }
  if (!scheme.empty() && absl::StartsWith(rest, "//")) {
    absl::string_view authority = rest.substr(2);
    size_t slash = authority.find('/');
    absl::string_view path;
    if (slash != absl::string_view::npos) {
      path = authority.substr(slash);
      authority = authority.substr(0, slash);
    }
    size_t at = authority.rfind('@');
    absl::string_view host = at == absl::string_view::npos ? authority : authority.substr(at + 1);
    if (at != absl::string_view::npos) {
      for (unsigned char c : authority.substr(0, at)) {
        static constexpr absl::string_view kUserOk = "-._:~!$&'()*+,;=%@";
        if (c < 0x80 && !absl::ascii_isalnum(c) &&
            kUserOk.find(static_cast<char>(c)) == absl::string_view::npos) {
          return "net/url: invalid userinfo";
        }
      }
    }
    std::string e = CheckHost(host);
    if (!e.empty()) return e;
    if (host_out != nullptr) *host_out = std::string(host);
    return CheckEscapes(path);
  }
  return CheckEscapes(rest);
}

std::optional<bool> ParseYaml11Bool(absl::string_view s) {
  static constexpr absl::string_view kTrue[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                                "True", "TRUE", "on",  "On",  "ON"};
  static constexpr absl::string_view kFalse[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                                 "False", "FALSE", "off", "Off", "OFF"};
  for (absl::string_view t : kTrue) {
    if (s == t) return true;
  }
  for (absl::string_view f : kFalse) {
    if (s == f) return false;
  }
  return std::nullopt;
}

std::optional<uint64_t> ParseYaml11Int(absl::string_view plain, bool* negative) {
  std::string s = absl::StrReplaceAll(plain, {{"_", ""}});
  absl::string_view v = s;
  *negative = false;
  if (!v.empty() && (v[0] == '-' || v[0] == '+')) {
    *negative = v[0] == '-';
    v.remove_prefix(1);
  }
  int base = 10;
  if (absl::StartsWith(v, "0x")) {
    base = 16;
    v.remove_prefix(2);
  } else if (absl::StartsWith(v, "0b")) {
    base = 2;
    v.remove_prefix(2);
  } else if (absl::StartsWith(v, "0o")) {
    base = 8;
    v.remove_prefix(2);
  } else if (v.size() > 1 && v[0] == '0') {
    base = 8;
    v.remove_prefix(1);
  }
  if (v.empty()) return std::nullopt;
  uint64_t out = 0;
  for (char c : v) {
    int d;
    if (IsDigit(c)) d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return std::nullopt;
    if (d >= base) return std::nullopt;
    if (out > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(d)) /
                  static_cast<uint64_t>(base)) {
      return std::nullopt;
    }
    out = out * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  if (*negative && out > (uint64_t{1} << 63)) return std::nullopt;
  return out;
}

bool IsYaml11Float(absl::string_view s) {
  static constexpr absl::string_view kSpecial[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf",
                                                   "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                                   ".NaN", ".NAN"};
  for (absl::string_view k : kSpecial) {
    if (s == k) return true;
  }
  // [-+]?([0-9][0-9_]*)?\.?[0-9.]*([eE][-+][0-9]+)?  (go-yaml v2's resolver), plus plain ints.
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  bool digits = false;
  while (i < s.size() && (IsDigit(s[i]) || s[i] == '_' || s[i] == '.')) {
    digits |= IsDigit(s[i]);
    ++i;
  }
  if (!digits) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == start) return false;
  }
  return i == s.size();
}

}  // namespace promconf::prom
