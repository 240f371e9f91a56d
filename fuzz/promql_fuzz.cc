// libFuzzer target for the PromQL parser: any input must parse or fail
// cleanly (no crash, no sanitizer report); whatever parses must print to
// text that parses to an equal AST, print idempotently, and stay valid after
// namespace enforcement.
//
// The first byte picks the modelled release and the experimental flag, so
// every version's grammar is explored.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "reconcile/promql/promql.h"

namespace {

using promconf::promql::Version;

void Fail(const char* what, const std::string& input, const std::string& printed) {
  std::fprintf(stderr, "promql_fuzz: %s\ninput:   %s\nprinted: %s\n", what, input.c_str(),
               printed.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr Version kVersions[] = {{2, 42}, {2, 49}, {2, 54}, {3, 0},
                                          {3, 4},  {3, 7},  {3, 12}, {3, 14}};
  promconf::promql::ParseOptions options;
  options.version = kVersions[data[0] % (sizeof(kVersions) / sizeof(kVersions[0]))];
  options.experimental_functions = (data[0] & 0x80) != 0;
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);

  auto parsed = promconf::promql::ParseExpr(input, options);
  if (!parsed.ok()) return 0;
  const std::string printed = promconf::promql::Print(**parsed);
  auto again = promconf::promql::ParseExpr(printed, options);
  if (!again.ok()) Fail("printed form does not parse", input, printed);
  if (!promconf::promql::Equal(**parsed, **again)) Fail("round trip changed the AST", input, printed);
  if (promconf::promql::Print(**again) != printed) Fail("printing is not idempotent", input, printed);

  promconf::promql::EnforceLabel(**parsed, "namespace", "team-a");
  const std::string enforced = promconf::promql::Print(**parsed);
  if (!promconf::promql::ParseExpr(enforced, options).ok()) {
    Fail("enforced expression does not parse", input, enforced);
  }
  return 0;
}
