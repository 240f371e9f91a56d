#pragma once

// OutputReconciler: the level-triggered heart of promconf. On every key it
// reads the whole DocumentStore snapshot, re-parses only documents whose
// (source, name, version) changed, keeps the last accepted version of a
// fragment that is now rejected (SPEC "When input is bad"), renders, and
// writes the tree atomically (or, in dry-run mode, collects a unified diff).
//
// Incremental: when the only changes since the last successful sync are new
// versions of existing documents whose accepted fragment claims the same
// output file and job names as before (the common "one ConfigMap edited"),
// ownership and rejections cannot change, so only those documents' files are
// written and prometheus.yml is rebuilt (from the scrape-config fragments
// alone) when a scrape fragment changed. Anything else (documents added or
// removed, a claim changed, the base config changed, after an error) renders
// the whole tree as before.
//
// Thread-safety: Reconcile() is called by one worker at a time (the
// Reconciler contract); LastReport() and FragmentStatuses() may be called
// from any thread at any time.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "informers/document_store.h"
#include "metrics/metrics.h"
#include "reconcile/atomic_writer.h"
#include "reconcile/filesystem.h"
#include "reconcile/fragment.h"
#include "runtime/reconciler.h"

namespace promconf {

struct OutputOptions {
  std::string dir;
  std::string base_config_path;  // empty: none
  ValidationOptions validation;
  // Write nothing; LastReport().diff says what would change.
  bool dry_run = false;
  // promtool's path: a second opinion that never delays a file. In-process
  // validation decides every change; rule fragments it accepted are checked
  // by `promtool check rules` before the next reload (SecondOpinion()), only
  // those accepted since the last check. Empty: no second opinion.
  std::string promtool;
  // That promtool's release ("2.42"); "" when unknown. What promtool refuses
  // because its release predates what the fragment uses is not a
  // disagreement.
  std::string promtool_version;
  Filesystem* fs = nullptr;  // nullptr: RealFilesystem()
  // promconf_fragments_rejected_total, once per refused document version;
  // may be null.
  Metrics* metrics = nullptr;
};

// One row of /debug/fragments.
struct FragmentStatus {
  std::string source;
  std::string document;
  std::string kind;    // rules|scrape|targets|ignored
  std::string status;  // accepted|rejected|ignored
  std::string error;   // empty unless rejected
  uint64_t bytes = 0;
};

struct ReconcileReport {
  // Some output file was written or removed.
  bool outputs_changed = false;
  // prometheus.yml or a rule file was written or removed: Prometheus must
  // reload. targets/ files alone do not need one: file_sd watches them, and
  // a reload racing a file_sd update keeps removed targets in Prometheus
  // before 2.51 (prometheus#12436, fixed by #13147/#13622; Debian 12 ships
  // 2.42).
  bool reload_needed = false;
  int files_written = 0;
  int files_removed = 0;
  // "rules"|"scrape"|"targets" -> counts, for promconf_fragments.
  std::map<std::string, int> accepted;
  std::map<std::string, int> rejected;
  int ignored = 0;
  int parsed = 0;  // documents (re)parsed by this reconcile
  // Dry-run: the unified diff of what would change ("" when nothing).
  std::string diff;
  uint64_t store_generation = 0;
};

// What promtool's second opinion found (OutputReconciler::SecondOpinion).
struct SecondOpinionReport {
  int checked = 0;
  // promtool rejected what promconf accepted: each such fragment is reverted
  // to the last version promtool agreed with (or left out) and marked
  // rejected. Should stay 0 (promconf_validation_disagreements_total).
  int disagreements = 0;
  // promtool refused what its older release (or its build) cannot know: the
  // fragment stays.
  int skipped = 0;
  // A fragment was reverted: render again before reloading.
  bool rerender_needed = false;
};

// Rule fragments taken for one promtool run: what each was when taken.
struct SecondOpinionBatch {
  struct Item {
    std::string source, document;
    std::shared_ptr<const Fragment> fragment;
  };
  std::vector<Item> items;
};

// Runs promtool over a batch (a process per 256 files). Thread-safe: touches
// no reconciler state, so it runs off the worker and never delays a file.
// Unavailable when promtool could not run.
absl::StatusOr<std::vector<std::string>> RunSecondOpinion(const std::string& promtool,
                                                          const SecondOpinionBatch& batch);

class OutputReconciler : public runtime::Reconciler {
 public:
  OutputReconciler(DocumentStore* store, OutputOptions options);

  // OK; kUnavailable on I/O errors (retry); kInvalidArgument /
  // kFailedPrecondition when the base config is bad or missing (terminal
  // until someone fixes it). The key is not interpreted.
  runtime::ReconcileResult Reconcile(const std::string& key) override;

  // Whether rule fragments accepted since the last SecondOpinion() wait for
  // promtool. Same caller as Reconcile().
  bool SecondOpinionPending() const;
  // Runs promtool over them (a batch per process). Unavailable when promtool
  // could not run: they stay pending (retry with backoff). Same caller as
  // Reconcile(). The three steps below, in one call (--once, tests).
  absl::StatusOr<SecondOpinionReport> SecondOpinion();
  // The unvetted rule fragments as they are now; they stay pending until
  // ApplySecondOpinion. Same caller as Reconcile().
  SecondOpinionBatch TakeSecondOpinionBatch() const;
  // promtool's verdicts (one per item; "" = accepted) on a batch taken
  // earlier: what promtool rejects is reverted, unless the fragment changed
  // meanwhile (it waits for the next run). Same caller as Reconcile().
  SecondOpinionReport ApplySecondOpinion(const SecondOpinionBatch& batch,
                                         const std::vector<std::string>& verdicts);

  // OutputOptions::promtool.
  const std::string& promtool() const { return options_.promtool; }

  ReconcileReport LastReport() const;
  // Sorted by source order, then document name.
  std::vector<FragmentStatus> FragmentStatuses() const;
  // Files renamed into place so far.
  uint64_t writes() const;

 private:
  struct Entry {
    uint64_t version = 0;
    uint64_t bytes = 0;
    FragmentKind kind = FragmentKind::kIgnored;
    // The last accepted version: stays in the output while newer versions
    // are rejected.
    std::shared_ptr<const Fragment> accepted;
    std::string parse_error;   // of the current version; empty when accepted
    std::string render_error;  // duplicate job, clashing file
    bool seen = false;
    bool parsed = false;
    // Set by the last full render: its output file lost a clash.
    bool file_rejected = false;
    // The last accepted version promtool agreed with (or could not judge):
    // what a version promtool rejects reverts to.
    std::shared_ptr<const Fragment> vetted;
    // `accepted` waits for promtool's second opinion.
    bool unvetted = false;
    // Index of its row in statuses_.
    size_t status_index = 0;
  };
  using Key = std::pair<std::string, std::string>;  // (source, document)

  struct Modified {
    size_t source = 0;  // index in the snapshot's sources
    const std::shared_ptr<const StoredDocument>* stored = nullptr;
  };
  // Re-parses `stored` into `e` when its version is new.
  void ParseEntry(const std::string& source, const std::shared_ptr<const StoredDocument>& stored,
                  Entry* e, ReconcileReport* report);
  FragmentStatus MakeStatus(const std::string& source, const std::string& document,
                            const Entry& e) const;
  static void CountStatus(const FragmentStatus& s, int delta, ReconcileReport* report);
  // Documents whose stored version differs from prev_snap_'s, when none was
  // added or removed; false when something was (or there is no prev_snap_).
  bool ModifiedOnly(const StoreSnapshot& snap, std::vector<Modified>* out) const;
  // The incremental path. *handled is false when a full render is needed
  // (entries are re-parsed either way).
  absl::Status ApplyModified(const StoreSnapshot& snap, const std::vector<Modified>& mods,
                             const std::string& base, ReconcileReport* report, bool* handled);

  using Files = std::map<std::string, std::shared_ptr<const std::string>>;
  absl::Status Sync(const Files& files, ReconcileReport* report);
  absl::Status DryRunDiff(const Files& files, ReconcileReport* report);
  // A failed write, logged; the next pass renders everything afresh. Any
  // status but InvalidArgument becomes Unavailable (retried with backoff).
  runtime::ReconcileResult WriteFailed(absl::Status st);
  void CountRejected(FragmentKind kind, RejectReason reason);
  bool Owned(absl::string_view dir, absl::string_view name) const;

  // Constant after construction.
  DocumentStore* const store_;
  const OutputOptions options_;
  Filesystem* const fs_;

  // Only touched by Reconcile() (one caller at a time).
  AtomicFileWriter writer_;
  absl::flat_hash_map<Key, Entry> entries_;
  // Entries whose accepted version waits for promtool (Entry::unvetted).
  absl::flat_hash_set<Key> unvetted_;
  std::vector<std::string> source_names_;
  uint64_t last_generation_ = 0;
  // The snapshot of the last successful sync.
  std::shared_ptr<const StoreSnapshot> prev_snap_;
  // Set by the last full render: the fragments prometheus.yml depends on
  // (accepted scrape fragments, job targets that own their file), in order.
  std::vector<std::pair<int, Key>> config_keys_;
  std::string last_base_;
  bool last_ok_ = false;

  mutable absl::Mutex mu_;
  ReconcileReport report_ ABSL_GUARDED_BY(mu_);
  std::vector<FragmentStatus> statuses_ ABSL_GUARDED_BY(mu_);
  uint64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace promconf
