// Prometheus' template function map per release and Go's builtins. Checked
// against template/template.go of each Prometheus tag and .promu.yml's Go
// version.

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "reconcile/gotemplate/template.h"

namespace promconf::gotemplate {

const std::vector<TemplateFunction>& AllTemplateFunctions() {
  static const auto* const kFunctions = new std::vector<TemplateFunction>{
      // Go's builtins (text/template/funcs.go), the same in Go 1.17 .. 1.25.
      {"and", 0, 0, true},
      {"call", 0, 0, true},
      {"html", 0, 0, true},
      {"index", 0, 0, true},
      {"slice", 0, 0, true},
      {"js", 0, 0, true},
      {"len", 0, 0, true},
      {"not", 0, 0, true},
      {"or", 0, 0, true},
      {"print", 0, 0, true},
      {"printf", 0, 0, true},
      {"println", 0, 0, true},
      {"urlquery", 0, 0, true},
      {"eq", 0, 0, true},
      {"ge", 0, 0, true},
      {"gt", 0, 0, true},
      {"le", 0, 0, true},
      {"lt", 0, 0, true},
      {"ne", 0, 0, true},
      // Prometheus 2.0 already had these.
      {"query", 0, 0, false},
      {"first", 0, 0, false},
      {"label", 0, 0, false},
      {"value", 0, 0, false},
      {"strvalue", 0, 0, false},
      {"args", 0, 0, false},
      {"reReplaceAll", 0, 0, false},
      {"safeHtml", 0, 0, false},
      {"match", 0, 0, false},
      {"title", 0, 0, false},
      {"toUpper", 0, 0, false},
      {"toLower", 0, 0, false},
      {"graphLink", 0, 0, false},
      {"tableLink", 0, 0, false},
      {"sortByLabel", 0, 0, false},
      {"humanize", 0, 0, false},
      {"humanize1024", 0, 0, false},
      {"humanizeDuration", 0, 0, false},
      {"humanizeTimestamp", 0, 0, false},
      {"pathPrefix", 0, 0, false},
      {"externalURL", 0, 0, false},
      // Not "tmpl": Prometheus adds it only for console templates
      // (ExpandHTML), so an alert template naming it does not load.
      // Later additions.
      {"humanizePercentage", 2, 11, false},
      {"parseDuration", 2, 32, false},
      {"stripPort", 2, 33, false},
      {"stripDomain", 2, 36, false},
      {"toTime", 2, 38, false},
      {"now", 3, 6, false},
      {"toDuration", 3, 6, false},
      {"urlQueryEscape", 3, 8, false},
  };
  return *kFunctions;
}

bool IsTemplateFunction(absl::string_view name, const PrometheusVersion& version,
                        std::string* added_in) {
  for (const TemplateFunction& f : AllTemplateFunctions()) {
    if (f.name != name) continue;
    if (version.AtLeast(f.since_major, f.since_minor)) return true;
    if (added_in != nullptr) *added_in = absl::StrCat(f.since_major, ".", f.since_minor);
    return false;
  }
  return false;
}

int GoMinorForPrometheus(const PrometheusVersion& v) {
  // The first Prometheus release built with each Go release (.promu.yml).
  struct Step {
    int major, minor, go_minor;
  };
  static constexpr Step kSteps[] = {
      {3, 9, 25}, {3, 3, 24}, {2, 55, 23}, {2, 51, 22}, {2, 47, 21},
      {2, 44, 20}, {2, 39, 19}, {2, 35, 18},
  };
  for (const Step& s : kSteps) {
    if (v.AtLeast(s.major, s.minor)) return s.go_minor;
  }
  return 17;
}

bool ParsePrometheusVersion(absl::string_view text, PrometheusVersion* out) {
  if (absl::ConsumePrefix(&text, "v")) {
  }
  // Drop a pre-release or build suffix: "3.1.0-rc.0", "2.42.0+ds".
  text = text.substr(0, text.find_first_of("-+"));
  std::vector<absl::string_view> parts = absl::StrSplit(text, '.');
  if (parts.size() < 2 || parts.size() > 3) return false;
  int major = 0, minor = 0, patch = 0;
  if (!absl::SimpleAtoi(parts[0], &major) || !absl::SimpleAtoi(parts[1], &minor)) return false;
  if (parts.size() == 3 && !absl::SimpleAtoi(parts[2], &patch)) return false;
  if (major < 0 || minor < 0 || patch < 0) return false;
  out->major = major;
  out->minor = minor;
  return true;
}

}  // namespace promconf::gotemplate
