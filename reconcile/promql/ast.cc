// AST helpers: types, printing (upstream's printer.go format), equality and
// namespace enforcement.

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "reconcile/promql/promql.h"

namespace promconf::promql {

absl::StatusOr<Version> ParseVersion(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  if (!t.empty() && (t[0] == 'v' || t[0] == 'V')) t.remove_prefix(1);
  std::vector<absl::string_view> parts = absl::StrSplit(t, absl::MaxSplits('.', 2));
  Version v;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &v.major)) {
    return absl::InvalidArgumentError(absl::StrCat("not a Prometheus version: \"", text, "\""));
  }
  absl::string_view minor = parts[1];
  size_t digits = 0;
  while (digits < minor.size() && absl::ascii_isdigit(static_cast<unsigned char>(minor[digits]))) {
    ++digits;
  }
  if (digits == 0 || !absl::SimpleAtoi(minor.substr(0, digits), &v.minor)) {
    return absl::InvalidArgumentError(absl::StrCat("not a Prometheus version: \"", text, "\""));
  }
  return v;
}

std::string VersionString(Version v) { return absl::StrCat(v.major, ".", v.minor); }

const char* DocumentedType(ValueType t) {
  switch (t) {
    case ValueType::kScalar: return "scalar";
    case ValueType::kVector: return "instant vector";
    case ValueType::kMatrix: return "range vector";
    case ValueType::kString: return "string";
    case ValueType::kNone: return "none";
  }
  return "none";
}

const char* OpString(Op op) {
  switch (op) {
    case Op::kNone: return "";
    case Op::kOr: return "or";
    case Op::kAnd: return "and";
    case Op::kUnless: return "unless";
    case Op::kEqlc: return "==";
    case Op::kNeq: return "!=";
    case Op::kLss: return "<";
    case Op::kLte: return "<=";
    case Op::kGtr: return ">";
    case Op::kGte: return ">=";
    case Op::kAdd: return "+";
    case Op::kSub: return "-";
    case Op::kMul: return "*";
    case Op::kDiv: return "/";
    case Op::kMod: return "%";
    case Op::kAtan2: return "atan2";
    case Op::kPow: return "^";
    case Op::kSum: return "sum";
    case Op::kAvg: return "avg";
    case Op::kCount: return "count";
    case Op::kMin: return "min";
    case Op::kMax: return "max";
    case Op::kGroup: return "group";
    case Op::kStddev: return "stddev";
    case Op::kStdvar: return "stdvar";
    case Op::kTopk: return "topk";
    case Op::kBottomk: return "bottomk";
    case Op::kCountValues: return "count_values";
    case Op::kQuantile: return "quantile";
    case Op::kLimitk: return "limitk";
    case Op::kLimitRatio: return "limit_ratio";
    case Op::kStep: return "step";
    case Op::kRange: return "range";
    case Op::kMinOf: return "min_of";
    case Op::kMaxOf: return "max_of";
  }
  return "";
}

ValueType Expr::Type() const {
  switch (kind) {
    case ExprKind::kNumber: return ValueType::kScalar;
    case ExprKind::kString: return ValueType::kString;
    case ExprKind::kVectorSelector: return ValueType::kVector;
    case ExprKind::kMatrixSelector: return ValueType::kMatrix;
    case ExprKind::kSubquery: return ValueType::kMatrix;
    case ExprKind::kParen: return lhs->Type();
    case ExprKind::kUnary: return lhs->Type();
    case ExprKind::kBinary:
      return lhs->Type() == ValueType::kScalar && rhs->Type() == ValueType::kScalar
                 ? ValueType::kScalar
                 : ValueType::kVector;
    case ExprKind::kAggregate: return ValueType::kVector;
    case ExprKind::kCall: return func != nullptr ? func->return_type : ValueType::kNone;
    case ExprKind::kDuration: return ValueType::kScalar;
  }
  return ValueType::kNone;
}

std::string GoQuote(absl::string_view s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\a': out += "\\a"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\v': out += "\\v"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            absl::StrAppendFormat(&out, "\\x%02x", c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    bool ok = n > 0 && c <= 0xF4 && i + n <= s.size();
    uint32_t r = 0;
    if (ok) {
      r = n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
      for (size_t k = 1; k < n; ++k) {
        unsigned char cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) {
          ok = false;
          break;
        }
        r = (r << 6) | (cc & 0x3F);
      }
      if (ok && ((n == 3 && r < 0x800) || (n == 4 && (r < 0x10000 || r > 0x10FFFF)) ||
                 (r >= 0xD800 && r <= 0xDFFF))) {
        ok = false;
      }
    }
    if (!ok) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
      ++i;
      continue;
    }
    // Non-printing runes (C1 controls, U+FFFD which the lexer refuses in
    // strings, line/paragraph separators) escaped; the rest kept as UTF-8.
    if (r < 0xA0 || r == 0xFFFD || r == 0x2028 || r == 0x2029 || r == 0xFEFF) {
      if (r > 0xFFFF) {
        absl::StrAppendFormat(&out, "\\U%08x", r);
      } else {
        absl::StrAppendFormat(&out, "\\u%04x", r);
      }
    } else {
      out.append(s.data() + i, n);
    }
    i += n;
  }
  out.push_back('"');
  return out;
}

std::string FormatDuration(int64_t ns) {
  int64_t ms = ns / 1000000;
  if (ms == 0) return "0s";
  std::string r;
  auto f = [&](const char* unit, int64_t mult, bool exact) {
    if (exact && ms % mult != 0) return;
    if (int64_t v = ms / mult; v > 0) {
      absl::StrAppend(&r, v, unit);
      ms -= v * mult;
    }
  };
  f("y", 1000LL * 60 * 60 * 24 * 365, true);
  f("w", 1000LL * 60 * 60 * 24 * 7, true);
  f("d", 1000LL * 60 * 60 * 24, false);
  f("h", 1000LL * 60 * 60, false);
  f("m", 1000LL * 60, false);
  f("s", 1000, false);
  f("ms", 1, false);
  return r;
}

namespace {

std::string FormatFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

// A range/step/offset: Prometheus' duration format when it is exact to the
// millisecond, else seconds as a number (valid wherever sub-millisecond
// values can be written, 2.54+).
std::string FormatRange(int64_t ns) {
  // Zero is only ever written as a number (3.0 rejects the duration "0s").
  if (ns == 0) return "0";
  if (ns % 1000000 == 0) return FormatDuration(ns);
  return FormatFloat(static_cast<double>(ns) / 1e9);
}

const char* MatchOpString(MatchType t) {
  switch (t) {
    case MatchType::kEqual: return "=";
    case MatchType::kNotEqual: return "!=";
    case MatchType::kRegexp: return "=~";
    case MatchType::kNotRegexp: return "!~";
  }
  return "=";
}

std::string MatcherString(const LabelMatcher& m) {
  std::string name = IsLegacyLabelName(m.name) ? m.name : GoQuote(m.name);
  return absl::StrCat(name, MatchOpString(m.type), GoQuote(m.value));
}

void WriteLabels(const std::vector<std::string>& labels, std::string* out) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out->append(", ");
    out->append(IsLegacyLabelName(labels[i]) ? labels[i] : GoQuote(labels[i]));
  }
}

void PrintTo(const Expr& e, std::string* out);

void PrintAtOffset(const Expr& holder, std::string* out) {
  switch (holder.at) {
    case AtKind::kTimestamp:
      absl::StrAppendFormat(out, " @ %.3f", static_cast<double>(holder.at_ms) / 1000.0);
      break;
    case AtKind::kStart: out->append(" @ start()"); break;
    case AtKind::kEnd: out->append(" @ end()"); break;
    case AtKind::kNone: break;
  }
  if (holder.offset_expr) {
    out->append(" offset ");
    PrintTo(*holder.offset_expr, out);
  } else if (holder.offset_ns > 0) {
    absl::StrAppend(out, " offset ", FormatRange(holder.offset_ns));
  } else if (holder.offset_ns < 0) {
    absl::StrAppend(out, " offset -", FormatRange(-holder.offset_ns));
  }
}

void PrintSelectorBody(const Expr& vs, std::string* out) {
  std::vector<std::string> parts;
  for (const LabelMatcher& m : vs.matchers) {
    if (m.name == "__name__" && m.type == MatchType::kEqual && m.value == vs.text &&
        !m.value.empty()) {
      continue;
    }
    parts.push_back(MatcherString(m));
  }
  out->append(vs.text);
  if (!parts.empty()) {
    std::sort(parts.begin(), parts.end());
    absl::StrAppend(out, "{", absl::StrJoin(parts, ","), "}");
  }
}

void PrintRangeValue(int64_t ns, const std::unique_ptr<Expr>& expr, std::string* out) {
  if (expr) {
    PrintTo(*expr, out);
  } else {
    out->append(FormatRange(ns));
  }
}

void PrintTo(const Expr& e, std::string* out) {
  switch (e.kind) {
    case ExprKind::kNumber:
      if (e.duration && e.number != 0 && std::isfinite(e.number)) {
        int64_t ns = static_cast<int64_t>(std::llround(e.number * 1e9));
        if (ns % 1000000 == 0) {
          if (ns < 0) {
            absl::StrAppend(out, "-", FormatDuration(-ns));
          } else {
            out->append(FormatDuration(ns));
          }
          return;
        }
      }
      out->append(FormatFloat(e.number));
      return;
    case ExprKind::kString:
      out->append(GoQuote(e.text));
      return;
    case ExprKind::kVectorSelector:
      PrintSelectorBody(e, out);
      PrintAtOffset(e, out);
      return;
    case ExprKind::kMatrixSelector:
      PrintSelectorBody(*e.lhs, out);
      out->push_back('[');
      PrintRangeValue(e.range_ns, e.range_expr, out);
      out->push_back(']');
      PrintAtOffset(*e.lhs, out);
      return;
    case ExprKind::kSubquery:
      PrintTo(*e.lhs, out);
      out->push_back('[');
      PrintRangeValue(e.range_ns, e.range_expr, out);
      out->push_back(':');
      if (e.step_expr || e.step_ns != 0) PrintRangeValue(e.step_ns, e.step_expr, out);
      out->push_back(']');
      PrintAtOffset(e, out);
      return;
    case ExprKind::kParen:
      out->push_back('(');
      PrintTo(*e.lhs, out);
      out->push_back(')');
      return;
    case ExprKind::kUnary:
      out->append(OpString(e.op));
      PrintTo(*e.lhs, out);
      return;
    case ExprKind::kBinary:
      PrintTo(*e.lhs, out);
      absl::StrAppend(out, " ", OpString(e.op));
      if (e.return_bool) out->append(" bool");
      if (e.has_matching) {
        bool grouped = e.card == Cardinality::kManyToOne || e.card == Cardinality::kOneToMany;
        if (!e.matching_labels.empty() || e.on || grouped) {
          absl::StrAppend(out, e.on ? " on (" : " ignoring (");
          WriteLabels(e.matching_labels, out);
          out->push_back(')');
        }
        if (grouped) {
          absl::StrAppend(out, e.card == Cardinality::kManyToOne ? " group_left (" : " group_right (");
          WriteLabels(e.include_labels, out);
          out->push_back(')');
        }
      }
      out->push_back(' ');
      PrintTo(*e.rhs, out);
      return;
    case ExprKind::kAggregate:
      out->append(OpString(e.op));
      if (e.without) {
        out->append(" without (");
        WriteLabels(e.grouping, out);
        out->append(") ");
      } else if (!e.grouping.empty()) {
        out->append(" by (");
        WriteLabels(e.grouping, out);
        out->append(") ");
      }
      out->push_back('(');
      if (e.rhs) {
        PrintTo(*e.rhs, out);
        out->append(", ");
      }
      PrintTo(*e.lhs, out);
      out->push_back(')');
      return;
    case ExprKind::kCall:
      absl::StrAppend(out, e.func != nullptr ? e.func->name : e.text.c_str(), "(");
      for (size_t i = 0; i < e.args.size(); ++i) {
        if (i > 0) out->append(", ");
        PrintTo(*e.args[i], out);
      }
      out->push_back(')');
      return;
    case ExprKind::kDuration:
      if (e.wrapped) out->push_back('(');
      switch (e.op) {
        case Op::kStep: out->append("step()"); break;
        case Op::kRange: out->append("range()"); break;
        case Op::kMinOf:
        case Op::kMaxOf:
          absl::StrAppend(out, OpString(e.op), "(");
          PrintTo(*e.lhs, out);
          out->append(", ");
          PrintTo(*e.rhs, out);
          out->push_back(')');
          break;
        default:
          if (!e.lhs) {
            if (e.op == Op::kSub) out->push_back('-');
            PrintTo(*e.rhs, out);
          } else {
            PrintTo(*e.lhs, out);
            absl::StrAppend(out, " ", OpString(e.op), " ");
            PrintTo(*e.rhs, out);
          }
      }
      if (e.wrapped) out->push_back(')');
      return;
  }
}

bool EqualPtr(const std::unique_ptr<Expr>& a, const std::unique_ptr<Expr>& b) {
  if (!a || !b) return !a && !b;
  return Equal(*a, *b);
}

std::vector<LabelMatcher> Sorted(std::vector<LabelMatcher> m) {
  std::sort(m.begin(), m.end(), [](const LabelMatcher& x, const LabelMatcher& y) {
    return std::tie(x.name, x.type, x.value) < std::tie(y.name, y.type, y.value);
  });
  return m;
}

}  // namespace

std::string Print(const Expr& expr) {
  std::string out;
  PrintTo(expr, &out);
  return out;
}

bool Equal(const Expr& a, const Expr& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case ExprKind::kNumber:
      return (std::isnan(a.number) && std::isnan(b.number)) || a.number == b.number;
    case ExprKind::kString:
      return a.text == b.text;
    case ExprKind::kVectorSelector:
      return a.text == b.text && Sorted(a.matchers) == Sorted(b.matchers) &&
             a.offset_ns == b.offset_ns && EqualPtr(a.offset_expr, b.offset_expr) &&
             a.at == b.at && (a.at != AtKind::kTimestamp || a.at_ms == b.at_ms);
    case ExprKind::kMatrixSelector:
      return a.range_ns == b.range_ns && EqualPtr(a.range_expr, b.range_expr) &&
             EqualPtr(a.lhs, b.lhs);
    case ExprKind::kSubquery:
      return a.range_ns == b.range_ns && EqualPtr(a.range_expr, b.range_expr) &&
             a.step_ns == b.step_ns && EqualPtr(a.step_expr, b.step_expr) &&
             a.offset_ns == b.offset_ns && EqualPtr(a.offset_expr, b.offset_expr) &&
             a.at == b.at && (a.at != AtKind::kTimestamp || a.at_ms == b.at_ms) &&
             EqualPtr(a.lhs, b.lhs);
    case ExprKind::kParen:
      return EqualPtr(a.lhs, b.lhs);
    case ExprKind::kUnary:
      return a.op == b.op && EqualPtr(a.lhs, b.lhs);
    case ExprKind::kBinary:
      return a.op == b.op && a.return_bool == b.return_bool &&
             a.has_matching == b.has_matching && a.card == b.card && a.on == b.on &&
             a.matching_labels == b.matching_labels && a.include_labels == b.include_labels &&
             EqualPtr(a.lhs, b.lhs) && EqualPtr(a.rhs, b.rhs);
    case ExprKind::kAggregate:
      return a.op == b.op && a.without == b.without && a.grouping == b.grouping &&
             EqualPtr(a.lhs, b.lhs) && EqualPtr(a.rhs, b.rhs);
    case ExprKind::kCall: {
      if (a.func != b.func || a.args.size() != b.args.size()) return false;
      for (size_t i = 0; i < a.args.size(); ++i) {
        if (!Equal(*a.args[i], *b.args[i])) return false;
      }
      return true;
    }
    case ExprKind::kDuration:
      return a.op == b.op && a.wrapped == b.wrapped && EqualPtr(a.lhs, b.lhs) &&
             EqualPtr(a.rhs, b.rhs);
  }
  return false;
}

void EnforceLabel(Expr& expr, absl::string_view label, absl::string_view value) {
  if (expr.kind == ExprKind::kVectorSelector) {
    std::vector<LabelMatcher>& ms = expr.matchers;
    ms.erase(std::remove_if(ms.begin(), ms.end(),
                            [&](const LabelMatcher& m) { return m.name == label; }),
             ms.end());
    // Before the metric-name matcher, which upstream keeps last.
    auto pos = ms.end();
    if (!expr.text.empty() && !ms.empty() && ms.back().name == "__name__") pos = ms.end() - 1;
    ms.insert(pos, LabelMatcher{MatchType::kEqual, std::string(label), std::string(value)});
    // A selector that named its metric only through the enforced label
    // (label == "__name__") keeps printing consistently.
    if (label == "__name__") expr.text.clear();
    return;
  }
  if (expr.lhs) EnforceLabel(*expr.lhs, label, value);
  if (expr.rhs && expr.kind != ExprKind::kDuration) EnforceLabel(*expr.rhs, label, value);
  for (auto& a : expr.args) EnforceLabel(*a, label, value);
}

bool IsLegacyLabelName(absl::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = c == '_' || absl::ascii_isalpha(static_cast<unsigned char>(c)) ||
              (i > 0 && absl::ascii_isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

}  // namespace promconf::promql
