// The PromQL parser: a recursive-descent rendering of upstream's yacc grammar
// (promql/parser/generated_parser.y) with its precedence table, semantic
// actions (parse.go) and the type checker (checkAST), per release.
//
// Errors: like upstream, the first error recorded wins. Syntax errors stop
// the parse (upstream's recovery only ever adds later errors); semantic
// errors (unknown function, bad regex, ...) are recorded where upstream's
// reductions record them and parsing continues. The type check runs only
// when parsing found no error, as upstream's does.

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "re2/re2.h"
#include "reconcile/promql/lexer.h"
#include "reconcile/promql/promql.h"
#include "util/json.h"
#include "util/go_strconv.h"
#include "util/utf8.h"

namespace promconf::promql {

using internal::Describe;
using internal::Lexer;
using internal::Tok;
using internal::Token;

namespace {


int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 16;
}

// Prometheus' strutil.Unquote of a lexed string token (escapes already
// validated by the lexer).
bool Unquote(absl::string_view s, std::string* out) {
  out->clear();
  if (s.size() < 2 || s.front() != s.back()) return false;
  char quote = s.front();
  s = s.substr(1, s.size() - 2);
  if (quote == '`') {
    if (absl::StrContains(s, '`')) return false;
    out->assign(s.data(), s.size());
    return true;
  }
  if (absl::StrContains(s, '\n')) return false;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == quote) return false;
    if (c != '\\') {
      out->push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) return false;
    char e = s[i + 1];
    i += 2;
    switch (e) {
      case 'a': out->push_back('\a'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'v': out->push_back('\v'); break;
      case '\\': out->push_back('\\'); break;
      case '\'':
      case '"':
        if (e != quote) return false;
        out->push_back(e);
        break;
      case 'x':
      case 'u':
      case 'U': {
        size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (i + n > s.size()) return false;
        uint32_t v = 0;
        for (size_t k = 0; k < n; ++k) {
          int d = HexVal(s[i + k]);
          if (d >= 16) return false;
          v = v * 16 + d;
        }
        i += n;
        if (e == 'x') {
          out->push_back(static_cast<char>(v));
        } else {
          if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) return false;
          AppendUtf8(v, out);
        }
        break;
      }
      default: {
        if (e < '0' || e > '7' || i + 2 > s.size()) return false;
        uint32_t v = e - '0';
        for (size_t k = 0; k < 2; ++k) {
          char d = s[i + k];
          if (d < '0' || d > '7') return false;
          v = v * 8 + (d - '0');
        }
        i += 2;
        if (v > 255) return false;
        out->push_back(static_cast<char>(v));
      }
    }
  }
  return true;
}

// strconv.ParseInt(s, 0, 64).
bool GoParseInt(absl::string_view s, int64_t* out) {
  if (s.empty()) return false;
  int base = 10;
  absl::string_view digits = s;
  if (s[0] == '0' && s.size() > 1) {
    char l = absl::ascii_tolower(static_cast<unsigned char>(s[1]));
    if (l == 'x') base = 16, digits = s.substr(2);
    else if (l == 'o') base = 8, digits = s.substr(2);
    else if (l == 'b') base = 2, digits = s.substr(2);
    else base = 8, digits = s.substr(1);
  }
  bool underscores = false;
  uint64_t v = 0;
  bool any = false;
  for (char c : digits) {
    if (c == '_') {
      underscores = true;
      continue;
    }
    int d = HexVal(c);
    if (d >= base) return false;
    if (v > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - d) / base) {
      return false;  // out of range: ParseFloat takes over
    }
    v = v * base + d;
    any = true;
  }
  if (!any && !(base == 8 && digits.empty())) return false;
  if (underscores && !GoUnderscoreOk(s)) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

// strconv.ParseFloat(s, 64); error text as Go's.
bool GoParseFloat(absl::string_view s, double* out, std::string* err) {
  std::string lower = absl::AsciiStrToLower(s);
  auto syntax = [&] {
    *err = absl::StrCat("strconv.ParseFloat: parsing ", GoQuote(s), ": invalid syntax");
    return false;
  };
  absl::string_view body = lower;
  bool neg = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") {
    *out = neg ? -HUGE_VAL : HUGE_VAL;
    return true;
  }
  if (body == "nan") {
    *out = std::nan("");
    return true;
  }
  if (absl::StrContains(lower, '_')) {
    if (!GoUnderscoreOk(lower)) return syntax();
    lower.erase(std::remove(lower.begin(), lower.end(), '_'), lower.end());
    body = lower;
    if (!body.empty() && (body[0] == '+' || body[0] == '-')) body.remove_prefix(1);
  }
  bool hex = body.size() > 1 && body[0] == '0' && body[1] == 'x';
  if (hex) {
    if (!absl::StrContains(body, 'p')) return syntax();
    for (char c : body.substr(2)) {
      if (HexVal(c) >= 16 && c != '.' && c != 'p' && c != '+' && c != '-') return syntax();
    }
  } else {
    bool digit = false;
    for (char c : body) {
      if (absl::ascii_isdigit(static_cast<unsigned char>(c))) digit = true;
      else if (c != '.' && c != 'e' && c != '+' && c != '-') return syntax();
    }
    if (!digit) return syntax();
  }
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(lower.c_str(), &end);
  if (end != lower.c_str() + lower.size()) return syntax();
  if (errno == ERANGE && std::isinf(v)) {
    *err = absl::StrCat("strconv.ParseFloat: parsing ", GoQuote(s), ": value out of range");
    return false;
  }
  *out = v;
  return true;
}

// model.ParseDuration: [0-9]+ with units y w d h m s ms, each at most once
// and in that order. Nanoseconds.
bool ParseModelDuration(absl::string_view s, int64_t* ns, std::string* err) {
  if (s == "0") {
    *ns = 0;
    return true;
  }
  static const struct {
    const char* unit;
    int64_t ms;
  } kUnits[] = {{"y", 365LL * 24 * 3600 * 1000}, {"w", 7LL * 24 * 3600 * 1000},
                {"d", 24LL * 3600 * 1000},        {"h", 3600LL * 1000},
                {"m", 60LL * 1000},                {"s", 1000},
                {"ms", 1}};
  size_t i = 0, next_unit = 0;
  __int128 total_ms = 0;
  bool any = false;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i) break;
    size_t k = j;
    while (k < s.size() && absl::ascii_isalpha(static_cast<unsigned char>(s[k]))) ++k;
    absl::string_view unit = s.substr(j, k - j);
    size_t u = next_unit;
    while (u < 7 && unit != kUnits[u].unit) ++u;
    if (u == 7) break;
    __int128 n = 0;
    for (size_t d = i; d < j; ++d) {
      n = n * 10 + (s[d] - '0');
      if (n > (static_cast<__int128>(1) << 80)) break;
    }
    total_ms += n * kUnits[u].ms;
    if (total_ms > (static_cast<__int128>(1) << 80)) total_ms = static_cast<__int128>(1) << 80;
    next_unit = u + 1;
    i = k;
    any = true;
  }
  if (!any || i != s.size()) {
    *err = absl::StrCat("not a valid duration string: ", GoQuote(s));
    return false;
  }
  if (total_ms * 1000000 > std::numeric_limits<int64_t>::max()) {
    *err = "duration out of range";
    return false;
  }
  *ns = static_cast<int64_t>(total_ms * 1000000);
  return true;
}

int64_t SecondsToNs(double v) {
  double ns = std::round(v * 1e9);
  if (ns >= 9.2e18) return std::numeric_limits<int64_t>::max();
  if (ns <= -9.2e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(ns);
}

bool DurationOutOfRange(double v) {
  return v > 9223372036.854775807 || v < -9223372036.854775808 || std::isnan(v);
}

int Precedence(Tok t) {
  switch (t) {
    case Tok::kLor: return 1;
    case Tok::kLand:
    case Tok::kLunless: return 2;
    case Tok::kEqlc:
    case Tok::kNeq:
    case Tok::kLss:
    case Tok::kLte:
    case Tok::kGtr:
    case Tok::kGte: return 3;
    case Tok::kAdd:
    case Tok::kSub: return 4;
    case Tok::kMul:
    case Tok::kDiv:
    case Tok::kMod:
    case Tok::kAtan2: return 5;
    case Tok::kPow: return 6;
    default: return 0;
  }
}
constexpr int kPowPrec = 6;

Op BinaryOp(Tok t) {
  switch (t) {
    case Tok::kLor: return Op::kOr;
    case Tok::kLand: return Op::kAnd;
    case Tok::kLunless: return Op::kUnless;
    case Tok::kEqlc: return Op::kEqlc;
    case Tok::kNeq: return Op::kNeq;
    case Tok::kLss: return Op::kLss;
    case Tok::kLte: return Op::kLte;
    case Tok::kGtr: return Op::kGtr;
    case Tok::kGte: return Op::kGte;
    case Tok::kAdd: return Op::kAdd;
    case Tok::kSub: return Op::kSub;
    case Tok::kMul: return Op::kMul;
    case Tok::kDiv: return Op::kDiv;
    case Tok::kMod: return Op::kMod;
    case Tok::kAtan2: return Op::kAtan2;
    case Tok::kPow: return Op::kPow;
    default: return Op::kNone;
  }
}

Op AggregateOp(Tok t) {
  switch (t) {
    case Tok::kSum: return Op::kSum;
    case Tok::kAvg: return Op::kAvg;
    case Tok::kCount: return Op::kCount;
    case Tok::kMin: return Op::kMin;
    case Tok::kMax: return Op::kMax;
    case Tok::kGroup: return Op::kGroup;
    case Tok::kStddev: return Op::kStddev;
    case Tok::kStdvar: return Op::kStdvar;
    case Tok::kTopk: return Op::kTopk;
    case Tok::kBottomk: return Op::kBottomk;
    case Tok::kCountValues: return Op::kCountValues;
    case Tok::kQuantile: return Op::kQuantile;
    case Tok::kLimitk: return Op::kLimitk;
    case Tok::kLimitRatio: return Op::kLimitRatio;
    default: return Op::kNone;
  }
}

bool IsComparison(Op op) {
  return op == Op::kEqlc || op == Op::kNeq || op == Op::kLss || op == Op::kLte ||
         op == Op::kGtr || op == Op::kGte;
}
bool IsSetOp(Op op) { return op == Op::kAnd || op == Op::kOr || op == Op::kUnless; }
bool HasParam(Op op) {
  return op == Op::kTopk || op == Op::kBottomk || op == Op::kCountValues ||
         op == Op::kQuantile || op == Op::kLimitk || op == Op::kLimitRatio;
}

// Tokens that can be a metric name (upstream's metric_identifier).
bool IsMetricIdentifier(Tok t) {
  return t == Tok::kIdentifier || t == Tok::kMetricIdentifier ||
         internal::IsAggregator(t) || t == Tok::kBy || t == Tok::kWithout ||
         t == Tok::kOffset || t == Tok::kLand || t == Tok::kLor ||
         t == Tok::kLunless || t == Tok::kStart || t == Tok::kEnd;
}

// Tokens that can be a label in by(...)/on(...) (upstream's maybe_label).
bool IsMaybeLabel(Tok t) {
  return (IsMetricIdentifier(t) || internal::IsKeyword(t) || t == Tok::kAtan2) &&
         t != Tok::kWithout;
}

// Go's regexp/syntax wording for RE2's error codes.
const char* GoRegexpError(RE2::ErrorCode code) {
  switch (code) {
    case RE2::ErrorBadEscape: return "invalid escape sequence";
    case RE2::ErrorBadCharClass: return "invalid character class";
    case RE2::ErrorBadCharRange: return "invalid character class range";
    case RE2::ErrorMissingBracket: return "missing closing ]";
    case RE2::ErrorMissingParen: return "missing closing )";
    case RE2::ErrorUnexpectedParen: return "unexpected )";
    case RE2::ErrorTrailingBackslash: return "trailing backslash at end of expression";
    case RE2::ErrorRepeatArgument: return "missing argument to repetition operator";
    case RE2::ErrorRepeatSize: return "invalid repeat count";
    case RE2::ErrorRepeatOp: return "invalid nested repetition operator";
    case RE2::ErrorBadPerlOp: return "invalid or unsupported Perl syntax";
    case RE2::ErrorBadUTF8: return "invalid UTF-8";
    case RE2::ErrorBadNamedCapture: return "invalid named capture";
    case RE2::ErrorPatternTooLarge: return "expression too large";
    default: return "invalid regexp";
  }
}

// Does `value` (a label matcher's regex) compile as Prometheus compiles it
// ("^(?:value)$"; 3.0+ also lets . match newlines)? Sets *matches_empty to
// whether it matches "".
bool CompileRegex(const std::string& value, Version v, std::string* err,
                  bool* matches_empty) {
  // Fast path for the common shapes (api|web, .*, .+, plain text): no
  // metacharacter other than '|' means a valid alternation of literals.
  if (value == ".*" || value == ".+") {
    *matches_empty = value == ".*";
    return true;
  }
  bool plain = true;
  for (char c : value) {
    if (absl::string_view("\\.+*?()[]{}^$").find(c) != absl::string_view::npos ||
        static_cast<unsigned char>(c) >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) {
    *matches_empty = value.empty() || value.front() == '|' || value.back() == '|' ||
                     absl::StrContains(value, "||");
    return true;
  }
  // RE2 knows \C (any byte); Go's regexp, which Prometheus uses, does not.
  for (size_t i = 0; i + 1 < value.size(); ++i) {
    if (value[i] != '\\') continue;
    char next = value[i + 1];
    if (next == 'Q') {  // \Q...\E is literal text in both
      size_t end = value.find("\\E", i + 2);
      if (end == std::string::npos) break;
      i = end + 1;
      continue;
    }
    if (next == 'C') {
      *err = "error parsing regexp: invalid escape sequence: `\\C`";
      return false;
    }
    ++i;
  }
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(64 << 20);
  opts.set_dot_nl(!(v < Version{3, 0}));
  std::string pattern = absl::StrCat("^(?:", value, ")$");
  RE2 re(pattern, opts);
  if (!re.ok()) {
    *err = absl::StrCat("error parsing regexp: ", GoRegexpError(re.error_code()), ": `",
                        re.error_arg(), "`");
    return false;
  }
  *matches_empty = RE2::PartialMatch("", re);
  return true;
}

struct PendingError {
  uint32_t pos;
  std::string message;
};

class Parser {
 public:
  Parser(absl::string_view input, const ParseOptions& options)
      : input_(input), options_(options), v_(options.version), lexer_(input, v_) {}

  std::unique_ptr<Expr> Parse() {
    if (Peek().type == Tok::kEof && !lex_error_) {
      AddError(0, "no expression found in input");
      return nullptr;
    }
    int h = 0;
    std::unique_ptr<Expr> e = ParseExpr(0, &h);
    if (failed_) return nullptr;
    if (Peek().type != Tok::kEof) {
      Unexpected("", "");
      return nullptr;
    }
    if (!errors_.empty()) return nullptr;
    Check(*e);
    if (!errors_.empty()) return nullptr;
    return e;
  }

  const std::vector<PendingError>& errors() const { return errors_; }

 private:
  // ---- tokens ----
  const Token& Peek() {
    if (!have_) {
      tok_ = lexer_.Next();
      have_ = true;
      if (tok_.type == Tok::kError) {
        if (!lex_error_) AddError(tok_.pos, tok_.error);
        lex_error_ = true;
      }
    }
    return tok_;
  }
  Token Consume() {
    Peek();
    have_ = false;
    if (tok_.type == Tok::kRightParen || tok_.type == Tok::kRightBrace ||
        tok_.type == Tok::kRightBracket || tok_.type == Tok::kNumber ||
        tok_.type == Tok::kDuration) {
      last_closing_ = tok_.pos + static_cast<uint32_t>(tok_.val.size());
    }
    return tok_;
  }
  bool PeekIs(Tok t) { return Peek().type == t; }

  void AddError(uint32_t pos, std::string message) {
    errors_.push_back({pos, std::move(message)});
  }
  // step(), range(), min_of(a, b), max_of(a, b) from `name` to `close`.
  static std::unique_ptr<Expr> DurationCall(Op op, const Token& name, const Token& close) {
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::kDuration;
    e->op = op;
    e->start = name.pos;
    e->end = close.pos + 1;
    return e;
  }

  // After an item of a "(a, b)" or "{a, b}" list: "," goes on to the next
  // item (a trailing one before `close` ends the list), `close` ends it,
  // anything else is a syntax error.
  enum class ListStep { kNext, kEnd, kError };
  ListStep AfterListItem(Tok close, absl::string_view context, absl::string_view expected) {
    if (PeekIs(Tok::kComma)) {
      Consume();
      if (!PeekIs(close)) return ListStep::kNext;
    }
    if (PeekIs(close)) {
      Consume();
      return ListStep::kEnd;
    }
    Unexpected(context, expected);
    return ListStep::kError;
  }

  // A syntax error at the lookahead: "unexpected X[ in ctx][, expected Y]".
  std::nullptr_t Unexpected(absl::string_view context, absl::string_view expected) {
    const Token& t = Peek();
    failed_ = true;
    if (t.type == Tok::kError) return nullptr;  // the lexer's error stands
    if (context.empty() && agg_depth_ > 0) context = "aggregation";
    std::string desc = Describe(t);
    // Before 2.54 "@" had no printable name: Go printed the raw item type.
    if (t.type == Tok::kAt && v_ < Version{2, 54}) desc = "\"<Item 57385>\" <op:@>";
    std::string msg = absl::StrCat("unexpected ", desc);
    if (!context.empty()) absl::StrAppend(&msg, " in ", context);
    if (!expected.empty()) absl::StrAppend(&msg, ", expected ", expected);
    AddError(t.pos, std::move(msg));
    return nullptr;
  }

  // ---- expressions ----
  std::unique_ptr<Expr> ParseExpr(int min_prec, int* height) {
    if (++depth_ > options_.max_depth) {
      failed_ = true;
      AddError(Peek().pos, absl::StrCat("expression nests more than ",
                                        options_.max_depth, " levels deep"));
      --depth_;
      return nullptr;
    }
    std::unique_ptr<Expr> lhs = ParseUnary(height);
    while (!failed_) {
      Tok t = Peek().type;
      int prec = Precedence(t);
      if (prec == 0 || prec < min_prec) break;
      Token op_tok = Consume();
      auto bin = std::make_unique<Expr>();
      bin->kind = ExprKind::kBinary;
      bin->op = BinaryOp(t);
      if (!ParseBinModifiers(*bin)) break;
      int rh = 0;
      std::unique_ptr<Expr> rhs = ParseExpr(t == Tok::kPow ? prec : prec + 1, &rh);
      if (failed_) break;
      *height = std::max(*height, rh) + 1;
      if (*height > options_.max_depth) {
        failed_ = true;
        AddError(op_tok.pos, absl::StrCat("expression nests more than ",
                                          options_.max_depth, " levels deep"));
        break;
      }
      bin->start = lhs->start;
      bin->end = rhs->end;
      bin->lhs = std::move(lhs);
      bin->rhs = std::move(rhs);
      bin->has_matching = true;
      lhs = std::move(bin);
    }
    --depth_;
    if (failed_) return nullptr;
    return lhs;
  }

  bool ParseBinModifiers(Expr& bin) {
    if (PeekIs(Tok::kBool)) {
      Consume();
      bin.return_bool = true;
    }
    if (PeekIs(Tok::kOn) || PeekIs(Tok::kIgnoring)) {
      bin.on = Consume().type == Tok::kOn;
      if (!ParseGroupingLabels(&bin.matching_labels)) return false;
      if (PeekIs(Tok::kGroupLeft) || PeekIs(Tok::kGroupRight)) {
        bin.card = Consume().type == Tok::kGroupLeft ? Cardinality::kManyToOne
                                                      : Cardinality::kOneToMany;
        if (PeekIs(Tok::kLeftParen)) {
          if (!ParseGroupingLabels(&bin.include_labels)) return false;
        }
      }
    }
    return true;
  }

  // grouping_labels: "(" [label {"," label}] [","] ")".
  bool ParseGroupingLabels(std::vector<std::string>* out) {
    if (!PeekIs(Tok::kLeftParen)) {
      Unexpected("grouping opts", "\"(\"");
      return false;
    }
    Consume();
    if (PeekIs(Tok::kRightParen)) {
      Consume();
      return true;
    }
    for (;;) {
      const Token& t = Peek();
      std::string label;
      uint32_t label_pos = t.pos;
      bool quoted = false;
      if (IsMaybeLabel(t.type)) {
        if (v_ < Version{3, 0} && !IsLegacyLabelName(t.val)) {
          // Upstream reduces the label before reading further and reports
          // the label itself.
          Unexpected("grouping opts", "label");
          return false;
        }
        label = std::string(Consume().val);
      } else if (t.type == Tok::kString && !(v_ < Version{3, 0})) {
        Token s = Consume();
        if (!Unquote(s.val, &label)) {
          AddError(s.pos, absl::StrCat("error unquoting string ", GoQuote(s.val), ": invalid syntax"));
        }
        quoted = true;
      } else {
        Unexpected("grouping opts", "label");
        return false;
      }
      (void)quoted;
      if (!(v_ < Version{3, 0}) && (label.empty() || !IsValidUtf8(label))) {
        AddError(label_pos, absl::StrCat("invalid label name for grouping: ", GoQuote(label)));
      }
      out->push_back(std::move(label));
      const ListStep step = AfterListItem(Tok::kRightParen, "grouping opts", "\",\" or \")\"");
      if (step == ListStep::kNext) continue;
      return step == ListStep::kEnd;
    }
  }

  std::unique_ptr<Expr> ParseUnary(int* height) {
    const Token& t = Peek();
    if (t.type == Tok::kAdd || t.type == Tok::kSub) {
      Token op = Consume();
      int h = 0;
      std::unique_ptr<Expr> operand = ParseExpr(kPowPrec, &h);
      if (failed_) return nullptr;
      *height = h + 1;
      if (operand->kind == ExprKind::kNumber) {
        if (op.type == Tok::kSub) operand->number = -operand->number;
        operand->start = op.pos;
        return operand;
      }
      auto u = std::make_unique<Expr>();
      u->kind = ExprKind::kUnary;
      u->op = op.type == Tok::kSub ? Op::kSub : Op::kAdd;
      u->start = op.pos;
      u->end = operand->end;
      u->lhs = std::move(operand);
      return u;
    }
    std::unique_ptr<Expr> e = ParsePrimary(height);
    if (failed_) return nullptr;
    return ParsePostfix(std::move(e), height);
  }

  std::unique_ptr<Expr> ParsePrimary(int* height) {
    *height = 1;
    const Token& t = Peek();
    switch (t.type) {
      case Tok::kNumber: {
        Token n = Consume();
        auto e = std::make_unique<Expr>();
        e->kind = ExprKind::kNumber;
        e->start = n.pos;
        e->end = n.pos + n.val.size();
        e->number = ParseNumber(n);
        return e;
      }
      case Tok::kDuration: {
        if (v_ < Version{2, 54}) return Unexpected("", "");
        Token n = Consume();
        auto e = std::make_unique<Expr>();
        e->kind = ExprKind::kNumber;
        e->start = n.pos;
        e->end = n.pos + n.val.size();
        e->duration = true;
        e->number = static_cast<double>(ParseDurationToken(n, /*allow_zero=*/!(v_ < Version{3, 4}))) / 1e9;
        return e;
      }
      case Tok::kString: {
        Token s = Consume();
        auto e = std::make_unique<Expr>();
        e->kind = ExprKind::kString;
        e->start = s.pos;
        e->end = s.pos + s.val.size();
        UnquoteToken(s, &e->text);
        return e;
      }
      case Tok::kLeftParen: {
        Token open = Consume();
        int h = 0;
        std::unique_ptr<Expr> inner = ParseExpr(0, &h);
        if (failed_) return nullptr;
        if (!PeekIs(Tok::kRightParen)) return Unexpected("", "");
        Token close = Consume();
        *height = h + 1;
        auto e = std::make_unique<Expr>();
        e->kind = ExprKind::kParen;
        e->start = open.pos;
        e->end = close.pos + 1;
        e->lhs = std::move(inner);
        return e;
      }
      case Tok::kLeftBrace:
        return ParseVectorSelector(nullptr);
      default:
        break;
    }
    if (internal::IsAggregator(t.type)) {
      Token op = Consume();
      const Token& next = Peek();
      if (next.type == Tok::kLeftParen || next.type == Tok::kBy ||
          next.type == Tok::kWithout) {
        return ParseAggregate(op, height);
      }
      if (next.type == Tok::kError) return Unexpected("aggregation", "");
      return ParseVectorSelector(&op);
    }
    // start()/end() parse as calls from 3.12 (experimental functions);
    // before, start and end are only metric names there.
    if (t.type == Tok::kIdentifier ||
        ((t.type == Tok::kStart || t.type == Tok::kEnd) && !(v_ < Version{3, 12}))) {
      Token id = Consume();
      if (PeekIs(Tok::kLeftParen)) return ParseCall(id, height);
      return ParseVectorSelector(&id);
    }
    if (IsMetricIdentifier(t.type)) {
      Token id = Consume();
      return ParseVectorSelector(&id);
    }
    return Unexpected("", "");
  }

  std::unique_ptr<Expr> ParseCall(const Token& name, int* height) {
    std::vector<std::unique_ptr<Expr>> args;
    int h = 0;
    if (!ParseCallBody(&args, &h)) return nullptr;
    *height = h + 1;
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::kCall;
    e->start = name.pos;
    e->end = last_closing_;
    e->text = std::string(name.val);
    e->func = FindFunction(name.val, v_);
    if (e->func == nullptr) {
      AddError(name.pos, absl::StrCat("unknown function with name ", GoQuote(name.val)));
    } else if (e->func->experimental && !options_.experimental_functions &&
               !(e->func->stable_in && !(v_ < *e->func->stable_in))) {
      AddError(name.pos, absl::StrCat("function ", GoQuote(name.val), " is not enabled"));
    }
    e->args = std::move(args);
    return e;
  }

  // function_call_body: "(" [expr {"," expr}] ")"; a trailing comma is a
  // semantic error upstream.
  bool ParseCallBody(std::vector<std::unique_ptr<Expr>>* args, int* height) {
    Consume();  // "("
    if (PeekIs(Tok::kRightParen)) {
      Consume();
      return true;
    }
    for (;;) {
      int h = 0;
      std::unique_ptr<Expr> a = ParseExpr(0, &h);
      if (failed_) return false;
      *height = std::max(*height, h);
      args->push_back(std::move(a));
      if (PeekIs(Tok::kComma)) {
        Token comma = Consume();
        // Upstream reduces "args ," with an error and goes on.
        while (PeekIs(Tok::kComma)) {
          AddError(comma.pos, "trailing commas not allowed in function call args");
          comma = Consume();
        }
        if (PeekIs(Tok::kRightParen)) {
          AddError(comma.pos, "trailing commas not allowed in function call args");
          Consume();
          return true;
        }
        continue;
      }
      if (PeekIs(Tok::kRightParen)) {
        Consume();
        return true;
      }
      Unexpected("", "");
      return false;
    }
  }

  std::unique_ptr<Expr> ParseAggregate(const Token& op, int* height) {
    ++agg_depth_;
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::kAggregate;
    e->op = AggregateOp(op.type);
    e->start = op.pos;
    bool modifier_first = false;
    if (PeekIs(Tok::kBy) || PeekIs(Tok::kWithout)) {
      modifier_first = true;
      e->without = Consume().type == Tok::kWithout;
      if (!ParseGroupingLabels(&e->grouping)) return nullptr;
    }
    if (!PeekIs(Tok::kLeftParen)) return Unexpected("aggregation", "");
    std::vector<std::unique_ptr<Expr>> args;
    int h = 0;
    if (!ParseCallBody(&args, &h)) return nullptr;
    if (!modifier_first && (PeekIs(Tok::kBy) || PeekIs(Tok::kWithout))) {
      e->without = Consume().type == Tok::kWithout;
      if (!ParseGroupingLabels(&e->grouping)) return nullptr;
    }
    --agg_depth_;
    *height = h + 1;
    e->end = last_closing_;
    if (args.empty()) {
      AddError(e->start, "no arguments for aggregate expression provided");
      return e;
    }
    size_t want = 1;
    if (HasParam(e->op)) {
      if ((e->op == Op::kLimitk || e->op == Op::kLimitRatio) &&
          !options_.experimental_functions) {
        AddError(e->start, absl::StrCat(OpString(e->op),
                                        "() is experimental and must be enabled with "
                                        "--enable-feature=promql-experimental-functions"));
        return e;
      }
      want = 2;
    }
    if (args.size() != want) {
      AddError(e->start, absl::StrFormat("wrong number of arguments for aggregate expression "
                                         "provided, expected %d, got %d",
                                         want, args.size()));
      return e;
    }
    if (want == 2) e->rhs = std::move(args[0]);
    e->lhs = std::move(args[want - 1]);
    return e;
  }

  // A vector selector: metric_identifier [label_matchers] | label_matchers.
  std::unique_ptr<Expr> ParseVectorSelector(const Token* name) {
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::kVectorSelector;
    if (name != nullptr) {
      e->start = name->pos;
      e->end = name->pos + name->val.size();
      e->text = std::string(name->val);
    }
    if (PeekIs(Tok::kLeftBrace)) {
      Token open = Consume();
      if (name == nullptr) e->start = open.pos;
      if (!ParseMatchers(&e->matchers)) return nullptr;
      e->end = last_closing_;
    }
    if (!e->text.empty()) {
      e->matchers.push_back({MatchType::kEqual, "__name__", e->text});
    }
    return e;
  }

  bool ParseMatchers(std::vector<LabelMatcher>* out) {
    if (PeekIs(Tok::kRightBrace)) {
      Consume();
      return true;
    }
    for (;;) {
      const Token& t = Peek();
      bool quoted_ok = !(v_ < Version{3, 0});
      if (t.type != Tok::kIdentifier && !(t.type == Tok::kString && quoted_ok)) {
        Unexpected("label matching", "identifier or \"}\"");
        return false;
      }
      Token label = Consume();
      std::string name;
      if (label.type == Tok::kString) {
        UnquoteToken(label, &name);
      } else {
        name = std::string(label.val);
      }
      const Token& op = Peek();
      MatchType mt;
      switch (op.type) {
        case Tok::kEql: mt = MatchType::kEqual; break;
        case Tok::kNeq: mt = MatchType::kNotEqual; break;
        case Tok::kEqlRegex: mt = MatchType::kRegexp; break;
        case Tok::kNeqRegex: mt = MatchType::kNotRegexp; break;
        default:
          if (label.type == Tok::kString &&
              (op.type == Tok::kComma || op.type == Tok::kRightBrace)) {
            // {"metric.name"}: a quoted metric name.
            out->push_back({MatchType::kEqual, "__name__", name});
            goto next;
          }
          Unexpected("label matching",
                     label.type == Tok::kString ? "\",\" or \"}\"" : "label matching operator");
          return false;
      }
      Consume();
      if (!PeekIs(Tok::kString)) {
        Unexpected("label matching", "string");
        return false;
      }
      {
        Token value = Consume();
        LabelMatcher m{mt, name, ""};
        UnquoteToken(value, &m.value);
        if (mt == MatchType::kRegexp || mt == MatchType::kNotRegexp) {
          std::string err;
          if (!RegexMatchesEmpty(m.value, &err)) AddError(label.pos, err);
        }
        out->push_back(std::move(m));
      }
    next:
      const ListStep step = AfterListItem(Tok::kRightBrace, "label matching", "\",\" or \"}\"");
      if (step == ListStep::kNext) continue;
      return step == ListStep::kEnd;
    }
  }

  // ---- postfix: [range], [range:step], offset, @ ----
  std::unique_ptr<Expr> ParsePostfix(std::unique_ptr<Expr> e, int* height) {
    while (!failed_) {
      Tok t = Peek().type;
      if (t == Tok::kLeftBracket) {
        e = ParseRangeOrSubquery(std::move(e), height);
      } else if (t == Tok::kOffset) {
        ParseOffset(*e);
      } else if (t == Tok::kAt) {
        ParseAt(*e);
      } else {
        break;
      }
    }
    if (failed_) return nullptr;
    return e;
  }

  // A duration operand in [] or after offset; returns false on a syntax
  // error. Fills either *ns or *expr.
  bool ParseDurationOperand(bool in_brackets, bool allow_sign, bool positive,
                            int64_t* ns, std::unique_ptr<Expr>* expr,
                            absl::string_view context, absl::string_view expected) {
    if (!(v_ < Version{3, 14})) {
      std::unique_ptr<Expr> d = in_brackets ? ParseDurationExpr(0) : ParseOffsetDurationExpr();
      if (failed_) return false;
      if (d == nullptr) {
        Unexpected(context, expected);
        return false;
      }
      if (d->kind == ExprKind::kNumber) {
        if (positive && d->number <= 0) {
          AddError(d->start, "duration must be greater than 0");
        }
        *ns = SecondsToNs(d->number);
        return true;
      }
      *expr = std::move(d);
      return true;
    }
    bool neg = false;
    uint32_t sign_pos = Peek().pos;
    if (allow_sign && PeekIs(Tok::kSub)) {
      Consume();
      neg = true;
    }
    const Token& t = Peek();
    bool numbers = !(v_ < Version{2, 54});
    if (t.type == Tok::kDuration) {
      Token d = Consume();
      *ns = ParseDurationToken(d, /*allow_zero=*/false);
    } else if (t.type == Tok::kNumber && numbers) {
      Token n = Consume();
      double v = ParseNumber(n);
      *ns = SecondsToNs(v);
    } else {
      Unexpected(context, expected);
      return false;
    }
    (void)sign_pos;
    if (neg) *ns = -*ns;
    return true;
  }

  std::unique_ptr<Expr> ParseRangeOrSubquery(std::unique_ptr<Expr> e, int* height) {
    Token open = Consume();
    int64_t range = 0;
    std::unique_ptr<Expr> range_expr;
    bool old = v_ < Version{2, 54};
    bool newest = !(v_ < Version{3, 4});
    if (!ParseDurationOperand(true, false, true, &range, &range_expr,
                              newest ? "subquery or range selector" : "subquery selector",
                              old ? "duration"
                                  : newest ? "number, duration, step(), or range()"
                                           : "number or duration")) {
      return nullptr;
    }
    if (PeekIs(Tok::kRightBracket)) {
      Token close = Consume();
      std::string err;
      if (e->kind != ExprKind::kVectorSelector) {
        err = "ranges only allowed for vector selectors";
      } else if (e->offset_ns != 0) {
        // Released Prometheus (up to 3.14) checks only a literal offset and
        // a numeric @: `foo @ start()[5m]` and `foo offset step()[5m]` are
        // accepted (and mean the range selector with that modifier).
        err = "no offset modifiers allowed before range";
      } else if (e->at == AtKind::kTimestamp) {
        err = "no @ modifiers allowed before range";
      }
      if (!err.empty()) AddError(open.pos, err);
      auto m = std::make_unique<Expr>();
      m->kind = ExprKind::kMatrixSelector;
      m->start = e->start;
      m->end = close.pos + 1;
      m->range_ns = range;
      m->range_expr = std::move(range_expr);
      m->lhs = std::move(e);
      *height += 1;
      return m;
    }
    if (!PeekIs(Tok::kColon)) {
      Unexpected("subquery or range", "\":\" or \"]\"");
      return nullptr;
    }
    Consume();
    auto s = std::make_unique<Expr>();
    s->kind = ExprKind::kSubquery;
    s->start = e->start;
    s->range_ns = range;
    s->range_expr = std::move(range_expr);
    if (!PeekIs(Tok::kRightBracket)) {
      if (!ParseDurationOperand(true, false, true, &s->step_ns, &s->step_expr,
                                "subquery selector",
                                old ? "duration or \"]\""
                                    : newest ? "number, duration, step(), range(), or \"]\""
                                             : "number or duration or \"]\"")) {
        return nullptr;
      }
      if (!PeekIs(Tok::kRightBracket)) {
        Unexpected("subquery selector", "\"]\"");
        return nullptr;
      }
    }
    Token close = Consume();
    s->end = close.pos + 1;
    s->lhs = std::move(e);
    *height += 1;
    return s;
  }

  // The node offset/@ apply to, or null with the upstream error recorded.
  Expr* ModifierTarget(Expr& e, const char* what) {
    switch (e.kind) {
      case ExprKind::kVectorSelector:
      case ExprKind::kSubquery:
        return &e;
      case ExprKind::kMatrixSelector:
        if (e.lhs->kind != ExprKind::kVectorSelector) {
          AddError(e.start, "ranges only allowed for vector selectors");
          return nullptr;
        }
        return e.lhs.get();
      default:
        AddError(e.start, absl::StrCat(what, " modifier must be preceded by an instant vector "
                                             "selector or range vector selector or a subquery"));
        return nullptr;
    }
  }

  void ParseOffset(Expr& e) {
    Consume();
    bool old = v_ < Version{2, 54};
    bool newest = !(v_ < Version{3, 4});
    int64_t ns = 0;
    std::unique_ptr<Expr> expr;
    if (!ParseDurationOperand(false, true, false, &ns, &expr, "offset",
                              old ? "duration"
                                  : newest ? "number, duration, step(), or range()"
                                           : "number or duration")) {
      return;
    }
    Expr* target = ModifierTarget(e, "offset");
    if (target == nullptr) return;
    if (target->offset_ns != 0 || target->offset_expr) {
      AddError(e.start, "offset may not be set multiple times");
    } else {
      target->offset_ns = ns;
      target->offset_expr = std::move(expr);
    }
    e.end = last_closing_;
  }

  void ParseAt(Expr& e) {
    Consume();
    const Token& t = Peek();
    AtKind kind = AtKind::kTimestamp;
    double ts = 0;
    if (t.type == Tok::kStart || t.type == Tok::kEnd) {
      kind = Consume().type == Tok::kStart ? AtKind::kStart : AtKind::kEnd;
      if (!PeekIs(Tok::kLeftParen)) {
        Unexpected("@", "timestamp");
        return;
      }
      Consume();
      if (!PeekIs(Tok::kRightParen)) {
        Unexpected("@", "timestamp");
        return;
      }
      Consume();
    } else {
      bool neg = false;
      if (t.type == Tok::kAdd || t.type == Tok::kSub) neg = Consume().type == Tok::kSub;
      const Token& n = Peek();
      if (n.type == Tok::kNumber) {
        ts = ParseNumber(Consume());
      } else if (n.type == Tok::kDuration && !(v_ < Version{2, 54})) {
        ts = static_cast<double>(ParseDurationToken(Consume(), !(v_ < Version{3, 4}))) / 1e9;
      } else {
        Unexpected("@", "timestamp");
        return;
      }
      if (neg) ts = -ts;
      if (std::isinf(ts) || std::isnan(ts) || ts >= 9.223372036854775807e18 ||
          ts <= -9.223372036854775808e18) {
        AddError(e.start, absl::StrFormat("timestamp out of bounds for @ modifier: %s",
                                          GoFloatF(ts)));
      }
    }
    Expr* target = nullptr;
    switch (e.kind) {
      case ExprKind::kVectorSelector:
      case ExprKind::kSubquery:
        target = &e;
        break;
      case ExprKind::kMatrixSelector:
        if (e.lhs->kind != ExprKind::kVectorSelector) {
          AddError(e.start, "ranges only allowed for vector selectors");
          return;
        }
        target = e.lhs.get();
        break;
      default:
        AddError(e.start, "@ modifier must be preceded by an instant vector selector or range "
                          "vector selector or a subquery");
        return;
    }
    if (target->at != AtKind::kNone) {
      AddError(e.start, "@ <timestamp> may not be set multiple times");
      return;
    }
    target->at = kind;
    if (kind == AtKind::kTimestamp) {
      double ms = std::round(ts * 1000.0);
      target->at_ms = std::isfinite(ms) && std::fabs(ms) < 9.2e18 ? static_cast<int64_t>(ms) : 0;
    }
    e.end = last_closing_;
  }

  static std::string GoFloatF(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return absl::StrFormat("%f", v);
  }

  // ---- duration expressions (3.14: promql-duration-expr is default) ----
  static int DurPrec(Tok t) {
    switch (t) {
      case Tok::kAdd:
      case Tok::kSub: return 1;
      case Tok::kMul:
      case Tok::kDiv:
      case Tok::kMod: return 2;
      case Tok::kPow: return 3;
      default: return 0;
    }
  }
  Tok DurKeyword(const Token& t) {
    if (t.type == Tok::kIdentifier) {
      std::string w = absl::AsciiStrToLower(t.val);
      if (w == "step") return Tok::kStep;
      if (w == "range") return Tok::kRange;
      if (w == "min_of") return Tok::kMinOf;
      if (w == "max_of") return Tok::kMaxOf;
    }
    return t.type;
  }

  // An operand after `offset`: [sign] (literal | step() | range() |
  // min_of/max_of(...) | "(" duration_expr ")"); no binary continuation, so
  // `foo offset 5m + 1` stays (foo offset 5m) + 1.
  std::unique_ptr<Expr> ParseOffsetDurationExpr() {
    Token first = Peek();
    bool neg = false, sign = false;
    if (first.type == Tok::kAdd || first.type == Tok::kSub) {
      Consume();
      neg = first.type == Tok::kSub;
      sign = true;
    }
    std::unique_ptr<Expr> e = ParseDurationAtom();
    if (failed_ || e == nullptr) return nullptr;
    if (sign) e = ApplyDurationSign(std::move(e), neg, first.pos);
    return e;
  }

  std::unique_ptr<Expr> ApplyDurationSign(std::unique_ptr<Expr> e, bool neg, uint32_t pos) {
    if (e->kind == ExprKind::kNumber) {
      if (neg) e->number = -e->number;
      e->start = pos;
      return e;
    }
    if (!neg) return e;
    auto u = std::make_unique<Expr>();
    u->kind = ExprKind::kDuration;
    u->op = Op::kSub;
    u->start = pos;
    u->end = e->end;
    u->rhs = std::move(e);
    return u;
  }

  std::unique_ptr<Expr> ParseDurationAtom() {
    if (++depth_ > options_.max_depth) {
      failed_ = true;
      AddError(Peek().pos, absl::StrCat("expression nests more than ", options_.max_depth,
                                        " levels deep"));
      --depth_;
      return nullptr;
    }
    std::unique_ptr<Expr> r = ParseDurationAtomInner();
    --depth_;
    return r;
  }

  std::unique_ptr<Expr> ParseDurationAtomInner() {
    Token t = Peek();
    Tok kw = DurKeyword(t);
    if (t.type == Tok::kNumber || t.type == Tok::kDuration) {
      Consume();
      auto e = std::make_unique<Expr>();
      e->kind = ExprKind::kNumber;
      e->start = t.pos;
      e->end = t.pos + t.val.size();
      if (t.type == Tok::kNumber) {
        e->number = ParseNumber(t);
      } else {
        e->duration = true;
        e->number = static_cast<double>(ParseDurationToken(t, true)) / 1e9;
      }
      if (DurationOutOfRange(e->number)) {
        AddError(t.pos, "duration out of range");
        e->number = 0;
      }
      return e;
    }
    if (kw == Tok::kStep || kw == Tok::kRange) {
      Consume();
      if (!PeekIs(Tok::kLeftParen)) return Unexpected("", "");
      Consume();
      if (!PeekIs(Tok::kRightParen)) return Unexpected("", "");
      return DurationCall(kw == Tok::kStep ? Op::kStep : Op::kRange, t, Consume());
    }
    if (kw == Tok::kMinOf || kw == Tok::kMaxOf) {
      Consume();
      if (!PeekIs(Tok::kLeftParen)) return Unexpected("", "");
      Consume();
      std::unique_ptr<Expr> a = ParseDurationExpr(0);
      if (failed_ || a == nullptr) return Unexpected("", "");
      if (!PeekIs(Tok::kComma)) return Unexpected("", "");
      Consume();
      std::unique_ptr<Expr> b = ParseDurationExpr(0);
      if (failed_ || b == nullptr) return Unexpected("", "");
      if (!PeekIs(Tok::kRightParen)) return Unexpected("", "");
      auto e = DurationCall(kw == Tok::kMinOf ? Op::kMinOf : Op::kMaxOf, t, Consume());
      e->lhs = std::move(a);
      e->rhs = std::move(b);
      return e;
    }
    if (t.type == Tok::kLeftParen) {
      Consume();
      std::unique_ptr<Expr> inner = ParseDurationExpr(0);
      if (failed_ || inner == nullptr) return Unexpected("", "");
      if (!PeekIs(Tok::kRightParen)) return Unexpected("", "");
      Token close = Consume();
      // 3.14.0 marks a parenthesised duration expression; a parenthesised
      // literal stays a literal.
      if (inner->kind == ExprKind::kDuration) inner->wrapped = true;
      inner->start = t.pos;
      inner->end = close.pos + 1;
      return inner;
    }
    return nullptr;
  }

  std::unique_ptr<Expr> ParseDurationUnary() {
    Token t = Peek();
    if (t.type == Tok::kAdd || t.type == Tok::kSub) {
      Consume();
      if (++depth_ > options_.max_depth) {
        failed_ = true;
        AddError(t.pos, absl::StrCat("expression nests more than ", options_.max_depth,
                                     " levels deep"));
        return nullptr;
      }
      std::unique_ptr<Expr> operand = ParseDurationExpr(3);
      --depth_;
      if (failed_ || operand == nullptr) return nullptr;
      return ApplyDurationSign(std::move(operand), t.type == Tok::kSub, t.pos);
    }
    return ParseDurationAtom();
  }

  std::unique_ptr<Expr> ParseDurationExpr(int min_prec) {
    std::unique_ptr<Expr> lhs = ParseDurationUnary();
    if (failed_ || lhs == nullptr) return nullptr;
    int chain = 0;
    while (true) {
      Tok t = Peek().type;
      int prec = DurPrec(t);
      if (prec == 0 || prec < min_prec) break;
      Token op = Consume();
      if (++chain > options_.max_depth) {
        failed_ = true;
        AddError(op.pos, absl::StrCat("expression nests more than ", options_.max_depth,
                                      " levels deep"));
        return nullptr;
      }
      std::unique_ptr<Expr> rhs = ParseDurationExpr(t == Tok::kPow ? prec : prec + 1);
      if (failed_) return nullptr;
      if (rhs == nullptr) return Unexpected("", "");
      if ((t == Tok::kDiv || t == Tok::kMod) && rhs->kind == ExprKind::kNumber &&
          rhs->number == 0) {
        AddError(op.pos, t == Tok::kDiv ? "division by zero" : "modulo by zero");
      }
      auto b = std::make_unique<Expr>();
      b->kind = ExprKind::kDuration;
      b->op = BinaryOp(t);
      b->start = lhs->start;
      b->end = rhs->end;
      b->lhs = std::move(lhs);
      b->rhs = std::move(rhs);
      lhs = std::move(b);
    }
    return lhs;
  }

  // ---- literals ----
  double ParseNumber(const Token& t) {
    int64_t i = 0;
    if (GoParseInt(t.val, &i)) return static_cast<double>(i);
    double f = 0;
    std::string err;
    if (!GoParseFloat(t.val, &f, &err)) {
      AddError(t.pos, absl::StrCat("error parsing number: ", err));
      return 0;
    }
    return f;
  }

  int64_t ParseDurationToken(const Token& t, bool allow_zero) {
    int64_t ns = 0;
    std::string err;
    if (!ParseModelDuration(t.val, &ns, &err)) {
      AddError(t.pos, err);
      return 0;
    }
    if (ns == 0 && !allow_zero) {
      AddError(t.pos, "duration must be greater than 0");
    }
    return ns;
  }

  void UnquoteToken(const Token& t, std::string* out) {
    if (!Unquote(t.val, out)) {
      AddError(t.pos, absl::StrCat("error unquoting string ", GoQuote(t.val), ": invalid syntax"));
    }
  }

  // ---- the type checker (upstream's checkAST) ----
  void AddCheckError(uint32_t pos, std::string msg) { AddError(pos, std::move(msg)); }

  uint32_t OpPos(const Expr& n) {
    uint32_t p = n.lhs->end;
    while (p < input_.size() &&
           (input_[p] == ' ' || input_[p] == '\t' || input_[p] == '\n' || input_[p] == '\r')) {
      ++p;
    }
    return p;
  }

  void ExpectType(const Expr& n, ValueType want, absl::string_view context) {
    ValueType t = Check(n);
    if (t != want) {
      AddCheckError(n.start, absl::StrCat("expected type ", DocumentedType(want), " in ", context,
                                          ", got ", DocumentedType(t)));
    }
  }

  ValueType Check(const Expr& n) {
    // Composite types come from the children's checks below, so the check
    // stays linear (Expr::Type() recurses).
    ValueType typ = ValueType::kNone;
    switch (n.kind) {
      case ExprKind::kParen:
      case ExprKind::kUnary:
      case ExprKind::kBinary:
        break;
      default:
        typ = n.Type();
    }
    switch (n.kind) {
      case ExprKind::kAggregate:
        ExpectType(*n.lhs, ValueType::kVector, "aggregation expression");
        if (n.op == Op::kTopk || n.op == Op::kBottomk || n.op == Op::kQuantile ||
            n.op == Op::kLimitk || n.op == Op::kLimitRatio) {
          ExpectType(*n.rhs, ValueType::kScalar, "aggregation parameter");
        }
        if (n.op == Op::kCountValues) {
          ExpectType(*n.rhs, ValueType::kString, "aggregation parameter");
        }
        break;
      case ExprKind::kBinary: {
        ValueType lt = Check(*n.lhs);
        ValueType rt = Check(*n.rhs);
        typ = lt == ValueType::kScalar && rt == ValueType::kScalar ? ValueType::kScalar
                                                                   : ValueType::kVector;
        if (n.return_bool && !IsComparison(n.op)) {
          AddCheckError(OpPos(n), "bool modifier can only be used on comparison operators");
        }
        if (IsComparison(n.op) && !n.return_bool && lt == ValueType::kScalar &&
            rt == ValueType::kScalar) {
          AddCheckError(OpPos(n), "comparisons between scalars must use BOOL modifier");
        }
        Expr& m = const_cast<Expr&>(n);
        if (IsSetOp(n.op) && n.card == Cardinality::kOneToOne) m.card = Cardinality::kManyToMany;
        if (n.on) {
          for (const std::string& l1 : n.matching_labels) {
            for (const std::string& l2 : n.include_labels) {
              if (l1 == l2) {
                AddCheckError(OpPos(n), absl::StrCat("label ", GoQuote(l1),
                                                     " must not occur in ON and GROUP clause at once"));
              }
            }
          }
        }
        if (lt != ValueType::kScalar && lt != ValueType::kVector) {
          AddCheckError(n.lhs->start, "binary expression must contain only scalar and instant vector types");
        }
        if (rt != ValueType::kScalar && rt != ValueType::kVector) {
          AddCheckError(n.rhs->start, "binary expression must contain only scalar and instant vector types");
        }
        if ((lt != ValueType::kVector || rt != ValueType::kVector) && n.has_matching) {
          if (!n.matching_labels.empty()) {
            AddCheckError(n.start, "vector matching only allowed between instant vectors");
          }
          m.has_matching = false;
          m.card = Cardinality::kOneToOne;
          m.on = false;
          m.matching_labels.clear();
          m.include_labels.clear();
        } else if (IsSetOp(n.op)) {
          if (n.card == Cardinality::kOneToMany || n.card == Cardinality::kManyToOne) {
            AddCheckError(n.start, absl::StrCat("no grouping allowed for \"", OpString(n.op),
                                                "\" operation"));
          }
          if (n.card != Cardinality::kManyToMany) {
            AddCheckError(n.start, "set operations must always be many-to-many");
          }
        }
        if ((lt == ValueType::kScalar || rt == ValueType::kScalar) && IsSetOp(n.op)) {
          AddCheckError(n.start, absl::StrCat("set operator \"", OpString(n.op),
                                              "\" not allowed in binary scalar expression"));
        }
        break;
      }
      case ExprKind::kCall: {
        const Function& f = *n.func;
        int nargs = static_cast<int>(f.arg_types.size());
        int got = static_cast<int>(n.args.size());
        if (f.variadic == 0) {
          if (nargs != got) {
            AddCheckError(n.start, absl::StrFormat("expected %d argument(s) in call to %s, got %d",
                                                   nargs, GoQuote(f.name), got));
          }
        } else {
          int na = nargs - 1;
          if (na > got) {
            AddCheckError(n.start, absl::StrFormat("expected at least %d argument(s) in call to %s, got %d",
                                                   na, GoQuote(f.name), got));
          } else if (f.variadic > 0 && na + f.variadic < got) {
            AddCheckError(n.start, absl::StrFormat("expected at most %d argument(s) in call to %s, got %d",
                                                   na + f.variadic, GoQuote(f.name), got));
          }
        }
        if (absl::string_view(f.name) == "info" && got > 1) {
          const Expr& a = *n.args[1];
          if (a.Type() != ValueType::kVector) {
            AddCheckError(n.start, absl::StrCat("expected type instant vector in call to function \"info\", got ",
                                                DocumentedType(a.Type())));
          }
          if (a.kind == ExprKind::kVectorSelector && !a.text.empty()) {
            AddCheckError(a.start, "expected label selectors only, got vector selector instead");
          } else if (a.kind != ExprKind::kVectorSelector) {
            AddCheckError(a.start, "expected label selectors only");
          } else {
            info_selector_ = &a;
          }
        }
        for (int i = 0; i < got; ++i) {
          int k = i;
          if (k >= nargs) {
            if (f.variadic == 0) break;
            k = nargs - 1;
          }
          ValueType t = Check(*n.args[i]);
          if (t != f.arg_types[k]) {
            AddCheckError(n.args[i]->start,
                          absl::StrCat("expected type ", DocumentedType(f.arg_types[k]),
                                       " in call to function ", GoQuote(f.name), ", got ",
                                       DocumentedType(t)));
          }
        }
        break;
      }
      case ExprKind::kParen:
        typ = Check(*n.lhs);
        break;
      case ExprKind::kUnary: {
        ValueType t = Check(*n.lhs);
        typ = t;
        if (t != ValueType::kScalar && t != ValueType::kVector) {
          AddCheckError(n.start, absl::StrCat("unary expression only allowed on expressions of type "
                                              "scalar or instant vector, got ",
                                              GoQuote(DocumentedType(t))));
        }
        break;
      }
      case ExprKind::kSubquery: {
        ValueType t = Check(*n.lhs);
        if (t != ValueType::kVector) {
          AddCheckError(n.start, absl::StrCat("subquery is only allowed on instant vector, got ",
                                              t == ValueType::kMatrix ? "matrix"
                                              : t == ValueType::kScalar ? "scalar"
                                              : t == ValueType::kString ? "string"
                                                                        : "none",
                                              " instead"));
        }
        break;
      }
      case ExprKind::kMatrixSelector:
        Check(*n.lhs);
        break;
      case ExprKind::kVectorSelector: {
        if (!n.text.empty()) {
          for (size_t i = 0; i + 1 < n.matchers.size(); ++i) {
            if (n.matchers[i].name == "__name__") {
              AddCheckError(n.start, absl::StrCat("metric name must not be set twice: ",
                                                  GoQuote(n.text), " or ",
                                                  GoQuote(n.matchers[i].value)));
            }
          }
          break;
        }
        if (&n == info_selector_) break;
        bool not_empty = false;
        for (const LabelMatcher& m : n.matchers) {
          if (!MatchesEmpty(m)) {
            not_empty = true;
            break;
          }
        }
        if (!not_empty) {
          AddCheckError(n.start, "vector selector must contain at least one non-empty matcher");
        }
        break;
      }
      default:
        break;
    }
    return typ;
  }

  // Compiles each distinct regex once per parse. nullopt (and *err) when it
  // does not compile; else whether it matches "".
  std::optional<bool> RegexMatchesEmpty(const std::string& value, std::string* err) {
    auto it = regex_cache_.find(value);
    if (it != regex_cache_.end()) return it->second;
    bool empty = false;
    std::optional<bool> r;
    if (CompileRegex(value, v_, err, &empty)) r = empty;
    if (regex_cache_.size() < 4096) regex_cache_.emplace(value, r);
    return r;
  }

  bool MatchesEmpty(const LabelMatcher& m) {
    switch (m.type) {
      case MatchType::kEqual: return m.value.empty();
      case MatchType::kNotEqual: return !m.value.empty();
      case MatchType::kRegexp:
      case MatchType::kNotRegexp: {
        std::string err;
        std::optional<bool> empty = RegexMatchesEmpty(m.value, &err);
        return m.type == MatchType::kRegexp ? empty.value_or(false) : !empty.value_or(false);
      }
    }
    return false;
  }

  absl::string_view input_;
  ParseOptions options_;
  Version v_;
  Lexer lexer_;
  Token tok_;
  bool have_ = false;
  bool lex_error_ = false;
  bool failed_ = false;
  int depth_ = 0;
  int agg_depth_ = 0;
  uint32_t last_closing_ = 0;
  const Expr* info_selector_ = nullptr;
  std::vector<PendingError> errors_;
  absl::flat_hash_map<std::string, std::optional<bool>> regex_cache_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Expr>> ParseExpr(absl::string_view input,
                                                const ParseOptions& options,
                                                ParseError* error) {
  // Positions are 32-bit; rule expressions are far smaller anyway.
  if (input.size() > (size_t{1} << 30)) {
    ParseError pe{1, 1, "expression longer than 1 GiB"};
    if (error != nullptr) *error = pe;
    return absl::InvalidArgumentError(pe.ToString());
  }
  Parser p(input, options);
  std::unique_ptr<Expr> e = p.Parse();
  if (e != nullptr) return e;
  ParseError pe;
  if (!p.errors().empty()) {
    const PendingError& first = p.errors().front();
    size_t pos = std::min<size_t>(first.pos, input.size());
    int line = 1;
    size_t last_nl = static_cast<size_t>(-1);
    for (size_t i = 0; i < pos; ++i) {
      if (input[i] == '\n') {
        ++line;
        last_nl = i;
      }
    }
    pe.line = line;
    pe.column = static_cast<int>(pos - last_nl);
    pe.message = first.message;
  } else {
    pe.message = "unexpected error";
  }
  if (error != nullptr) *error = pe;
  return absl::InvalidArgumentError(pe.ToString());
}

absl::StatusOr<std::unique_ptr<Expr>> ParseExpr(absl::string_view input,
                                                const ParseOptions& options) {
  return ParseExpr(input, options, nullptr);
}

std::string ParseError::ToString() const {
  return absl::StrCat(line, ":", column, ": parse error: ", message);
}

}  // namespace promconf::promql
