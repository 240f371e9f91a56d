// Alert label/annotation templates (reconcile/gotemplate): any bytes give
// a verdict, never a crash, deep recursion or super-linear work (the run's
// -timeout catches the latter); an error always has a position inside the
// text.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <string>

#include "fuzz/fuzz_util.h"
#include "reconcile/gotemplate/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  promconf::gotemplate::ParseOptions options;
  options.version.major = in.ConsumeBool() ? 2 : 3;
  options.version.minor = in.ConsumeIntegralInRange<int>(0, 60);
  const bool preamble = in.ConsumeBool();
  const std::string text = in.ConsumeRemainingBytesAsString();

  promconf::gotemplate::TemplateError err;
  absl::Status s = preamble ? promconf::gotemplate::CheckAlertTemplate(text, options, &err)
                            : promconf::gotemplate::ParseTemplate(text, options, &err);
  if (!s.ok()) {
    PROMCONF_FUZZ_CHECK(!err.message.empty(), text);
    const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    PROMCONF_FUZZ_CHECK(err.line >= 1 && err.line <= lines, text);
    PROMCONF_FUZZ_CHECK(err.column >= 1 && static_cast<size_t>(err.column) <= text.size() + 1,
                        text);
  }
  return 0;
}
