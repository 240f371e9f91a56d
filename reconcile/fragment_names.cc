// Classification and output naming: what a document is by its name, and
// which file under the output dir it becomes (fragment.h).

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "reconcile/fragment.h"

namespace promconf {
namespace {

constexpr size_t kMaxComponent = 120;

// The suffix table lives in informers/document.h: sources drop other names.
absl::string_view StripSuffix(absl::string_view name) {
  const FragmentSuffix* s = FragmentSuffixOf(name);
  return s == nullptr ? name : name.substr(0, name.size() - s->text.size());
}

}  // namespace

absl::string_view FragmentKindName(FragmentKind kind) {
  switch (kind) {
    case FragmentKind::kRules: return "rules";
    case FragmentKind::kScrape: return "scrape";
    case FragmentKind::kTargets:
    case FragmentKind::kJobTargets: return "targets";
    case FragmentKind::kIgnored: break;
  }
  return "ignored";
}

FragmentKind ClassifyDocument(const Document& doc) {
  if (!doc.job.empty()) return FragmentKind::kJobTargets;
  const FragmentSuffix* s = FragmentSuffixOf(doc.name);
  if (s == nullptr) return FragmentKind::kIgnored;
  switch (s->kind) {
    case FragmentSuffixKind::kRules: return FragmentKind::kRules;
    case FragmentSuffixKind::kScrape: return FragmentKind::kScrape;
    case FragmentSuffixKind::kTargets: return FragmentKind::kTargets;
  }
  return FragmentKind::kIgnored;
}

bool IsValidMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool IsValidLabelName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

uint64_t StableHash(absl::string_view data) {
  uint64_t h = 14695981039346656037ull;
  for (char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string SanitizeFileComponent(absl::string_view name) {
  std::string out;
  out.reserve(std::min(name.size(), kMaxComponent));
  bool changed = name.empty() || name.size() > kMaxComponent || name.front() == '.';
  for (char c : name.substr(0, kMaxComponent)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '_');
    changed |= !ok;
  }
  if (changed) {
    absl::StrAppend(&out, "-", absl::StrFormat("%08x", static_cast<uint32_t>(StableHash(name) >> 32)));
  }
  return out;
}

std::string RulesOutputPath(absl::string_view source, absl::string_view doc_name) {
  return absl::StrCat("rules/", SanitizeFileComponent(source), "_",
                      SanitizeFileComponent(StripSuffix(doc_name)), ".yml");
}

std::string TargetsOutputPath(absl::string_view source, absl::string_view doc_name) {
  return absl::StrCat("targets/", SanitizeFileComponent(source), "_",
                      SanitizeFileComponent(StripSuffix(doc_name)), ".json");
}

std::string JobTargetsOutputPath(absl::string_view source, absl::string_view job) {
  return absl::StrCat("targets/", SanitizeFileComponent(source), "-", SanitizeFileComponent(job),
                      ".json");
}

bool IsOwnedOutputName(absl::string_view dir, absl::string_view name,
                       const std::vector<std::string>& sources) {
  if (absl::StartsWith(name, ".")) return false;
  for (const std::string& s : sources) {
    std::string prefix = SanitizeFileComponent(s);
    if (dir == "rules" && absl::StartsWith(name, prefix + "_") && absl::EndsWith(name, ".yml")) {
      return true;
    }
    if (dir == "targets" && absl::EndsWith(name, ".json") &&
        (absl::StartsWith(name, prefix + "_") || absl::StartsWith(name, prefix + "-"))) {
      return true;
    }
  }
  return false;
}

}  // namespace promconf
