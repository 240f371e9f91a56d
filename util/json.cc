#include "util/json.h"

#include <cstdint>

namespace promconf {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendU4(std::string* out, uint32_t cp) {
  const char esc[] = {'\\',
                      'u',
                      kHex[(cp >> 12) & 0xf],
                      kHex[(cp >> 8) & 0xf],
                      kHex[(cp >> 4) & 0xf],
                      kHex[cp & 0xf]};
  out->append(esc, sizeof(esc));
}

// Length of the well-formed UTF-8 sequence starting at s[i] (2..4) and its
// code point, or 0 when the bytes there are not one (Unicode Table 3-7).
int Utf8Sequence(absl::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  int n;
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < static_cast<size_t>(n)) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  uint32_t v = c & (0x7f >> n);
  for (int k = 1; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3f);
  }
  *cp = v;
  return n;
}

}  // namespace

void AppendJsonString(std::string* out, absl::string_view s) {
  out->reserve(out->size() + s.size() + 2);
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out->append("\\\""); break;
        case '\\': out->append("\\\\"); break;
        case '\n': out->append("\\n"); break;
        case '\r': out->append("\\r"); break;
        case '\t': out->append("\\t"); break;
        case '\b': out->append("\\b"); break;
        case '\f': out->append("\\f"); break;
        default:
          if (c < 0x20 || c == 0x7f) {
            AppendU4(out, c);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const int n = Utf8Sequence(s, i, &cp);
    if (n == 0) {
      AppendU4(out, 0xfffd);
      ++i;
    } else if (cp == 0x85 || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff) {
      AppendU4(out, cp);
      i += n;
    } else {
      out->append(s.data() + i, n);
      i += n;
    }
  }
  out->push_back('"');
}

std::string JsonString(absl::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const int n = Utf8Sequence(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace promconf
