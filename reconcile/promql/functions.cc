// The functions of PromQL, with the release each appeared in, from upstream's
// promql/parser/functions.go and CHANGELOG.md. Releases before 2.42 are not
// modelled: a "since" before that only documents history.

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "reconcile/promql/promql.h"

namespace promconf::promql {
namespace {

constexpr ValueType S = ValueType::kScalar;
constexpr ValueType V = ValueType::kVector;
constexpr ValueType M = ValueType::kMatrix;
constexpr ValueType Str = ValueType::kString;

std::vector<Function> BuildFunctions() {
  const Version v2_0{2, 0};
  const Version v2_26{2, 26};
  const std::optional<Version> none;
  auto stable = [&](const char* name, std::vector<ValueType> args,
                    ValueType ret, Version since = Version{2, 0},
                    int variadic = 0) {
    return Function{name, std::move(args), variadic, ret, since, none, false,
                    none};
  };
  auto experimental = [&](const char* name, std::vector<ValueType> args,
                          ValueType ret, Version since, int variadic = 0,
                          std::optional<Version> stable_in = std::nullopt) {
    return Function{name, std::move(args), variadic, ret, since, none, true,
                    stable_in};
  };
  std::vector<Function> f = {
      stable("abs", {V}, V),
      stable("absent", {V}, V),
      stable("absent_over_time", {M}, V, Version{2, 16}),
      stable("acos", {V}, V, v2_26),
      stable("acosh", {V}, V, v2_26),
      stable("asin", {V}, V, v2_26),
      stable("asinh", {V}, V, v2_26),
      stable("atan", {V}, V, v2_26),
      stable("atanh", {V}, V, v2_26),
      stable("avg_over_time", {M}, V),
      stable("ceil", {V}, V),
      stable("changes", {M}, V),
      stable("clamp", {V, S, S}, V, v2_26),
      stable("clamp_max", {V, S}, V),
      stable("clamp_min", {V, S}, V),
      stable("cos", {V}, V, v2_26),
      stable("cosh", {V}, V, v2_26),
      stable("count_over_time", {M}, V),
      stable("days_in_month", {V}, V, v2_0, 1),
      stable("day_of_month", {V}, V, v2_0, 1),
      stable("day_of_week", {V}, V, v2_0, 1),
      stable("day_of_year", {V}, V, Version{2, 37}, 1),
      stable("deg", {V}, V, v2_26),
      stable("delta", {M}, V),
      stable("deriv", {M}, V),
      stable("exp", {V}, V),
      experimental("first_over_time", {M}, V, Version{3, 7}, 0, Version{3, 14}),
      stable("floor", {V}, V),
      stable("histogram_avg", {V}, V, Version{2, 51}),
      stable("histogram_count", {V}, V, Version{2, 40}),
      stable("histogram_sum", {V}, V, Version{2, 40}),
      stable("histogram_stddev", {V}, V, Version{2, 47}),
      stable("histogram_stdvar", {V}, V, Version{2, 47}),
      stable("histogram_fraction", {S, S, V}, V, Version{2, 40}),
      stable("histogram_quantile", {S, V}, V),
      experimental("histogram_quantiles", {V, Str, S, S}, V, Version{3, 11}, 9),
      // holt_winters was renamed double_exponential_smoothing (experimental)
      // in 3.0.
      Function{"holt_winters", {M, S, S}, 0, V, v2_0, Version{3, 0}, false,
               none},
      experimental("double_exponential_smoothing", {M, S, S}, V, Version{3, 0}),
      stable("hour", {V}, V, v2_0, 1),
      stable("idelta", {M}, V),
      stable("increase", {M}, V),
      experimental("info", {V, V}, V, Version{2, 55}, 1),
      stable("irate", {M}, V),
      stable("label_replace", {V, Str, Str, Str, Str}, V),
      stable("label_join", {V, Str, Str, Str}, V, v2_0, -1),
      stable("last_over_time", {M}, V, v2_26),
      stable("ln", {V}, V),
      stable("log10", {V}, V),
      stable("log2", {V}, V),
      experimental("mad_over_time", {M}, V, Version{2, 49}),
      stable("max_over_time", {M}, V),
      stable("min_over_time", {M}, V),
      experimental("ts_of_first_over_time", {M}, V, Version{3, 7}),
      experimental("ts_of_max_over_time", {M}, V, Version{3, 5}),
      experimental("ts_of_min_over_time", {M}, V, Version{3, 5}),
      experimental("ts_of_last_over_time", {M}, V, Version{3, 5}),
      stable("minute", {V}, V, v2_0, 1),
      stable("month", {V}, V, v2_0, 1),
      stable("pi", {}, S, v2_26),
      stable("predict_linear", {M, S}, V),
      stable("present_over_time", {M}, V, Version{2, 29}),
      stable("quantile_over_time", {S, M}, V),
      stable("rad", {V}, V, v2_26),
      stable("rate", {M}, V),
      stable("resets", {M}, V),
      stable("round", {V, S}, V, v2_0, 1),
      stable("scalar", {V}, S),
      stable("sgn", {V}, V, v2_26),
      stable("sin", {V}, V, v2_26),
      stable("sinh", {V}, V, v2_26),
      stable("sort", {V}, V),
      stable("sort_desc", {V}, V),
      experimental("sort_by_label", {V, Str}, V, Version{2, 49}, -1),
      experimental("sort_by_label_desc", {V, Str}, V, Version{2, 49}, -1),
      stable("sqrt", {V}, V),
      experimental("start_timestamp", {V}, V, Version{3, 14}),
      stable("stddev_over_time", {M}, V),
      stable("stdvar_over_time", {M}, V),
      stable("sum_over_time", {M}, V),
      stable("tan", {V}, V, v2_26),
      stable("tanh", {V}, V, v2_26),
      stable("time", {}, S),
      stable("timestamp", {V}, V),
      stable("vector", {S}, V),
      stable("year", {V}, V, v2_0, 1),
      // The query-range functions (3.12) and min_of/max_of (3.13).
      experimental("start", {}, S, Version{3, 12}),
      experimental("end", {}, S, Version{3, 12}),
      experimental("range", {}, S, Version{3, 12}),
      experimental("step", {}, S, Version{3, 12}),
      experimental("min_of", {S, S}, S, Version{3, 13}),
      experimental("max_of", {S, S}, S, Version{3, 13}),
  };
  return f;
}

}  // namespace

const std::vector<Function>& AllFunctions() {
  static const std::vector<Function>* const kFunctions =
      new std::vector<Function>(BuildFunctions());
  return *kFunctions;
}

const Function* FindFunction(absl::string_view name, Version version) {
  static const auto* const kByName = [] {
    auto* m = new absl::flat_hash_map<std::string, std::vector<const Function*>>;
    for (const Function& f : AllFunctions()) (*m)[f.name].push_back(&f);
    return m;
  }();
  auto it = kByName->find(name);
  if (it == kByName->end()) return nullptr;
  for (const Function* f : it->second) {
    if (version < f->since) continue;
    if (f->removed_in && !(version < *f->removed_in)) continue;
    return f;
  }
  return nullptr;
}

}  // namespace promconf::promql
