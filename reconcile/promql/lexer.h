#pragma once

// PromQL's lexer (internal to reconcile/promql): upstream's lex.go state
// machine, with the differences between the modelled releases.

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "reconcile/promql/promql.h"

namespace promconf::promql::internal {

enum class Tok {
  kEof,
  kError,
  kComment,
  kIdentifier,
  kMetricIdentifier,
  kNumber,
  kDuration,
  kString,
  kLeftParen,
  kRightParen,
  kLeftBrace,
  kRightBrace,
  kLeftBracket,
  kRightBracket,
  kComma,
  kColon,
  kEql,      // =
  kEqlRegex, // =~
  kNeqRegex, // !~
  kAt,
  // operators
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  PROMQL_COMPARISONS(PROMQL_ENUMERATOR)
  kLand,
  kLor,
  kLunless,
  kAtan2,
  // aggregators
  PROMQL_AGGREGATORS(PROMQL_ENUMERATOR)
  // keywords
  kBool,
  kBy,
  kWithout,
  kOn,
  kIgnoring,
  kGroupLeft,
  kGroupRight,
  kOffset,
  kStart,
  kEnd,
  // duration-expression keywords (only lexed inside [] / after offset)
  kStep,
  kRange,
  kMinOf,
  kMaxOf,
};

struct Token {
  Tok type = Tok::kEof;
  uint32_t pos = 0;
  absl::string_view val;   // the bytes of the token
  std::string error;       // kError: the message
};

bool IsAggregator(Tok t);
bool IsKeyword(Tok t);
bool IsOperator(Tok t);
// How Prometheus names a token in "unexpected ..." messages.
std::string Describe(const Token& t);

class Lexer {
 public:
  Lexer(absl::string_view input, Version version);

  // The next token (comments skipped). After kEof or kError, keeps
  // returning the same.
  Token Next();

  // Duration-expression lexing after `offset` (3.4+ lexes `offset` operands
  // with the expression lexer; this only decides keywords step()/range()).
  absl::string_view input() const { return input_; }

 private:
  int NextRune();  // -1 at end; bytes >= 0x80 decoded as UTF-8 (0xFFFD bad)
  int Peek();
  void Backup();
  bool Accept(absl::string_view valid);
  void AcceptRun(absl::string_view valid);
  bool Is(absl::string_view valid);
  Token Emit(Tok t);
  Token Error(std::string message);
  Token LexStatements();
  Token LexInsideBraces();
  Token LexDurationExpr();
  // "(" or ")", counting the nesting depth.
  Token LexParen(int r);
  Token LexString(int quote);
  Token LexRawString();
  Token LexNumberOrDuration();
  Token LexKeywordOrIdentifier();
  bool ScanNumber();
  bool AcceptRemainingDuration();
  bool LexEscape(int quote, std::string* error);
  void SkipSpaces();

  absl::string_view input_;
  Version version_;
  size_t pos_ = 0;
  size_t start_ = 0;
  size_t width_ = 0;
  int paren_depth_ = 0;
  bool brace_open_ = false;
  bool bracket_open_ = false;
  bool bracket_first_ = false;  // the token right after '['
  bool got_colon_ = false;
  bool got_duration_ = false;
  bool done_ = false;
  Token last_;
};

}  // namespace promconf::promql::internal
