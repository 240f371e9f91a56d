#pragma once

// The lexer of Go's text/template, as a pull lexer: Next() runs the state
// machine until it has produced an item. Its states and their quirks (where
// a trim marker needs a space, what ends a field, when '-' starts a number)
// follow Go's text/template/parse/lex.go behaviour; the parser depends on the
// exact token stream, spaces included. Internal to reconcile/gotemplate.

#include <cstddef>
#include <deque>
#include <string>

#include "absl/strings/string_view.h"

namespace promconf::gotemplate {

enum class ItemType {
  kError,
  kBool,
  kChar,  // a printable ASCII character such as ','
  kCharConstant,
  kComplex,  // 1+2i
  kAssign,   // =
  kDeclare,  // :=
  kEof,
  kField,
  kIdentifier,
  kLeftDelim,
  kLeftParen,
  kNumber,
  kPipe,
  kRawString,
  kRightDelim,
  kRightParen,
  kSpace,
  kString,
  kText,
  kVariable,
  kKeyword,  // keywords follow
  kBlock,
  kBreak,
  kContinue,
  kDot,
  kDefine,
  kElse,
  kEnd,
  kIf,
  kNil,
  kRange,
  kTemplate,
  kWith,
};

struct Item {
  ItemType type = ItemType::kEof;
  size_t pos = 0;          // byte offset of the item in the input
  absl::string_view val;   // the item's bytes; for kError the message
};

// Go's %q of a string (bytes outside ASCII kept as they are).
std::string GoQuote(absl::string_view s);

// How Go prints an item in "unexpected %s in %s".
std::string ItemString(const Item& item);

class Lexer {
 public:
  // `break_ok`/`continue_ok`: whether break and continue are keywords (Go
  // 1.18 and later) rather than identifiers.
  Lexer(absl::string_view input, bool break_ok, bool continue_ok)
      : input_(input), break_ok_(break_ok), continue_ok_(continue_ok) {}

  // After kEof or kError, keeps returning that item.
  Item Next();

 private:
  enum class State {
    kText, kLeftDelim, kComment, kRightDelim, kInsideAction, kSpace, kIdentifier,
    kField, kVariable, kChar, kNumber, kQuote, kRawQuote, kDone,
  };
  static constexpr int kEofRune = -1;

  int NextRune();
  void Backup() { pos_ -= last_width_; last_width_ = 0; }
  int Peek();
  bool Accept(absl::string_view valid);
  void AcceptRun(absl::string_view valid);
  void Emit(ItemType type);
  void Ignore() { start_ = pos_; }
  State Errorf(std::string message);
  bool AtRightDelim(bool* trim) const;
  bool AtTerminator();
  bool ScanNumber();

  State LexText();
  State LexLeftDelim();
  State LexComment();
  State LexRightDelim();
  State LexInsideAction();
  State LexSpace();
  State LexIdentifier();
  State LexFieldOrVariable(ItemType type);
  State LexVariable();
  State LexEscapedQuote(int quote, ItemType type, absl::string_view unterminated);
  State LexNumber();
  State LexRawQuote();

  const absl::string_view input_;
  const bool break_ok_;
  const bool continue_ok_;
  size_t pos_ = 0;
  size_t start_ = 0;
  size_t last_width_ = 0;
  int paren_depth_ = 0;
  State state_ = State::kText;
  std::deque<Item> items_;
  Item last_;          // the kEof or kError item, repeated once reached
  std::string error_;  // kError's message (the item's view points here)
};

// Go's utf8.DecodeRuneInString: an invalid or truncated sequence is
// (U+FFFD, width 1).
int DecodeRune(absl::string_view s, size_t* width);

// Go's unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'.
bool IsAlphaNumeric(int rune);

}  // namespace promconf::gotemplate
