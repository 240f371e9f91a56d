#include "reconcile/promql/lexer.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "util/utf8.h"

namespace promconf::promql::internal {
namespace {

constexpr int kEofRune = -1;
constexpr int kRuneError = 0xFFFD;

bool IsSpace(int r) { return r == ' ' || r == '\t' || r == '\n' || r == '\r'; }
bool IsDigit(int r) { return r >= '0' && r <= '9'; }
bool IsAlpha(int r) {
  return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}
bool IsAlphaNumeric(int r) { return IsAlpha(r) || IsDigit(r); }

std::string EncodeUtf8(int r);

// Go's %#U of a rune: U+0071 'q'.
std::string RuneU(int r) {
  std::string s = absl::StrFormat("U+%04X", r < 0 ? 0xFFFD : r);
  if (r >= 0x20 && r != 0x7f) absl::StrAppend(&s, " '", EncodeUtf8(r), "'");
  return s;
}

std::string EncodeUtf8(int r) {
  std::string utf8;
  AppendUtf8(static_cast<uint32_t>(r), &utf8);
  return utf8;
}

// Go's %q of a single rune.
std::string QuoteRune(int r) {
  switch (r) {
    case kEofRune: return "'\ufffd'";
    case '\'': return "'\\''";
    case '\\': return "'\\\\'";
    case '\n': return "'\\n'";
    case '\t': return "'\\t'";
    case '\r': return "'\\r'";
    case '\a': return "'\\a'";
    case '\b': return "'\\b'";
    case '\f': return "'\\f'";
    case '\v': return "'\\v'";
    default: break;
  }
  if (r < 0x20 || r == 0x7f) return absl::StrFormat("'\\x%02x'", r);
  return absl::StrCat("'", EncodeUtf8(r), "'");
}

Tok KeywordOf(absl::string_view lower, Version v, bool* is_number) {
  static const auto* const kKeys = new absl::flat_hash_map<std::string, Tok>{
      {"and", Tok::kLand},       {"or", Tok::kLor},
      {"unless", Tok::kLunless}, {"atan2", Tok::kAtan2},
      {"sum", Tok::kSum},        {"avg", Tok::kAvg},
      {"count", Tok::kCount},    {"min", Tok::kMin},
      {"max", Tok::kMax},        {"group", Tok::kGroup},
      {"stddev", Tok::kStddev},  {"stdvar", Tok::kStdvar},
      {"topk", Tok::kTopk},      {"bottomk", Tok::kBottomk},
      {"count_values", Tok::kCountValues},
      {"quantile", Tok::kQuantile},
      {"limitk", Tok::kLimitk},  {"limit_ratio", Tok::kLimitRatio},
      {"offset", Tok::kOffset},  {"by", Tok::kBy},
      {"without", Tok::kWithout}, {"on", Tok::kOn},
      {"ignoring", Tok::kIgnoring}, {"group_left", Tok::kGroupLeft},
      {"group_right", Tok::kGroupRight}, {"bool", Tok::kBool},
      {"start", Tok::kStart},    {"end", Tok::kEnd},
  };
  *is_number = (lower == "inf" || lower == "nan");
  if (*is_number) return Tok::kNumber;
  auto it = kKeys->find(lower);
  if (it == kKeys->end()) return Tok::kIdentifier;
  // limitk and limit_ratio became keywords in 2.54.
  if ((it->second == Tok::kLimitk || it->second == Tok::kLimitRatio) &&
      v < Version{2, 54}) {
    return Tok::kIdentifier;
  }
  return it->second;
}

// The arithmetic operators and the comma: one character, one token, in a
// statement and in a duration expression alike.
bool SingleCharOperator(int r, Tok* t) {
  switch (r) {
    case ',': *t = Tok::kComma; return true;
    case '*': *t = Tok::kMul; return true;
    case '/': *t = Tok::kDiv; return true;
    case '%': *t = Tok::kMod; return true;
    case '+': *t = Tok::kAdd; return true;
    case '-': *t = Tok::kSub; return true;
    case '^': *t = Tok::kPow; return true;
    default: return false;
  }
}

}  // namespace

bool IsAggregator(Tok t) { return t >= Tok::kSum && t <= Tok::kLimitRatio; }
bool IsKeyword(Tok t) { return t >= Tok::kBool && t <= Tok::kOffset; }
bool IsOperator(Tok t) {
  return (t >= Tok::kAdd && t <= Tok::kAtan2) || t == Tok::kAt ||
         t == Tok::kEqlRegex || t == Tok::kNeqRegex;
}

std::string Describe(const Token& t) {
  switch (t.type) {
    case Tok::kEof:
      return "end of input";
    case Tok::kIdentifier:
      return absl::StrCat("identifier ", GoQuote(t.val));
    case Tok::kMetricIdentifier:
      return absl::StrCat("metric identifier ", GoQuote(t.val));
    case Tok::kError:
      return t.error;
    default:
      break;
  }
  if (IsKeyword(t.type)) return absl::StrCat("<", t.val, ">");
  if (IsOperator(t.type)) return absl::StrCat("<op:", t.val, ">");
  if (IsAggregator(t.type)) return absl::StrCat("<aggr:", t.val, ">");
  std::string prefix;
  switch (t.type) {
    case Tok::kString: prefix = "string "; break;
    case Tok::kNumber: prefix = "number "; break;
    case Tok::kDuration: prefix = "duration "; break;
    default: break;
  }
  // Go's "%.10q...": at most 10 runes, then an ellipsis.
  absl::string_view v = t.val;
  size_t runes = 0, i = 0;
  while (i < v.size() && runes < 10) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    size_t w = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    i += std::min(w, v.size() - i);
    ++runes;
  }
  if (i < v.size()) return absl::StrCat(prefix, GoQuote(v.substr(0, i)), "...");
  return absl::StrCat(prefix, GoQuote(v));
}

Lexer::Lexer(absl::string_view input, Version version)
    : input_(input), version_(version) {}

int Lexer::NextRune() {
  if (pos_ >= input_.size()) {
    width_ = 0;
    return kEofRune;
  }
  unsigned char c = static_cast<unsigned char>(input_[pos_]);
  if (c < 0x80) {
    width_ = 1;
    ++pos_;
    return c;
  }
  // As Go decodes: an invalid sequence is one byte of RuneError.
  uint32_t r = 0;
  const int n = DecodeUtf8(input_.substr(pos_), &r);
  width_ = n == 0 ? 1 : static_cast<size_t>(n);
  pos_ += width_;
  return n == 0 ? kRuneError : static_cast<int>(r);
}

int Lexer::Peek() {
  int r = NextRune();
  Backup();
  return r;
}

void Lexer::Backup() { pos_ -= width_; }  // as Go's: width stays, so peek+backup works

bool Lexer::Accept(absl::string_view valid) {
  int r = NextRune();
  if (r >= 0 && r < 0x80 && valid.find(static_cast<char>(r)) != absl::string_view::npos) {
    return true;
  }
  Backup();
  return false;
}

bool Lexer::Is(absl::string_view valid) {
  int r = Peek();
  return r >= 0 && r < 0x80 && valid.find(static_cast<char>(r)) != absl::string_view::npos;
}

void Lexer::AcceptRun(absl::string_view valid) {
  while (Accept(valid)) {
  }
}

Token Lexer::Emit(Tok t) {
  Token tok;
  tok.type = t;
  tok.pos = static_cast<uint32_t>(start_);
  tok.val = input_.substr(start_, pos_ - start_);
  start_ = pos_;
  return tok;
}

Token Lexer::Error(std::string message) {
  Token tok;
  tok.type = Tok::kError;
  tok.pos = static_cast<uint32_t>(start_);
  tok.error = std::move(message);
  done_ = true;
  return tok;
}

void Lexer::SkipSpaces() {
  while (IsSpace(Peek())) NextRune();
  start_ = pos_;
}

Token Lexer::Next() {
  if (done_) return last_;
  for (;;) {
    Token t;
    if (brace_open_) {
      t = LexInsideBraces();
    } else if (bracket_open_ && version_ >= Version{3, 4}) {
      t = LexDurationExpr();
    } else {
      t = LexStatements();
    }
    if (t.type == Tok::kError || t.type == Tok::kEof) {
      done_ = true;
      last_ = t;
      return t;
    }
    if (t.type == Tok::kComment) continue;
    return t;
  }
}

// A comment runs from '#' to the end of the line.
#define PROMQL_SKIP_COMMENT()                                        \
  do {                                                               \
    if (pos_ < input_.size() && input_[pos_] == '#') {               \
      while (pos_ < input_.size() && input_[pos_] != '\n' &&         \
             input_[pos_] != '\r') {                                 \
        ++pos_;                                                      \
      }                                                              \
      return Emit(Tok::kComment);                                    \
    }                                                                \
  } while (0)

Token Lexer::LexStatements() {
  if (bracket_first_) {
    // The first token in [] (releases before 3.4).
    bracket_first_ = false;
    if (version_ < Version{2, 54}) {
      if (ScanNumber()) return Error("missing unit character in duration");
      if (!AcceptRemainingDuration()) {
        return Error(absl::StrCat("bad duration syntax: ",
                                  GoQuote(input_.substr(start_, pos_ - start_))));
      }
      Backup();
      return Emit(Tok::kDuration);
    }
    return LexNumberOrDuration();
  }
  PROMQL_SKIP_COMMENT();
  int r = NextRune();
  if (Tok op; SingleCharOperator(r, &op)) return Emit(op);
  switch (r) {
    case kEofRune:
      if (paren_depth_ != 0) return Error("unclosed left parenthesis");
      if (bracket_open_) return Error("unclosed left bracket");
      return Emit(Tok::kEof);
    case '=': {
      int t = Peek();
      if (t == '=') {
        NextRune();
        return Emit(Tok::kEqlc);
      }
      if (t == '~') {
        return Error(absl::StrCat("unexpected character after '=': ", QuoteRune(t)));
      }
      return Emit(Tok::kEql);
    }
    case '!': {
      int t = NextRune();
      if (t != '=') {
        return Error(absl::StrCat("unexpected character after '!': ", QuoteRune(t)));
      }
      return Emit(Tok::kNeq);
    }
    case '<':
      if (Peek() == '=') {
        NextRune();
        return Emit(Tok::kLte);
      }
      return Emit(Tok::kLss);
    case '>':
      if (Peek() == '=') {
        NextRune();
        return Emit(Tok::kGte);
      }
      return Emit(Tok::kGtr);
    case '"':
    case '\'':
      return LexString(r);
    case '`':
      return LexRawString();
    case '(':
    case ')':
      return LexParen(r);
    case '{':
      brace_open_ = true;
      return Emit(Tok::kLeftBrace);
    case '[': {
      if (bracket_open_) return Error("unexpected left bracket '['");
      got_colon_ = false;
      got_duration_ = false;
      Token t = Emit(Tok::kLeftBracket);
      SkipSpaces();
      bracket_open_ = true;
      bracket_first_ = version_ < Version{3, 4};
      return t;
    }
    case ']':
      if (!bracket_open_) return Error("unexpected right bracket ']'");
      bracket_open_ = false;
      return Emit(Tok::kRightBracket);
    case '@':
      return Emit(Tok::kAt);
    default:
      break;
  }
  if (IsSpace(r)) {
    SkipSpaces();
    return LexStatements();
  }
  if (IsDigit(r) || (r == '.' && IsDigit(Peek()))) {
    Backup();
    return LexNumberOrDuration();
  }
  if (IsAlpha(r) || r == ':') {
    if (!bracket_open_) {
      Backup();
      return LexKeywordOrIdentifier();
    }
    // Before 3.4 any letter inside [] lexes as the subquery colon.
    if (got_colon_) return Error(absl::StrCat("unexpected colon ", QuoteRune(r)));
    got_colon_ = true;
    return Emit(Tok::kColon);
  }
  return Error(absl::StrCat("unexpected character: ", QuoteRune(r)));
}

Token Lexer::LexParen(int r) {
  if (r == '(') {
    ++paren_depth_;
    return Emit(Tok::kLeftParen);
  }
  Token t = Emit(Tok::kRightParen);
  --paren_depth_;
  if (paren_depth_ < 0) return Error("unexpected right parenthesis ')'");
  return t;
}

Token Lexer::LexDurationExpr() {
  PROMQL_SKIP_COMMENT();
  int r = NextRune();
  if (Tok op; SingleCharOperator(r, &op)) return Emit(op);
  switch (r) {
    case kEofRune:
      return Error("unexpected end of input in duration expression");
    case ']':
      bracket_open_ = false;
      got_colon_ = false;
      return Emit(Tok::kRightBracket);
    case ':': {
      Token t = Emit(Tok::kColon);
      if (!got_duration_) {
        return Error("unexpected colon before duration in duration expression");
      }
      if (got_colon_) return Error("unexpected repeated colon in duration expression");
      got_colon_ = true;
      return t;
    }
    case '(':
    case ')':
      return LexParen(r);
    default: break;
  }
  if (IsSpace(r)) {
    SkipSpaces();
    return LexDurationExpr();
  }
  if (r == 's' || r == 'S' || r == 'r' || r == 'R' || r == 'm' || r == 'M') {
    while (IsAlpha(Peek())) NextRune();
    std::string word = absl::AsciiStrToLower(input_.substr(start_, pos_ - start_));
    if (word == "step") return Emit(Tok::kStep);
    if (word == "range") return Emit(Tok::kRange);
    if (word == "max_of") return Emit(Tok::kMaxOf);
    if (word == "min_of") return Emit(Tok::kMinOf);
    pos_ = start_;
    NextRune();
    return Error(absl::StrCat("unexpected character in duration expression: ", QuoteRune(r)));
  }
  if (IsDigit(r) || (r == '.' && IsDigit(Peek()))) {
    Backup();
    got_duration_ = true;
    return LexNumberOrDuration();
  }
  return Error(absl::StrCat("unexpected character in duration expression: ", QuoteRune(r)));
}

Token Lexer::LexInsideBraces() {
  PROMQL_SKIP_COMMENT();
  int r = NextRune();
  if (r == kEofRune) return Error("unexpected end of input inside braces");
  if (IsSpace(r)) {
    SkipSpaces();
    return LexInsideBraces();
  }
  if (IsAlpha(r)) {
    while (IsAlphaNumeric(Peek())) NextRune();
    return Emit(Tok::kIdentifier);
  }
  switch (r) {
    case ',':
      return Emit(Tok::kComma);
    case '"':
    case '\'':
      return LexString(r);
    case '`':
      return LexRawString();
    case '=':
      if (NextRune() == '~') return Emit(Tok::kEqlRegex);
      Backup();
      return Emit(Tok::kEql);
    case '!': {
      int nr = NextRune();
      if (nr == '~') return Emit(Tok::kNeqRegex);
      if (nr == '=') return Emit(Tok::kNeq);
      return Error(absl::StrCat("unexpected character after '!' inside braces: ",
                                QuoteRune(nr)));
    }
    case '{':
      return Error("unexpected left brace '{'");
    case '}':
      brace_open_ = false;
      return Emit(Tok::kRightBrace);
    default:
      return Error(absl::StrCat("unexpected character inside braces: ", QuoteRune(r)));
  }
}

bool Lexer::LexEscape(int quote, std::string* error) {
  int ch = NextRune();
  int n = 0;
  uint32_t base = 0, max = 0;
  switch (ch) {
    case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v':
    case '\\':
      return true;
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
      n = 3, base = 8, max = 255;
      break;
    case 'x':
      ch = NextRune();
      n = 2, base = 16, max = 255;
      break;
    case 'u':
      ch = NextRune();
      n = 4, base = 16, max = 0x10FFFF;
      break;
    case 'U':
      ch = NextRune();
      n = 8, base = 16, max = 0x10FFFF;
      break;
    case kEofRune:
      *error = "escape sequence not terminated";
      return false;
    default:
      if (ch == quote) return true;
      *error = absl::StrCat("unknown escape sequence ", RuneU(ch));
      return false;
  }
  uint64_t x = 0;
  while (n > 0) {
    uint32_t d = 16;
    if (ch >= '0' && ch <= '9') d = ch - '0';
    else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
    if (d >= base) {
      if (ch == kEofRune) {
        *error = "escape sequence not terminated";
        return false;
      }
      *error = absl::StrCat("illegal character ", RuneU(ch), " in escape sequence");
      return false;
    }
    x = x * base + d;
    --n;
    if (n > 0) ch = NextRune();
  }
  if (x > max || (x >= 0xD800 && x < 0xE000)) {
    *error = "escape sequence is an invalid Unicode code point";
    return false;
  }
  return true;
}

Token Lexer::LexString(int quote) {
  for (;;) {
    int r = NextRune();
    if (r == '\\') {
      std::string err;
      if (!LexEscape(quote, &err)) return Error(std::move(err));
      continue;
    }
    if (r == kRuneError) return Error("invalid UTF-8 rune");
    if (r == kEofRune || r == '\n') return Error("unterminated quoted string");
    if (r == quote) break;
  }
  return Emit(Tok::kString);
}

Token Lexer::LexRawString() {
  for (;;) {
    int r = NextRune();
    if (r == kRuneError) return Error("invalid UTF-8 rune");
    if (r == kEofRune) return Error("unterminated raw string");
    if (r == '`') break;
  }
  return Emit(Tok::kString);
}

Token Lexer::LexNumberOrDuration() {
  if (ScanNumber()) return Emit(Tok::kNumber);
  if (AcceptRemainingDuration()) {
    Backup();
    return Emit(Tok::kDuration);
  }
  return Error(absl::StrCat("bad number or duration syntax: ",
                            GoQuote(input_.substr(start_, pos_ - start_))));
}

bool Lexer::AcceptRemainingDuration() {
  if (!Accept("smhdwy")) return false;
  Accept("s");
  while (Accept("0123456789")) {
    while (Accept("0123456789")) {
    }
    if (!Accept("smhdw")) return false;
    Accept("s");
  }
  return !IsAlphaNumeric(NextRune());
}

bool Lexer::ScanNumber() {
  if (version_ < Version{2, 54}) {
    absl::string_view digits = "0123456789";
    if (Accept("0") && Accept("xX")) digits = "0123456789abcdefABCDEF";
    AcceptRun(digits);
    if (Accept(".")) AcceptRun(digits);
    if (Accept("eE")) {
      Accept("+-");
      AcceptRun("0123456789");
    }
    return !IsAlphaNumeric(Peek());
  }
  size_t initial = pos_;
  absl::string_view digits = "0123456789";
  bool hex = false;
  if (Accept("0") && Accept("xX")) {
    Accept("_");
    digits = "0123456789abcdefABCDEF";
    hex = true;
  }
  Accept(".");
  Accept(digits);
  bool dot = false, exp = false;
  auto is_any = [&] {
    int r = Peek();
    if (r < 0 || r >= 0x80) return false;
    char c = static_cast<char>(r);
    return digits.find(c) != absl::string_view::npos || c == '.' || c == '_' ||
           c == 'e' || c == 'E';
  };
  while (is_any()) {
    if (Is(".") && dot) {
      Accept(".");
      return false;
    }
    if (Is("eE") && exp) {
      Accept("eE");
      return false;
    }
    if (Accept(".")) {
      dot = true;
      if (Accept("_.")) return false;
      if (hex) return false;
      continue;
    }
    if (Accept("eE")) {
      exp = true;
      Accept("+-");
      if (Accept("._eE") || Peek() == kEofRune) return false;
      continue;
    }
    if (Accept("_")) {
      if (Accept("._eE") || Peek() == kEofRune) return false;
      continue;
    }
    AcceptRun(digits);
  }
  if (pos_ == initial) return false;
  return !IsAlphaNumeric(Peek());
}

Token Lexer::LexKeywordOrIdentifier() {
  for (;;) {
    int r = NextRune();
    if (IsAlphaNumeric(r) || r == ':') continue;
    Backup();
    break;
  }
  absl::string_view word = input_.substr(start_, pos_ - start_);
  bool is_number = false;
  Tok kw = Tok::kIdentifier;
  // No keyword is longer than "count_values"; lower-case on the stack.
  if (word.size() <= 12) {
    char lower[12];
    for (size_t i = 0; i < word.size(); ++i) {
      lower[i] = absl::ascii_tolower(static_cast<unsigned char>(word[i]));
    }
    kw = KeywordOf(absl::string_view(lower, word.size()), version_, &is_number);
  }
  if (is_number) return Emit(Tok::kNumber);
  if (kw != Tok::kIdentifier) return Emit(kw);
  if (word.find(':') == absl::string_view::npos) return Emit(Tok::kIdentifier);
  return Emit(Tok::kMetricIdentifier);
}

}  // namespace promconf::promql::internal
