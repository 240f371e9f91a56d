#include "reconcile/fragment.h"

#include <set>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "reconcile/fragment_namespace.h"
#include "reconcile/fragment_schema.h"
#include "reconcile/fragment_targets.h"
#include "reconcile/fragment_yaml.h"
#include "reconcile/yaml_subset.h"
#include "reconcile/yaml_tree.h"

// ParseFragment: the checks every document passes, then one builder per
// kind. What a document is and where it goes: fragment_names.cc; the
// schemas: fragment_schema.cc and prometheus/; namespaces:
// fragment_namespace.cc; target files: fragment_targets.cc.

namespace promconf {
namespace {

// Rule file: validated, namespaced, re-emitted from the tree. Re-emitted,
// not copied: comments go, and nothing the checks did not see (an alias, a
// merge key, a character another YAML reader takes differently) reaches
// Prometheus.
bool BuildRules(absl::string_view source, const Document& doc, const ValidationOptions& options,
                absl::string_view ns, std::shared_ptr<const std::string> shared_data,
                YamlSubsetNode* root, Fragment* frag, FragmentError* err) {
  if (!CheckRuleFile(*root, options, err)) return false;
  if (!ns.empty()) EnforceNamespaceOnRules(root, ns, options);
  std::string bytes;
  if (!root->IsNull()) EmitYamlBlock(*root, 0, false, &bytes);
  frag->output_path = RulesOutputPath(source, doc.name);
  // A file already written the way it is emitted shares the store's bytes
  // instead of holding them twice.
  if (shared_data != nullptr && *shared_data == bytes) {
    frag->output = std::move(shared_data);
  } else {
    frag->output = std::make_shared<const std::string>(std::move(bytes));
  }
  return true;
}

// Scrape configs (one, or a list): validated, namespaced, each emitted as a
// scrape_configs list item; a job name only once per document.
bool BuildScrape(absl::string_view source, const ValidationOptions& options, absl::string_view ns,
                 YamlSubsetNode* root, Fragment* frag, FragmentError* err) {
  if (root->IsNull()) return true;
  std::vector<YamlSubsetNode*> configs;
  if (root->IsSeq()) {
    for (size_t i = 0; i < root->seq.size(); ++i) {
      if (!CheckScrapeConfig(root->seq[i], source, options, absl::StrCat("[", i, "]"), err)) return false;
      configs.push_back(&root->seq[i]);
    }
  } else {
    if (!CheckScrapeConfig(*root, source, options, "", err)) return false;
    configs.push_back(root);
  }
  std::set<std::string> jobs;
  for (YamlSubsetNode* sc : configs) {
    std::string job = ns.empty() ? sc->Find("job_name")->scalar
                                 : EnforceNamespaceOnScrapeConfig(sc, ns, options);
    if (!jobs.insert(job).second) {
      *err = {sc->Find("job_name")->line, "job_name",
              absl::StrCat("job_name \"", absl::CHexEscape(job), "\" defined twice in this document"),
              RejectReason::kDuplicateJob};
      return false;
    }
    ScrapeEntry entry;
    entry.job_name = std::move(job);
    entry.yaml = "- ";
    EmitYamlBlock(*sc, 2, true, &entry.yaml);
    frag->scrape_configs.push_back(std::move(entry));
  }
  return true;
}

// Target groups (a file, or those a source generated for a job): validated
// and written as normalised JSON.
bool BuildTargets(absl::string_view source, const Document& doc, const YamlSubsetNode& root,
                  Fragment* frag, FragmentError* err) {
  if (!CheckTargetGroups(root, err)) return false;
  if (frag->kind == FragmentKind::kJobTargets) {
    frag->job = doc.job;
    frag->output_path = JobTargetsOutputPath(source, doc.job);
  } else {
    frag->output_path = TargetsOutputPath(source, doc.name);
  }
  frag->output = std::make_shared<const std::string>(NormalizedTargetsJson(root));
  return true;
}

}  // namespace

std::string Describe(absl::string_view source, absl::string_view name, const FragmentError& e) {
  std::string msg = absl::StrCat(source, ": ", absl::CHexEscape(name.substr(0, 256)),
                                 name.size() > 256 ? "..." : "");
  if (e.line > 0) absl::StrAppend(&msg, ": line ", e.line);
  if (!e.key.empty()) absl::StrAppend(&msg, ": key \"", e.key, "\"");
  absl::StrAppend(&msg, ": ", e.reason);
  return msg;
}

absl::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kName: return "name";
    case RejectReason::kTooLarge: return "too_large";
    case RejectReason::kYaml: return "yaml";
    case RejectReason::kSchema: return "schema";
    case RejectReason::kExpr: return "expr";
    case RejectReason::kTemplate: return "template";
    case RejectReason::kDuplicateJob: return "duplicate_job";
    case RejectReason::kRender: return "render";
    case RejectReason::kPromtool: return "promtool";
  }
  return "schema";
}

const std::string& Fragment::output_bytes() const {
  static const std::string* const kEmpty = new std::string();
  return output != nullptr ? *output : *kEmpty;
}

absl::StatusOr<Fragment> ParseFragment(absl::string_view source, const Document& doc,
                                       const ValidationOptions& options, FragmentError* error,
                                       std::shared_ptr<const std::string> shared_data) {
  Fragment frag;
  frag.kind = ClassifyDocument(doc);
  if (frag.kind == FragmentKind::kIgnored) return frag;

  auto reject = [&](FragmentError e) -> absl::Status {
    if (error != nullptr) *error = e;
    return absl::InvalidArgumentError(Describe(source, doc.name, e));
  };
  if (doc.name.find('\0') != std::string::npos) {
    return reject({0, "", "document name contains a NUL byte", RejectReason::kName});
  }
  if (doc.oversized_bytes != 0 || doc.data.size() > options.max_fragment_bytes) {
    uint64_t size = doc.oversized_bytes != 0 ? doc.oversized_bytes : doc.data.size();
    return reject({0, "", absl::StrCat("document is ", size, " bytes, over max_fragment_bytes ",
                                       options.max_fragment_bytes),
                   RejectReason::kTooLarge});
  }

  // One tree, whichever path built it: what is validated below is what is
  // written.
  YamlParseOptions parse_options;
  parse_options.fast_path = options.yaml_fast_path;
  YamlParseError parse_error;
  absl::StatusOr<YamlSubsetNode> parsed = ParseYaml(doc.data, parse_options, &parse_error);
  if (!parsed.ok()) {
    return reject({parse_error.line, parse_error.key, parse_error.reason, RejectReason::kYaml});
  }

  const std::string ns = FragmentNamespace(source, doc.name, options);
  FragmentError err;
  bool ok = true;
  switch (frag.kind) {
    case FragmentKind::kRules:
      ok = BuildRules(source, doc, options, ns, std::move(shared_data), &*parsed, &frag, &err);
      break;
    case FragmentKind::kScrape:
      ok = BuildScrape(source, options, ns, &*parsed, &frag, &err);
      break;
    case FragmentKind::kTargets:
    case FragmentKind::kJobTargets:
      ok = BuildTargets(source, doc, *parsed, &frag, &err);
      break;
    case FragmentKind::kIgnored:
      break;
  }
  if (!ok) return reject(std::move(err));
  return frag;
}

}  // namespace promconf
