// util/json.h: the one JSON string escaper. Whatever the bytes, the output is
// valid UTF-8 JSON that a strict parser reads back.

#include "util/json.h"
#include "util/utf8.h"

#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/encodings.h"
#include "rapidjson/error/en.h"

namespace promconf {
namespace {

// A second, independent strict UTF-8 check (RFC 3629): decode each sequence
// and reject overlongs, surrogates, values past U+10FFFF and stray bytes.
bool StrictUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = s[i];
    int n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0xff >> (n + 1));
    for (int k = 1; k < n; ++k) {
      const uint8_t b = s[i + k];
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

// Parses `json` (one string literal) with RapidJSON validating UTF-8.
bool ReadBack(const std::string& json, std::string* out) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(json.c_str(), json.size());
  if (d.HasParseError() || !d.IsString()) return false;
  out->assign(d.GetString(), d.GetStringLength());
  return true;
}

TEST(JsonStringTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(JsonString("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(JsonString("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(JsonString(std::string("\0\x01\x1f\x7f", 4)), R"("\u0000\u0001\u001f\u007f")");
  EXPECT_EQ(JsonString(""), R"("")");
}

TEST(JsonStringTest, ValidUtf8PassesThroughLineSeparatorsAreEscaped) {
  EXPECT_EQ(JsonString("é€😀"), "\"é€😀\"");
  EXPECT_EQ(JsonString("a\u2028b\u2029c\u0085d\ufeffe"), R"("a\u2028b\u2029c\u0085d\ufeffe")");
}

TEST(JsonStringTest, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(JsonString("a\xff" "b"), R"("a\ufffdb")");
  EXPECT_EQ(JsonString("\xc0\xaf"), R"("\ufffd\ufffd")");          // overlong '/'
  EXPECT_EQ(JsonString("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // surrogate
  EXPECT_EQ(JsonString("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(JsonString("\xe2\x82"), R"("\ufffd\ufffd")");  // truncated
  EXPECT_EQ(JsonString("\xe2\x82x"), R"("\ufffd\ufffdx")");
}

// Every single byte and every pair of bytes, plus invalid sequences at the
// edges of each length: valid UTF-8 out, and what was valid reads back.
TEST(JsonStringTest, AnyBytesGiveValidUtf8Json) {
  std::string s;
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      s.assign({static_cast<char>(a), static_cast<char>(b)});
      const std::string json = JsonString(s);
      ASSERT_TRUE(StrictUtf8(json)) << a << " " << b;
      std::string back;
      ASSERT_TRUE(ReadBack(json, &back)) << a << " " << b << ": " << json;
      if (IsValidUtf8(s)) {
        EXPECT_EQ(back, s) << a << " " << b;
      }
      EXPECT_EQ(IsValidUtf8(s), StrictUtf8(s)) << a << " " << b;
    }
  }
  for (const char* t : {"\xf0\x9f\x98", "\xf0\x9f\x98\x80\x80", "\xe0\x80\x80", "\xef\xbf\xbf",
                        "\xf4\x8f\xbf\xbf", "\xf8\x88\x80\x80\x80"}) {
    const std::string json = JsonString(t);
    EXPECT_TRUE(StrictUtf8(json)) << json;
    std::string back;
    EXPECT_TRUE(ReadBack(json, &back)) << json;
    EXPECT_EQ(IsValidUtf8(t), StrictUtf8(t)) << json;
  }
}

// util/utf8.h's decoder against the decoders it replaced (decode the
// bits the lead byte promises, then refuse overlongs, surrogates and values
// past U+10FFFF): every 1- and 2-byte input, every 3-byte input and a
// sweep of 4-byte ones, with trailing bytes.
int ReferenceDecode(absl::string_view s, uint32_t* cp) {
  if (s.empty()) return 0;
  const unsigned char c = static_cast<unsigned char>(s[0]);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  const int len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
  if (len == 0 || static_cast<size_t>(len) > s.size()) return 0;
  uint32_t v = c & (0x7f >> len);
  for (int k = 1; k < len; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[k]);
    if ((cc & 0xc0) != 0x80) return 0;
    v = (v << 6) | (cc & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) return 0;
  *cp = v;
  return len;
}

void ExpectSameDecode(const std::string& s) {
  uint32_t a = 0xdead, b = 0xdead;
  const int n = DecodeUtf8(s, &a), m = ReferenceDecode(s, &b);
  ASSERT_EQ(n, m) << absl::CHexEscape(s);
  if (n != 0) {
    ASSERT_EQ(a, b) << absl::CHexEscape(s);
  }
}

TEST(Utf8Test, DecoderAgreesWithTheReferenceOnEveryShortInput) {
  EXPECT_EQ(DecodeUtf8("", nullptr), 0);
  for (int x = 0; x < 256; ++x) ExpectSameDecode(std::string(1, static_cast<char>(x)));
  for (int x = 0; x < 0x10000; ++x) {
    ExpectSameDecode({static_cast<char>(x >> 8), static_cast<char>(x)});
    ExpectSameDecode({static_cast<char>(x >> 8), static_cast<char>(x), 'z'});
  }
  for (int x = 0xe00000; x < 0xf00000; ++x) {
    ExpectSameDecode({static_cast<char>(x >> 16), static_cast<char>(x >> 8), static_cast<char>(x)});
  }
  for (int lead = 0xf0; lead < 0x100; ++lead) {
    for (int x = 0; x < 0x10000; ++x) {
      ExpectSameDecode({static_cast<char>(lead), static_cast<char>(x >> 8), static_cast<char>(x),
                        static_cast<char>(0x80 | (x & 0x3f))});
    }
  }
}

// Every scalar value round-trips through the encoder and the decoder.
TEST(Utf8Test, EveryCodePointRoundTrips) {
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    std::string s;
    AppendUtf8(cp, &s);
    uint32_t back = 0;
    const int n = DecodeUtf8(s, &back);
    if (cp >= 0xd800 && cp <= 0xdfff) {
      ASSERT_EQ(n, 0) << cp;
      continue;
    }
    ASSERT_EQ(n, static_cast<int>(s.size())) << cp;
    ASSERT_EQ(back, cp);
  }
}

}  // namespace
}  // namespace promconf
