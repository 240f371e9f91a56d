#pragma once

// Fragments: what a Document becomes once its suffix says what it is and its
// bytes parse and validate (SPEC "Documents and fragments", "When input is
// bad"). Parsing never throws: yaml-cpp's exceptions are caught here and
// every error names the source, the document, the line and the key.
//
// Pure functions; thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "informers/document.h"

namespace promconf {

enum class FragmentKind { kRules, kScrape, kTargets, kJobTargets, kIgnored };

// "rules", "scrape", "targets", "targets" (job targets count as targets),
// "ignored": the `kind` label of promconf_fragments and /debug/fragments.
absl::string_view FragmentKindName(FragmentKind kind);

// By suffix; Document.job set means targets generated for that job.
FragmentKind ClassifyDocument(const Document& doc);

enum class JobNamePrefix { kNone, kNamespace };

struct ValidationOptions {
  uint64_t max_fragment_bytes = 1048576;
  // Non-empty: every rule and every scraped series of a fragment from a
  // namespaced source gets this label set to the fragment's namespace.
  std::string enforce_namespace_label;
  // kNamespace: job names of fragments from namespaced sources become
  // "<namespace>/<job_name>".
  JobNamePrefix job_name_prefix = JobNamePrefix::kNone;
  // Sources whose document names start with "<namespace>/" (kubernetes).
  std::set<std::string, std::less<>> namespaced_sources;
  // Sources the operator alone can write (sources[].trusted): only their
  // fragments may name files on the Prometheus host (SPEC "Who may write
  // what").
  std::set<std::string, std::less<>> trusted_sources;
  // The Prometheus release fragments are judged for ("2.42", "3.1"; "" the
  // newest supported): fields, functions and syntax newer than it are
  // rejected, naming the version.
  std::string prometheus_version;
  // The base config's global scrape_interval and scrape_timeout
  // (Prometheus' defaults otherwise): a fragment's scrape_timeout is
  // checked against its interval after these apply.
  int64_t global_scrape_interval_ns = 60'000'000'000;
  int64_t global_scrape_timeout_ns = 10'000'000'000;
  // The base config's global.metric_name_validation_scheme ("": the
  // version's default).
  std::string global_name_validation_scheme;
  // Documents first go through ParseYamlSubset (~20x faster than
  // yaml-cpp); what it is unsure of goes through yaml-cpp. Both build the
  // same tree. false: yaml-cpp only (tests compare the two).
  bool yaml_fast_path = true;
};

// One entry of scrape_configs, already emitted as a YAML list item
// ("- job_name: x\n  ...\n") so rendering is concatenation.
struct ScrapeEntry {
  std::string job_name;
  std::string yaml;
};

struct Fragment {
  FragmentKind kind = FragmentKind::kIgnored;
  // kJobTargets: the job.
  std::string job;
  // kRules, kTargets, kJobTargets: the file under the output dir and its
  // bytes, emitted from the validated tree.
  std::string output_path;
  std::shared_ptr<const std::string> output;
  const std::string& output_bytes() const;
  // kScrape: in document order.
  std::vector<ScrapeEntry> scrape_configs;
};

// Why a document was refused, in a bounded set: the `reason` label of
// promconf_fragments_rejected_total.
enum class RejectReason {
  kName,          // the document name is unusable (a NUL byte)
  kTooLarge,      // over max_fragment_bytes
  kYaml,          // not YAML, or past the reader's bounds (depth, aliases)
  kSchema,        // the Prometheus schema: rule file, scrape config, target groups
  kExpr,          // a rule's PromQL expression
  kTemplate,      // an alerting rule's label or annotation template
  kDuplicateJob,  // one job_name twice in the document
  kRender,        // conflicts with another document (a job name, an output file)
  kPromtool,      // promtool's second opinion
};
inline constexpr RejectReason kAllRejectReasons[] = {
    RejectReason::kName,     RejectReason::kTooLarge,     RejectReason::kYaml,
    RejectReason::kSchema,   RejectReason::kExpr,         RejectReason::kTemplate,
    RejectReason::kDuplicateJob, RejectReason::kRender, RejectReason::kPromtool};
// "name", "too_large", "yaml", "schema", "expr", "template", "duplicate_job",
// "render", "promtool".
absl::string_view RejectReasonName(RejectReason reason);

// Where and why a document was rejected.
struct FragmentError {
  int line = 0;     // 1-based; 0 when not about a line (size, name)
  std::string key;  // "groups[0].rules[2].expr"; empty when about the document
  std::string reason;
  RejectReason category = RejectReason::kSchema;
};

// "<source>: <document>: line N: key K: reason" (the document name escaped
// and cut at 256 bytes; line and key only when set): how every rejection
// names its fragment.
std::string Describe(absl::string_view source, absl::string_view name, const FragmentError& e);

// Parses (ParseYaml: bounded, one tree) and validates one document, and
// emits its outputs from the validated tree. On error returns
// InvalidArgument with "<source>: <document>: line N: key K: reason" and
// fills *error if given. `shared_data`, when given, holds exactly doc.data:
// a rule file whose emitted bytes equal its input keeps a reference to it
// as its output instead of a copy, so the store's bytes are not held twice.
absl::StatusOr<Fragment> ParseFragment(absl::string_view source, const Document& doc,
                                       const ValidationOptions& options,
                                       FragmentError* error = nullptr,
                                       std::shared_ptr<const std::string> shared_data = nullptr);

// A file name component made of [A-Za-z0-9._-], at most ~120 characters.
// Unchanged when `name` already is one; otherwise the disallowed characters
// become '_', it is truncated, and "-<8 hex digits of a hash of name>" keeps
// distinct names distinct.
std::string SanitizeFileComponent(absl::string_view name);

// "rules/<source>_<sanitized name without suffix>.yml" and the targets
// equivalents; every result passes IsSafeRelativePath.
std::string RulesOutputPath(absl::string_view source, absl::string_view doc_name);
std::string TargetsOutputPath(absl::string_view source, absl::string_view doc_name);
std::string JobTargetsOutputPath(absl::string_view source, absl::string_view job);

// Whether `name` in rules/ or targets/ follows the naming scheme above for
// one of `sources`: only such files are ever removed.
bool IsOwnedOutputName(absl::string_view dir, absl::string_view name,
                       const std::vector<std::string>& sources);

// A Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsValidMetricName(absl::string_view name);
// A Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*.
bool IsValidLabelName(absl::string_view name);

// Stable (process- and platform-independent) FNV-1a hash.
uint64_t StableHash(absl::string_view data);

}  // namespace promconf
