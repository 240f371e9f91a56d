#include "reconcile/gotemplate/lexer.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "util/utf8.h"

namespace promconf::gotemplate {
namespace {

constexpr absl::string_view kLeftDelim = "{{";
constexpr absl::string_view kRightDelim = "}}";
constexpr absl::string_view kLeftComment = "/*";
constexpr absl::string_view kRightComment = "*/";
constexpr absl::string_view kSpaceChars = " \t\r\n";
constexpr size_t kTrimMarkerLen = 2;  // '-' and the space beside it
constexpr int kRuneError = 0xFFFD;

bool IsSpace(int r) { return r == ' ' || r == '\t' || r == '\r' || r == '\n'; }

// "- " after a left delimiter: the marker needs the space, so "{{-3}}" is
// the number -3.
bool HasLeftTrimMarker(absl::string_view s) {
  return s.size() >= 2 && s[0] == '-' && IsSpace(static_cast<unsigned char>(s[1]));
}
bool HasRightTrimMarker(absl::string_view s) {
  return s.size() >= 2 && IsSpace(static_cast<unsigned char>(s[0])) && s[1] == '-';
}

size_t RightTrimLength(absl::string_view s) {
  size_t n = s.size();
  while (n > 0 && absl::StrContains(kSpaceChars, s[n - 1])) --n;
  return s.size() - n;
}
size_t LeftTrimLength(absl::string_view s) {
  size_t n = 0;
  while (n < s.size() && absl::StrContains(kSpaceChars, s[n])) ++n;
  return n;
}

bool IsPrintableAscii(int r) { return r >= 0x20 && r < 0x7F; }

// Go's %#U: "U+0041 'A'" for a printable rune, "U+0001" otherwise.
std::string RuneString(int r) {
  if (r < 0) return "U+FFFFFFFFFFFFFFFF";  // Go prints eof (-1) this way
  std::string out = absl::StrFormat("U+%04X", r);
  if (IsPrintableAscii(r)) absl::StrAppendFormat(&out, " '%c'", static_cast<char>(r));
  return out;
}

}  // namespace

// Go's utf8.DecodeRuneInString: an invalid or truncated sequence is
// (RuneError, 1).
int DecodeRune(absl::string_view s, size_t* width) {
  uint32_t r = 0;
  const int n = DecodeUtf8(s, &r);
  *width = s.empty() ? 0 : n == 0 ? 1 : static_cast<size_t>(n);
  return n == 0 ? kRuneError : static_cast<int>(r);
}

bool IsAlphaNumeric(int r) {
  if (r == '_') return true;
  if (r < 0x80) return r >= 0 && ((r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') ||
                                  (r >= '0' && r <= '9'));
  // Go's Unicode tables (letters and decimal digits), generated.
  struct Range {
    uint32_t first, last;
  };
  static constexpr Range kRanges[] = {
#include "reconcile/gotemplate/unicode_tables.inc"
  };
  const uint32_t c = static_cast<uint32_t>(r);
  const Range* it = std::upper_bound(std::begin(kRanges), std::end(kRanges), c,
                                     [](uint32_t v, const Range& range) { return v < range.first; });
  return it != std::begin(kRanges) && c <= std::prev(it)->last;
}

std::string ItemString(const Item& item) {
  switch (item.type) {
    case ItemType::kEof:
      return "EOF";
    case ItemType::kError:
      return std::string(item.val);
    default:
      break;
  }
  if (item.type > ItemType::kKeyword) return absl::StrCat("<", item.val, ">");
  // Go: %q, or %.10q... for longer values (10 runes, then "...").
  absl::string_view v = item.val;
  size_t runes = 0, i = 0;
  while (i < v.size() && runes < 10) {
    size_t w;
    DecodeRune(v.substr(i), &w);
    i += w;
    ++runes;
  }
  std::string quoted = GoQuote(v.substr(0, i));
  if (i < v.size()) quoted += "...";
  return quoted;
}

std::string GoQuote(absl::string_view v) {
  std::string quoted = "\"";
  for (char c : v) {
    switch (c) {
      case '"': quoted += "\\\""; break;
      case '\\': quoted += "\\\\"; break;
      case '\n': quoted += "\\n"; break;
      case '\t': quoted += "\\t"; break;
      case '\r': quoted += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          absl::StrAppendFormat(&quoted, "\\x%02x", static_cast<unsigned char>(c));
        } else {
          quoted += c;
        }
    }
  }
  quoted += "\"";
  return quoted;
}

int Lexer::NextRune() {
  if (pos_ >= input_.size()) {
    last_width_ = 0;
    return kEofRune;
  }
  size_t w;
  int r = DecodeRune(input_.substr(pos_), &w);
  pos_ += w;
  last_width_ = w;
  return r;
}

int Lexer::Peek() {
  int r = NextRune();
  Backup();
  return r;
}

bool Lexer::Accept(absl::string_view valid) {
  int r = NextRune();
  if (r >= 0 && r < 0x80 && absl::StrContains(valid, static_cast<char>(r))) return true;
  Backup();
  return false;
}

void Lexer::AcceptRun(absl::string_view valid) {
  while (Accept(valid)) {
  }
}

void Lexer::Emit(ItemType type) {
  items_.push_back(Item{type, start_, input_.substr(start_, pos_ - start_)});
  start_ = pos_;
}

Lexer::State Lexer::Errorf(std::string message) {
  error_ = std::move(message);
  items_.push_back(Item{ItemType::kError, start_, error_});
  return State::kDone;
}

Item Lexer::Next() {
  while (items_.empty()) {
    if (state_ == State::kDone) return last_;
    switch (state_) {
      case State::kText: state_ = LexText(); break;
      case State::kLeftDelim: state_ = LexLeftDelim(); break;
      case State::kComment: state_ = LexComment(); break;
      case State::kRightDelim: state_ = LexRightDelim(); break;
      case State::kInsideAction: state_ = LexInsideAction(); break;
      case State::kSpace: state_ = LexSpace(); break;
      case State::kIdentifier: state_ = LexIdentifier(); break;
      case State::kField: state_ = LexFieldOrVariable(ItemType::kField); break;
      case State::kVariable: state_ = LexVariable(); break;
      case State::kChar:
        state_ = LexEscapedQuote('\'', ItemType::kCharConstant, "unterminated character constant");
        break;
      case State::kNumber: state_ = LexNumber(); break;
      case State::kQuote:
        state_ = LexEscapedQuote('"', ItemType::kString, "unterminated quoted string");
        break;
      case State::kRawQuote: state_ = LexRawQuote(); break;
      case State::kDone: break;
    }
  }
  Item item = items_.front();
  items_.pop_front();
  if (item.type == ItemType::kEof || item.type == ItemType::kError) last_ = item;
  return item;
}

Lexer::State Lexer::LexText() {
  size_t x = input_.find(kLeftDelim, pos_);
  if (x != absl::string_view::npos) {
    pos_ = x;
    size_t trim = 0;
    if (HasLeftTrimMarker(input_.substr(pos_ + kLeftDelim.size()))) {
      trim = RightTrimLength(input_.substr(start_, pos_ - start_));
    }
    pos_ -= trim;
    if (pos_ > start_) Emit(ItemType::kText);
    pos_ += trim;
    Ignore();
    return State::kLeftDelim;
  }
  pos_ = input_.size();
  if (pos_ > start_) Emit(ItemType::kText);
  Emit(ItemType::kEof);
  return State::kDone;
}

bool Lexer::AtRightDelim(bool* trim) const {
  absl::string_view rest = input_.substr(pos_);
  if (HasRightTrimMarker(rest) && absl::StartsWith(rest.substr(kTrimMarkerLen), kRightDelim)) {
    *trim = true;
    return true;
  }
  *trim = false;
  return absl::StartsWith(rest, kRightDelim);
}

Lexer::State Lexer::LexLeftDelim() {
  pos_ += kLeftDelim.size();
  bool trim = HasLeftTrimMarker(input_.substr(pos_));
  size_t after_marker = trim ? kTrimMarkerLen : 0;
  if (absl::StartsWith(input_.substr(pos_ + after_marker), kLeftComment)) {
    pos_ += after_marker;
    Ignore();
    return State::kComment;
  }
  Emit(ItemType::kLeftDelim);
  pos_ += after_marker;
  Ignore();
  paren_depth_ = 0;
  return State::kInsideAction;
}

Lexer::State Lexer::LexComment() {
  pos_ += kLeftComment.size();
  size_t i = input_.find(kRightComment, pos_);
  if (i == absl::string_view::npos) return Errorf("unclosed comment");
  pos_ = i + kRightComment.size();
  bool trim;
  if (!AtRightDelim(&trim)) return Errorf("comment ends before closing delimiter");
  if (trim) pos_ += kTrimMarkerLen;
  pos_ += kRightDelim.size();
  if (trim) pos_ += LeftTrimLength(input_.substr(pos_));
  Ignore();
  return State::kText;
}

Lexer::State Lexer::LexRightDelim() {
  bool trim = HasRightTrimMarker(input_.substr(pos_));
  if (trim) {
    pos_ += kTrimMarkerLen;
    Ignore();
  }
  pos_ += kRightDelim.size();
  Emit(ItemType::kRightDelim);
  if (trim) {
    pos_ += LeftTrimLength(input_.substr(pos_));
    Ignore();
  }
  return State::kText;
}

Lexer::State Lexer::LexInsideAction() {
  bool trim;
  if (AtRightDelim(&trim)) {
    if (paren_depth_ == 0) return State::kRightDelim;
    return Errorf("unclosed left paren");
  }
  int r = NextRune();
  if (r == kEofRune) return Errorf("unclosed action");
  if (IsSpace(r)) {
    Backup();  // the space may be the one of " -}}"
    return State::kSpace;
  }
  switch (r) {
    case '=':
      Emit(ItemType::kAssign);
      return State::kInsideAction;
    case ':':
      if (NextRune() != '=') return Errorf("expected :=");
      Emit(ItemType::kDeclare);
      return State::kInsideAction;
    case '|':
      Emit(ItemType::kPipe);
      return State::kInsideAction;
    case '"':
      return State::kQuote;
    case '`':
      return State::kRawQuote;
    case '$':
      return State::kVariable;
    case '\'':
      return State::kChar;
    case '(':
      Emit(ItemType::kLeftParen);
      ++paren_depth_;
      return State::kInsideAction;
    case ')':
      Emit(ItemType::kRightParen);
      --paren_depth_;
      if (paren_depth_ < 0) return Errorf(absl::StrCat("unexpected right paren ", RuneString(r)));
      return State::kInsideAction;
    default:
      break;
  }
  if (r == '.') {
    // A field, unless a digit follows: ".5" is a number.
    if (pos_ < input_.size() && (input_[pos_] < '0' || input_[pos_] > '9')) {
      return State::kField;
    }
    Backup();
    return State::kNumber;
  }
  if (r == '+' || r == '-' || (r >= '0' && r <= '9')) {
    Backup();
    return State::kNumber;
  }
  if (IsAlphaNumeric(r)) {
    Backup();
    return State::kIdentifier;
  }
  if (r < 0x80 && IsPrintableAscii(r)) {
    Emit(ItemType::kChar);
    return State::kInsideAction;
  }
  return Errorf(absl::StrCat("unrecognized character in action: ", RuneString(r)));
}

Lexer::State Lexer::LexSpace() {
  int spaces = 0;
  while (IsSpace(Peek())) {
    NextRune();
    ++spaces;
  }
  // The last space may belong to " -}}".
  absl::string_view from_last = input_.substr(pos_ - 1);
  if (HasRightTrimMarker(from_last) &&
      absl::StartsWith(from_last.substr(kTrimMarkerLen), kRightDelim)) {
    pos_ -= 1;
    if (spaces == 1) return State::kRightDelim;
  }
  Emit(ItemType::kSpace);
  return State::kInsideAction;
}

bool Lexer::AtTerminator() {
  int r = Peek();
  if (IsSpace(r)) return true;
  switch (r) {
    case kEofRune:
    case '.':
    case ',':
    case '|':
    case ':':
    case ')':
    case '(':
      return true;
    default:
      break;
  }
  return absl::StartsWith(input_.substr(pos_), kRightDelim);
}

Lexer::State Lexer::LexIdentifier() {
  int r;
  do {
    r = NextRune();
  } while (IsAlphaNumeric(r));
  Backup();
  absl::string_view word = input_.substr(start_, pos_ - start_);
  if (!AtTerminator()) return Errorf(absl::StrCat("bad character ", RuneString(r)));
  struct Keyword {
    absl::string_view word;
    ItemType type;
  };
  static constexpr Keyword kKeywords[] = {
      {"block", ItemType::kBlock}, {"break", ItemType::kBreak},
      {"continue", ItemType::kContinue}, {"define", ItemType::kDefine},
      {"else", ItemType::kElse}, {"end", ItemType::kEnd},
      {"if", ItemType::kIf}, {"range", ItemType::kRange},
      {"nil", ItemType::kNil}, {"template", ItemType::kTemplate},
      {"with", ItemType::kWith},
  };
  for (const Keyword& k : kKeywords) {
    if (k.word != word) continue;
    if ((k.type == ItemType::kBreak && !break_ok_) ||
        (k.type == ItemType::kContinue && !continue_ok_)) {
      Emit(ItemType::kIdentifier);
    } else {
      Emit(k.type);
    }
    return State::kInsideAction;
  }
  Emit(word == "true" || word == "false" ? ItemType::kBool : ItemType::kIdentifier);
  return State::kInsideAction;
}

Lexer::State Lexer::LexVariable() {
  if (AtTerminator()) {  // a lone "$"
    Emit(ItemType::kVariable);
    return State::kInsideAction;
  }
  return LexFieldOrVariable(ItemType::kVariable);
}

Lexer::State Lexer::LexFieldOrVariable(ItemType type) {
  if (AtTerminator()) {  // "." or "$" alone
    Emit(type == ItemType::kVariable ? ItemType::kVariable : ItemType::kDot);
    return State::kInsideAction;
  }
  int r;
  do {
    r = NextRune();
  } while (IsAlphaNumeric(r));
  Backup();
  if (!AtTerminator()) return Errorf(absl::StrCat("bad character ", RuneString(r)));
  Emit(type);
  return State::kInsideAction;
}

// Go's lexChar and lexQuote: to the closing `quote`, a backslash escaping
// the next character; a newline or the end of input first is an error.
Lexer::State Lexer::LexEscapedQuote(int quote, ItemType type, absl::string_view unterminated) {
  for (;;) {
    int r = NextRune();
    if (r == '\\') {
      int e = NextRune();
      if (e != kEofRune && e != '\n') continue;
      return Errorf(std::string(unterminated));
    }
    if (r == kEofRune || r == '\n') return Errorf(std::string(unterminated));
    if (r == quote) break;
  }
  Emit(type);
  return State::kInsideAction;
}

bool Lexer::ScanNumber() {
  Accept("+-");
  absl::string_view digits = "0123456789_";
  if (Accept("0")) {
    if (Accept("xX")) {
      digits = "0123456789abcdefABCDEF_";
    } else if (Accept("oO")) {
      digits = "01234567_";
    } else if (Accept("bB")) {
      digits = "01_";
    }
  }
  AcceptRun(digits);
  if (Accept(".")) AcceptRun(digits);
  if (digits.size() == 11 && Accept("eE")) {
    Accept("+-");
    AcceptRun("0123456789_");
  }
  if (digits.size() == 23 && Accept("pP")) {
    Accept("+-");
    AcceptRun("0123456789_");
  }
  Accept("i");
  if (IsAlphaNumeric(Peek())) {
    NextRune();
    return false;
  }
  return true;
}

Lexer::State Lexer::LexNumber() {
  auto bad = [&] {
    return Errorf(absl::StrCat("bad number syntax: ", GoQuote(input_.substr(start_, pos_ - start_))));
  };
  if (!ScanNumber()) return bad();
  int sign = Peek();
  if (sign == '+' || sign == '-') {
    // A complex number: "1+2i".
    if (!ScanNumber() || input_[pos_ - 1] != 'i') return bad();
    Emit(ItemType::kComplex);
  } else {
    Emit(ItemType::kNumber);
  }
  return State::kInsideAction;
}


Lexer::State Lexer::LexRawQuote() {
  for (;;) {
    int r = NextRune();
    if (r == kEofRune) return Errorf("unterminated raw quoted string");
    if (r == '`') break;
  }
  Emit(ItemType::kRawString);
  return State::kInsideAction;
}

}  // namespace promconf::gotemplate
