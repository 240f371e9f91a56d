#pragma once

// Go's text/template syntax, as Prometheus parses alert label and annotation
// templates when it loads a rule file (rulefmt's testTemplateParsing, the
// check `promtool check rules` makes). Only parsing: nothing is executed, so
// what Go reports at execution (a missing field, a wrong argument count) is
// not an error here either.
//
// The grammar and its error cases follow Go's text/template/parse of the Go
// release that built the chosen Prometheus version (Go 1.17 .. 1.25; the
// parser changed in 1.18, break/continue, and 1.23, {{else with}}). Function
// names are resolved when parsing, as Go does ("function %q not defined"),
// against Prometheus' function map of that version plus Go's builtins.
//
// Bounded: work is linear in the text; nesting (parentheses, if/range/with/
// block, else-if chains) deeper than ParseOptions::max_depth is an error
// rather than deep recursion (Go itself would keep recursing). Thread-safe:
// no shared mutable state.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace promconf::gotemplate {

// A Prometheus release, e.g. {2, 42}. Patch releases never changed the
// template functions.
struct PrometheusVersion {
  int major = 3;
  int minor = 9;
  bool AtLeast(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};

// "2.42", "v2.42.0", "3.1.0-rc.0" -> version; false when it does not parse.
bool ParsePrometheusVersion(absl::string_view text, PrometheusVersion* out);

struct ParseOptions {
  PrometheusVersion version;
  // The template's own name. Prometheus names an alert's templates
  // "__alert_<alertname>"; a {{define}} of the same name is then a
  // "multiple definition" error, so CheckAlertTemplate needs it.
  std::string name = "__alert_";
  // Nesting deeper than this is refused (see above). Each level costs up to
  // ~4 KiB of stack in a sanitizer build; real templates nest a handful.
  int max_depth = 200;
};

struct TemplateError {
  int line = 0;    // 1-based, in the text passed (the preamble not counted)
  int column = 0;  // 1-based, in bytes
  std::string message;  // Go's wording where Go has one, e.g. `function "foo" not defined`
};

// Parses `text` as Go's template.New(name).Funcs(prometheusFuncs).Parse(text)
// would. On error returns InvalidArgument "line:column: message" and fills
// *err if given.
absl::Status ParseTemplate(absl::string_view text, const ParseOptions& options,
                           TemplateError* err = nullptr);

// What Prometheus checks for one alert label or annotation value: the text
// parsed after the preamble
//   {{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}
//   {{$externalURL := .ExternalURL}}{{$value := .Value}}
// (so those variables are defined at the top level, but not inside a
// {{define}}). Error positions are within `text`.
absl::Status CheckAlertTemplate(absl::string_view text, const ParseOptions& options,
                                TemplateError* err = nullptr);

// The template's function map for `version`: Prometheus' functions
// (template/template.go) and Go's builtins.
struct TemplateFunction {
  absl::string_view name;
  int since_major = 0;  // the Prometheus release that added it; 0: always there
  int since_minor = 0;
  bool go_builtin = false;
};
const std::vector<TemplateFunction>& AllTemplateFunctions();
// Whether `name` is defined for `version`; when it exists only in a later
// release, *added_in (if given) says which ("3.6").
bool IsTemplateFunction(absl::string_view name, const PrometheusVersion& version,
                        std::string* added_in = nullptr);

// The Go minor release (1.N) that built `version`'s release binaries
// (.promu.yml), which decides the template syntax.
int GoMinorForPrometheus(const PrometheusVersion& version);

}  // namespace promconf::gotemplate
