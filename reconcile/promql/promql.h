#pragma once

// PromQL in process: lexer, parser, Prometheus' type checks, a printer that
// round-trips, and namespace enforcement on the AST.
//
// Faithful to upstream Prometheus' promql/parser for the versions modelled
// (2.42 up to 3.14): an expression this parser accepts is one that
// Prometheus of `ParseOptions::version` accepts with its default feature
// flags, and the first error reported is the one Prometheus reports. For
// 2.42 (Debian's promtool) verdicts and messages are checked equal to
// promtool's on a corpus (tests/data/promql_corpus.tsv) and ~9,000 generated
// expressions. Later releases follow upstream's source at their tags.
//
// Known differences:
// - nesting deeper than `ParseOptions::max_depth` is rejected (Prometheus
//   has no limit; tenants' input must not exhaust our stack);
// - the experimental `anchored`/`smoothed` (3.7+) and `fill()` (3.13+)
//   syntax is rejected as Prometheus rejects it without its feature flag,
//   but with a syntax error rather than upstream's "not enabled" wording;
// - releases between those checked may word some errors differently.
//
// Thread-safety: every function here is reentrant; an Expr is a plain value
// tree (no sharing), safe to read from many threads, mutate from one.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace promconf::promql {

// A Prometheus release (major.minor; patch releases never change PromQL).
struct Version {
  int major = 3;
  int minor = 14;

  friend bool operator==(const Version&, const Version&) = default;
  friend auto operator<=>(const Version&, const Version&) = default;
};
inline constexpr Version kOldestVersion{2, 42};
inline constexpr Version kNewestVersion{3, 14};
// "2.42", "v3.1.0", "3.14.0-rc.0" -> Version. Error when unparsable.
absl::StatusOr<Version> ParseVersion(absl::string_view text);
std::string VersionString(Version v);

struct ParseOptions {
  Version version = kNewestVersion;
  // --enable-feature=promql-experimental-functions (off by default in
  // Prometheus, so off here).
  bool experimental_functions = false;
  // Maximum nesting of the expression tree (parentheses, unary operators,
  // operands of binary operators, calls). Deeper input is an error.
  int max_depth = 500;  // ~3 frames a level: 1000 overflowed 8 MiB under ASan
};

// A parse or type error: 1-based line and column of the expression text
// (columns count bytes, as Prometheus does).
struct ParseError {
  int line = 1;
  int column = 1;
  std::string message;

  // "1:5: parse error: unexpected end of input" (Prometheus' format).
  std::string ToString() const;
};

enum class ValueType { kNone, kScalar, kVector, kMatrix, kString };
// "scalar", "instant vector", "range vector", "string" (Prometheus'
// DocumentedType).
const char* DocumentedType(ValueType t);

enum class MatchType { kEqual, kNotEqual, kRegexp, kNotRegexp };

struct LabelMatcher {
  MatchType type = MatchType::kEqual;
  std::string name;
  std::string value;

  friend bool operator==(const LabelMatcher&, const LabelMatcher&) = default;
};

// The aggregation operators, in Prometheus' order: one list for the AST's
// Op and the lexer's Tok (which keeps them contiguous, kSum..kLimitRatio).
#define PROMQL_AGGREGATORS(X) \
  X(kSum) X(kAvg) X(kCount) X(kMin) X(kMax) X(kGroup) X(kStddev) X(kStdvar) X(kTopk) X(kBottomk) \
      X(kCountValues) X(kQuantile) X(kLimitk) X(kLimitRatio)
// The comparison operators, in the same order for both.
#define PROMQL_COMPARISONS(X) X(kEqlc) X(kNeq) X(kLss) X(kLte) X(kGtr) X(kGte)
#define PROMQL_ENUMERATOR(name) name,

// Binary operators, aggregation operators.
enum class Op {
  kNone,
  // binary, lowest precedence first
  kOr,
  kAnd,
  kUnless,
  PROMQL_COMPARISONS(PROMQL_ENUMERATOR)
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kAtan2,
  kPow,
  // aggregations
  PROMQL_AGGREGATORS(PROMQL_ENUMERATOR)
  // duration expressions only
  kStep,
  kRange,
  kMinOf,
  kMaxOf,
};
const char* OpString(Op op);

enum class Cardinality { kOneToOne, kManyToOne, kOneToMany, kManyToMany };

enum class AtKind { kNone, kTimestamp, kStart, kEnd };

struct Function {
  const char* name;
  std::vector<ValueType> arg_types;
  // 0: exactly arg_types.size() args; -1: unbounded repetition of the last
  // arg type; n > 0: up to n more of the last type (optional args).
  int variadic;
  ValueType return_type;
  Version since;                         // first release with it
  std::optional<Version> removed_in;     // first release without it
  // Experimental (needs promql-experimental-functions) in [since, stable_in).
  bool experimental;
  std::optional<Version> stable_in;
};
// The function of that name in `version`, or nullptr.
const Function* FindFunction(absl::string_view name, Version version);
// Every function any modelled version knows (for tests and documentation).
const std::vector<Function>& AllFunctions();

enum class ExprKind {
  kNumber,
  kString,
  kVectorSelector,
  kMatrixSelector,
  kSubquery,
  kParen,
  kUnary,
  kBinary,
  kAggregate,
  kCall,
  kDuration,  // duration arithmetic inside [] or after offset (3.14+)
};

// One node of the AST. A tagged struct rather than a class hierarchy: the
// printer, checker, equality and enforcement are switch statements over
// `kind`, and only the fields of that kind are meaningful.
struct Expr {
  ExprKind kind = ExprKind::kNumber;
  // Byte offsets of the node in the parsed text ([start, end)). Not part of
  // equality; 0 for nodes built by hand.
  uint32_t start = 0;
  uint32_t end = 0;

  // kNumber: the value; `duration` when written as a duration (5m).
  double number = 0;
  bool duration = false;
  // kString: the unquoted value. kVectorSelector: the metric name written
  // outside braces ("" when none).
  std::string text;

  // kVectorSelector: every matcher, including __name__="text" last when
  // `text` is set (as Prometheus keeps them).
  std::vector<LabelMatcher> matchers;
  // kVectorSelector, kSubquery: offset (ns) and @. For a matrix selector
  // they live on its vector selector.
  int64_t offset_ns = 0;
  std::unique_ptr<Expr> offset_expr;  // kDuration, when written as one
  AtKind at = AtKind::kNone;
  int64_t at_ms = 0;

  // kMatrixSelector, kSubquery: range and (subquery) step in ns; the *_expr
  // forms hold a kDuration tree when written as arithmetic.
  int64_t range_ns = 0;
  std::unique_ptr<Expr> range_expr;
  int64_t step_ns = 0;
  std::unique_ptr<Expr> step_expr;

  // kUnary (op kAdd/kSub), kBinary, kAggregate, kDuration.
  Op op = Op::kNone;
  // kParen, kUnary: the operand; kBinary: LHS; kMatrixSelector: the vector
  // selector; kSubquery: the inner expression; kAggregate: the aggregated
  // expression; kDuration: LHS (may be null for unary).
  std::unique_ptr<Expr> lhs;
  // kBinary: RHS; kAggregate: the parameter (topk's k, ...); kDuration: RHS.
  std::unique_ptr<Expr> rhs;
  // kDuration written in parentheses.
  bool wrapped = false;

  // kBinary.
  bool return_bool = false;
  bool has_matching = false;  // false when an operand is a scalar
  Cardinality card = Cardinality::kOneToOne;
  bool on = false;
  std::vector<std::string> matching_labels;
  std::vector<std::string> include_labels;  // group_left/right (labels)

  // kAggregate.
  std::vector<std::string> grouping;
  bool without = false;

  // kCall.
  const Function* func = nullptr;
  std::vector<std::unique_ptr<Expr>> args;

  // The type Prometheus gives the node.
  ValueType Type() const;
};

// Parses and type-checks `input` as Prometheus of `options.version` would.
// Error: InvalidArgument whose message is ParseError::ToString() of the
// first error; the structured form is available through the overload.
absl::StatusOr<std::unique_ptr<Expr>> ParseExpr(absl::string_view input,
                                                const ParseOptions& options = {});
// As above; on failure fills `*error` (when non-null) with the first error.
absl::StatusOr<std::unique_ptr<Expr>> ParseExpr(absl::string_view input,
                                                const ParseOptions& options,
                                                ParseError* error);

// Prints the expression in Prometheus' format (Expr.String()): parsing the
// output yields an equal AST, and printing is idempotent.
std::string Print(const Expr& expr);

// Structural equality, ignoring positions. Matchers compare as sets (the
// printer sorts them, as Prometheus' does).
bool Equal(const Expr& a, const Expr& b);

// prom-label-proxy's enforcement: every vector selector in `expr` (inside
// matrix selectors, subqueries, function arguments, every operand) gets the
// matcher `label="value"`, replacing every matcher on `label` it had. Print
// the expression afterwards to render it.
void EnforceLabel(Expr& expr, absl::string_view label, absl::string_view value);

// Go's strconv.Quote (what Prometheus' printer uses for strings).
std::string GoQuote(absl::string_view s);

// [a-zA-Z_][a-zA-Z0-9_]*: a label name as every release reads it unquoted
// (the only kind before 3.0).
bool IsLegacyLabelName(absl::string_view s);
// Prometheus' model.Duration.String() of `ns` (>= 0), e.g. "1h30m".
std::string FormatDuration(int64_t ns);

}  // namespace promconf::promql
