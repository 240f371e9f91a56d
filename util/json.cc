#include "util/json.h"

#include <cstdint>
#include "util/utf8.h"

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
    const int n = DecodeUtf8(s.substr(i), &cp);
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
    const int n = DecodeUtf8(s.substr(i), &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace promconf
