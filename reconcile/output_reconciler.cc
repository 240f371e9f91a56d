#include "reconcile/output_reconciler.h"

#include <tuple>
#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "reconcile/promtool.h"
#include "reconcile/renderer.h"
#include "util/diff.h"
#include "util/log.h"
#include "util/memory.h"
#include "util/status_macros.h"

namespace promconf {
namespace {

const std::vector<std::string>& ManagedDirs() {
  static const std::vector<std::string>* dirs = new std::vector<std::string>{"rules", "targets"};
  return *dirs;
}

// Whether changes in these output directories need a Prometheus reload:
// anything but targets/, which file_sd re-reads by itself.
bool NeedsReload(const std::set<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    if (dir != "targets") return true;
  }
  return false;
}

// After a render that parsed this many documents (an initial sync, a
// re-list), the heap holds freed list pages, parser buffers and YAML trees.
constexpr int kTrimAfterParsed = 1000;

}  // namespace

OutputReconciler::OutputReconciler(DocumentStore* store, OutputOptions options)
    : store_(store),
      options_(std::move(options)),
      fs_(options_.fs != nullptr ? options_.fs : RealFilesystem()),
      writer_(fs_, options_.dir) {
  if (options_.metrics == nullptr) return;
  // Every series from the start at zero, so rate() and absent() behave.
  for (FragmentKind kind : {FragmentKind::kRules, FragmentKind::kScrape, FragmentKind::kTargets}) {
    for (RejectReason reason : kAllRejectReasons) {
      options_.metrics->IncFragmentsRejected(FragmentKindName(kind), RejectReasonName(reason), 0);
    }
  }
}

void OutputReconciler::CountRejected(FragmentKind kind, RejectReason reason) {
  if (options_.metrics == nullptr) return;
  options_.metrics->IncFragmentsRejected(FragmentKindName(kind), RejectReasonName(reason));
}

bool OutputReconciler::Owned(absl::string_view dir, absl::string_view name) const {
  return IsOwnedOutputName(dir, name, source_names_);
}

ReconcileReport OutputReconciler::LastReport() const {
  absl::MutexLock lock(&mu_);
  return report_;
}

std::vector<FragmentStatus> OutputReconciler::FragmentStatuses() const {
  absl::MutexLock lock(&mu_);
  return statuses_;
}

uint64_t OutputReconciler::writes() const {
  absl::MutexLock lock(&mu_);
  return writes_;
}

runtime::ReconcileResult OutputReconciler::Reconcile(const std::string& /*key*/) {
  std::shared_ptr<const StoreSnapshot> snap = store_->Snapshot();

  std::string base;
  if (!options_.base_config_path.empty()) {
    absl::StatusOr<std::string> read = fs_->ReadFile(options_.base_config_path);
    if (!read.ok()) {
      absl::Status st = absl::IsNotFound(read.status())
                            ? absl::FailedPreconditionError(read.status().message())
                            : absl::UnavailableError(read.status().message());
      LOG_WARN("cannot read base config", {{"path", options_.base_config_path}, {"err", st.message()}});
      last_ok_ = false;
      return {st, std::nullopt};
    }
    base = *std::move(read);
  }
  if (last_ok_ && snap->generation == last_generation_ && base == last_base_) {
    absl::MutexLock lock(&mu_);
    report_.outputs_changed = report_.reload_needed = false;
    report_.files_written = report_.files_removed = 0;
    report_.parsed = 0;
    report_.diff.clear();
    return {};
  }

  ReconcileReport report;
  report.store_generation = snap->generation;
  std::vector<Modified> mods;
  if (last_ok_ && base == last_base_ && ModifiedOnly(*snap, &mods)) {
    bool handled = false;
    absl::Status st = ApplyModified(*snap, mods, base, &report, &handled);
    if (handled || !st.ok()) {
      {
        absl::MutexLock lock(&mu_);
        writes_ = writer_.writes();
      }
      if (!st.ok()) return WriteFailed(st);
      last_generation_ = snap->generation;
      prev_snap_ = std::move(snap);
      return {};
    }
  }

  source_names_.clear();
  for (auto& [key, e] : entries_) e.seen = false;

  for (const StoreSnapshot::Source& src : snap->sources) {
    source_names_.push_back(src.name);
    for (const auto& stored : src.docs) {
      Entry& e = entries_[Key(src.name, stored->doc.name)];
      e.seen = true;
      ParseEntry(src.name, stored, &e, &report);
    }
  }
  RenderInput input;
  input.base_config = base;
  int source_index = 0;
  for (const StoreSnapshot::Source& src : snap->sources) {
    for (const auto& stored : src.docs) {
      const Entry& e = entries_[Key(src.name, stored->doc.name)];
      if (e.accepted) {
        input.fragments.push_back({source_index, src.name, stored->doc.name, e.accepted.get()});
      }
    }
    ++source_index;
  }
  // Documents gone from the store leave the output.
  absl::erase_if(entries_, [](const auto& kv) { return !kv.second.seen; });

  absl::StatusOr<RenderOutput> rendered = Render(input);
  if (!rendered.ok()) {
    LOG_WARN("cannot render: bad base config", {{"path", options_.base_config_path},
                                                {"err", rendered.status().message()}});
    last_ok_ = false;
    return {rendered.status(), std::nullopt};
  }
  std::map<Key, std::string> render_errors;
  std::set<Key> file_rejected;
  for (const RenderRejection& r : rendered->rejections) {
    if (r.output_file) file_rejected.insert(Key(r.source, r.document));
    std::string& msg = render_errors[Key(r.source, r.document)];
    absl::StrAppend(&msg, msg.empty() ? "" : "; ", r.source, ": ", r.document, ": ", r.reason);
  }
  std::vector<FragmentStatus> statuses;
  statuses.reserve(entries_.size());
  config_keys_.clear();
  source_index = 0;
  for (const StoreSnapshot::Source& src : snap->sources) {
    for (const auto& stored : src.docs) {
      Key key(src.name, stored->doc.name);
      Entry& e = entries_[key];
      auto re = render_errors.find(key);
      std::string render_error = re == render_errors.end() ? "" : re->second;
      if (render_error != e.render_error) {
        if (!render_error.empty()) {
          CountRejected(e.kind, RejectReason::kRender);
          LOG_WARN("fragment rejected", {{"source", src.name}, {"document", stored->doc.name},
                                         {"reason", render_error}});
        }
        e.render_error = render_error;
      }
      e.file_rejected = file_rejected.count(key) > 0;
      e.status_index = statuses.size();
      FragmentStatus s = MakeStatus(src.name, stored->doc.name, e);
      CountStatus(s, 1, &report);
      if (e.accepted && !e.file_rejected &&
          (!e.accepted->scrape_configs.empty() || e.accepted->kind == FragmentKind::kJobTargets)) {
        config_keys_.emplace_back(source_index, key);
      }
      statuses.push_back(std::move(s));
    }
    ++source_index;
  }

  absl::Status st = options_.dry_run ? DryRunDiff(rendered->files, &report)
                                     : Sync(rendered->files, &report);
  {
    absl::MutexLock lock(&mu_);
    statuses_ = std::move(statuses);
    if (st.ok()) report_ = report;
    writes_ = writer_.writes();
  }
  if (!st.ok()) return WriteFailed(st);
  last_ok_ = !options_.dry_run;
  last_generation_ = snap->generation;
  last_base_ = std::move(base);
  prev_snap_ = std::move(snap);
  if (report.parsed >= kTrimAfterParsed) ReleaseFreedMemory();
  return {};
}

runtime::ReconcileResult OutputReconciler::WriteFailed(absl::Status st) {
  LOG_WARN("cannot write outputs", {{"dir", options_.dir}, {"err", st.message()}});
  last_ok_ = false;
  if (!absl::IsUnavailable(st) && !absl::IsInvalidArgument(st)) {
    st = absl::UnavailableError(st.message());
  }
  return {st, std::nullopt};
}

void OutputReconciler::ParseEntry(const std::string& source,
                                  const std::shared_ptr<const StoredDocument>& stored, Entry* e,
                                  ReconcileReport* report) {
  const Document& doc = stored->doc;
  bool fresh = !e->parsed || e->version != stored->version;
  e->parsed = true;
  if (!fresh) return;
  e->version = stored->version;
  e->bytes = doc.oversized_bytes != 0 ? doc.oversized_bytes : doc.data.size();
  e->kind = ClassifyDocument(doc);
  if (e->kind == FragmentKind::kIgnored) {
    e->accepted.reset();
    e->parse_error.clear();
    return;
  }
  ++report->parsed;
  FragmentError ferr;
  // Rule files emitted exactly as written share the stored bytes (aliasing
  // the stored document).
  absl::StatusOr<Fragment> frag =
      ParseFragment(source, doc, options_.validation, &ferr,
                    std::shared_ptr<const std::string>(stored, &stored->doc.data));
  if (frag.ok()) {
    auto candidate = std::make_shared<const Fragment>(*std::move(frag));
    if (!options_.promtool.empty() && candidate->kind == FragmentKind::kRules) {
      e->unvetted = true;
      unvetted_.insert(Key(source, doc.name));
    }
    e->accepted = std::move(candidate);
    e->parse_error.clear();
  } else {
    e->parse_error = std::string(frag.status().message());
    CountRejected(e->kind, ferr.category);
    // Logged once per rejected version.
    LOG_WARN("fragment rejected", {{"source", source},
                                   {"document", doc.name},
                                   {"line", ferr.line},
                                   {"key", ferr.key},
                                   {"reason", ferr.reason},
                                   {"kept_last_accepted", e->accepted != nullptr}});
  }
}

bool OutputReconciler::SecondOpinionPending() const { return !unvetted_.empty(); }

SecondOpinionBatch OutputReconciler::TakeSecondOpinionBatch() const {
  SecondOpinionBatch batch;
  for (const Key& key : unvetted_) {
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.unvetted || it->second.accepted == nullptr) continue;
    batch.items.push_back({key.first, key.second, it->second.accepted});
  }
  // Deterministic order: the log and the batches do not depend on hashing.
  std::sort(batch.items.begin(), batch.items.end(), [](const auto& a, const auto& b) {
    return std::tie(a.source, a.document) < std::tie(b.source, b.document);
  });
  return batch;
}

absl::StatusOr<std::vector<std::string>> RunSecondOpinion(const std::string& promtool,
                                                          const SecondOpinionBatch& batch) {
  // A few hundred files per promtool process keeps the command line short.
  constexpr size_t kBatch = 256;
  std::vector<std::string> verdicts;
  for (size_t start = 0; start < batch.items.size(); start += kBatch) {
    const size_t end = std::min(batch.items.size(), start + kBatch);
    std::vector<absl::string_view> files;
    for (size_t i = start; i < end; ++i) files.push_back(batch.items[i].fragment->output_bytes());
    absl::StatusOr<std::vector<std::string>> part = PromtoolCheckRules(promtool, files);
    if (!part.ok()) {
      LOG_WARN("promtool could not give its second opinion; retrying",
               {{"promtool", promtool}, {"err", part.status().message()}});
      return absl::UnavailableError(absl::StrCat("promtool: ", part.status().message()));
    }
    verdicts.insert(verdicts.end(), part->begin(), part->end());
  }
  return verdicts;
}

SecondOpinionReport OutputReconciler::ApplySecondOpinion(const SecondOpinionBatch& batch,
                                                         const std::vector<std::string>& verdicts) {
  SecondOpinionReport out;
  // promtool's own release judges what it cannot know as invalid: a fragment
  // that promconf also refuses when validating for that release is newer
  // than promtool, not wrong.
  ValidationOptions as_promtool = options_.validation;
  as_promtool.prometheus_version = options_.promtool_version;
  for (size_t i = 0; i < batch.items.size() && i < verdicts.size(); ++i) {
    const SecondOpinionBatch::Item& item = batch.items[i];
    const Key key(item.source, item.document);
    auto it = entries_.find(key);
    if (it == entries_.end()) continue;  // gone meanwhile
    Entry& e = it->second;
    ++out.checked;
    if (e.accepted != item.fragment) continue;  // replaced meanwhile: vetted next time
    unvetted_.erase(key);
    e.unvetted = false;
    if (verdicts[i].empty()) {
      e.vetted = item.fragment;
      continue;
    }
    bool skipped = false;
    if (!options_.promtool_version.empty()) {
      Document doc;
      doc.name = item.document;
      doc.data = item.fragment->output_bytes();
      skipped = !ParseFragment(item.source, doc, as_promtool).ok();
    }
    if (skipped) {
      ++out.skipped;
      e.vetted = item.fragment;
      LOG_INFO("promtool refused a fragment its release cannot know; kept",
               {{"source", item.source}, {"document", item.document},
                {"promtool_version", options_.promtool_version}, {"promtool", verdicts[i]}});
      continue;
    }
    ++out.disagreements;
    CountRejected(FragmentKind::kRules, RejectReason::kPromtool);
    out.rerender_needed = true;
    e.accepted = e.vetted;
    e.parse_error = Describe(item.source, item.document, {0, "", absl::StrCat("promtool: ", verdicts[i])});
    LOG_WARN("promtool rejected a fragment promconf accepted; reverted (a validation disagreement)",
             {{"source", item.source},
              {"document", item.document},
              {"reason", absl::StrCat("promtool: ", verdicts[i])},
              {"kept_last_accepted", e.accepted != nullptr}});
  }
  // Entries no longer there or no longer unvetted leave the set too.
  for (auto it = unvetted_.begin(); it != unvetted_.end();) {
    auto e = entries_.find(*it);
    if (e == entries_.end() || !e->second.unvetted || e->second.accepted == nullptr) {
      unvetted_.erase(it++);
    } else {
      ++it;
    }
  }
  // The reverted versions reach the files through a full render.
  if (out.rerender_needed) last_ok_ = false;
  return out;
}

absl::StatusOr<SecondOpinionReport> OutputReconciler::SecondOpinion() {
  if (unvetted_.empty() || options_.promtool.empty()) return SecondOpinionReport{};
  const SecondOpinionBatch batch = TakeSecondOpinionBatch();
  absl::StatusOr<std::vector<std::string>> verdicts = RunSecondOpinion(options_.promtool, batch);
  if (!verdicts.ok()) return verdicts.status();
  return ApplySecondOpinion(batch, *verdicts);
}

FragmentStatus OutputReconciler::MakeStatus(const std::string& source, const std::string& document,
                                            const Entry& e) const {
  FragmentStatus s;
  s.source = source;
  s.document = document;
  s.kind = std::string(FragmentKindName(e.kind));
  s.bytes = e.bytes;
  if (e.kind == FragmentKind::kIgnored) {
    s.status = "ignored";
  } else if (!e.parse_error.empty() || !e.render_error.empty()) {
    s.status = "rejected";
    s.error = !e.parse_error.empty() ? e.parse_error : e.render_error;
  } else {
    s.status = "accepted";
  }
  return s;
}

bool OutputReconciler::ModifiedOnly(const StoreSnapshot& snap, std::vector<Modified>* out) const {
  if (prev_snap_ == nullptr || prev_snap_->sources.size() != snap.sources.size()) return false;
  for (size_t s = 0; s < snap.sources.size(); ++s) {
    const StoreSnapshot::Source& a = prev_snap_->sources[s];
    const StoreSnapshot::Source& b = snap.sources[s];
    if (a.name != b.name || a.docs.size() != b.docs.size()) return false;
    for (size_t i = 0; i < b.docs.size(); ++i) {
      if (a.docs[i] == b.docs[i]) continue;
      if (a.docs[i]->doc.name != b.docs[i]->doc.name) return false;
      if (a.docs[i]->version != b.docs[i]->version) out->push_back({s, &b.docs[i]});
    }
  }
  return true;
}

namespace {

// Whether two accepted versions claim the same output file and job names
// (so the render's ownership and rejections are the same for both).
bool SameClaims(const Fragment* a, const Fragment* b) {
  if (a == b) return true;
  if (a == nullptr || b == nullptr) return false;
  if (a->kind != b->kind || a->job != b->job || a->output_path != b->output_path ||
      a->scrape_configs.size() != b->scrape_configs.size()) {
    return false;
  }
  for (size_t i = 0; i < a->scrape_configs.size(); ++i) {
    if (a->scrape_configs[i].job_name != b->scrape_configs[i].job_name) return false;
  }
  return true;
}

}  // namespace

void OutputReconciler::CountStatus(const FragmentStatus& s, int delta, ReconcileReport* report) {
  if (s.status == "ignored") {
    report->ignored += delta;
    return;
  }
  std::map<std::string, int>& counts = s.status == "rejected" ? report->rejected : report->accepted;
  // Kinds with no fragments are absent, as after a full render.
  if ((counts[s.kind] += delta) == 0) counts.erase(s.kind);
}

absl::Status OutputReconciler::ApplyModified(const StoreSnapshot& snap,
                                             const std::vector<Modified>& mods,
                                             const std::string& base, ReconcileReport* report,
                                             bool* handled) {
  *handled = false;
  struct Changed {
    const Modified* mod;
    Entry* entry;
    bool new_fragment;
  };
  std::vector<Changed> changed;
  changed.reserve(mods.size());
  std::vector<std::shared_ptr<const Fragment>> before;
  before.reserve(mods.size());
  for (const Modified& m : mods) {
    const std::string& source = snap.sources[m.source].name;
    auto it = entries_.find(Key(source, (*m.stored)->doc.name));
    if (it == entries_.end()) return absl::OkStatus();
    Entry& e = it->second;
    before.push_back(e.accepted);
    ParseEntry(source, *m.stored, &e, report);
    changed.push_back({&m, &e, false});
  }
  bool same = true;
  for (size_t i = 0; i < changed.size(); ++i) {
    const Entry& e = *changed[i].entry;
    same = same && SameClaims(before[i].get(), e.accepted.get());
    changed[i].new_fragment = before[i] != e.accepted;
  }
  if (!same) return absl::OkStatus();  // ownership may move: full render

  std::map<std::string, absl::string_view> files;
  std::shared_ptr<const std::string> config;  // a rebuilt prometheus.yml
  bool rebuild_config = false;
  for (const Changed& c : changed) {
    const Entry& e = *c.entry;
    if (!c.new_fragment || e.accepted == nullptr || e.file_rejected) continue;
    if (!e.accepted->output_path.empty()) files[e.accepted->output_path] = e.accepted->output_bytes();
    if (!e.accepted->scrape_configs.empty()) rebuild_config = true;
  }
  if (rebuild_config) {
    RenderInput input;
    input.base_config = base;
    input.fragments.reserve(config_keys_.size());
    for (const auto& [index, key] : config_keys_) {
      auto it = entries_.find(key);
      if (it == entries_.end() || it->second.accepted == nullptr) continue;
      input.fragments.push_back({index, key.first, key.second, it->second.accepted.get()});
    }
    absl::StatusOr<RenderOutput> rendered = Render(input);
    if (!rendered.ok()) return rendered.status();
    config = rendered->files[kPrometheusConfigName];
    files[kPrometheusConfigName] = *config;
  }
  *handled = true;

  absl::Status st = absl::OkStatus();
  if (!files.empty()) {
    std::set<std::string> dirs;
    absl::StatusOr<int> written = writer_.WriteAll(files, &dirs);
    if (written.ok()) {
      report->files_written = *written;
      report->outputs_changed = *written > 0;
      report->reload_needed = NeedsReload(dirs);
    } else {
      st = written.status();
    }
  }
  absl::MutexLock lock(&mu_);
  report->accepted = report_.accepted;
  report->rejected = report_.rejected;
  report->ignored = report_.ignored;
  for (const Changed& c : changed) {
    const Entry& e = *c.entry;
    if (e.status_index >= statuses_.size()) continue;
    FragmentStatus& row = statuses_[e.status_index];
    CountStatus(row, -1, report);
    row = MakeStatus(row.source, row.document, e);
    CountStatus(row, 1, report);
  }
  if (st.ok()) report_ = *report;
  return st;
}

absl::Status OutputReconciler::Sync(const Files& files, ReconcileReport* report) {
  ASSIGN_OR_RETURN(AtomicFileWriter::SyncResult result,
                   writer_.SyncTree(FileViews(files), ManagedDirs(),
                                    [this](absl::string_view dir, absl::string_view name) {
                                      return Owned(dir, name);
                                    }));
  report->files_written = result.written;
  report->files_removed = result.removed;
  report->outputs_changed = result.changed();
  report->reload_needed = NeedsReload(result.dirs);
  return absl::OkStatus();
}

absl::Status OutputReconciler::DryRunDiff(const Files& files, ReconcileReport* report) {
  const std::string& root = options_.dir;
  std::map<std::string, std::string> on_disk;
  for (const auto& [rel, data] : files) {
    absl::StatusOr<std::string> cur = fs_->ReadFile(absl::StrCat(root, "/", rel));
    if (cur.ok()) {
      on_disk[rel] = *std::move(cur);
    } else if (!absl::IsNotFound(cur.status())) {
      return cur.status();
    }
  }
  std::vector<std::string> stale;
  for (const std::string& dir : ManagedDirs()) {
    absl::StatusOr<std::vector<std::string>> names = fs_->ListDir(absl::StrCat(root, "/", dir));
    if (absl::IsNotFound(names.status())) continue;
    if (!names.ok()) return names.status();
    std::sort(names->begin(), names->end());
    for (const std::string& name : *names) {
      std::string rel = absl::StrCat(dir, "/", name);
      if (files.count(rel) || !Owned(dir, name)) continue;
      absl::StatusOr<std::string> cur = fs_->ReadFile(absl::StrCat(root, "/", rel));
      if (!cur.ok()) continue;
      on_disk[rel] = *std::move(cur);
      stale.push_back(rel);
    }
  }
  std::string diff;
  for (const auto& [rel, data] : files) {
    auto it = on_disk.find(rel);
    std::string d = UnifiedDiff(rel, it == on_disk.end() ? nullptr : &it->second, data.get());
    if (!d.empty()) {
      ++report->files_written;
      diff.append(d);
    }
  }
  for (const std::string& rel : stale) {
    diff.append(UnifiedDiff(rel, &on_disk[rel], nullptr));
    ++report->files_removed;
  }
  report->outputs_changed = !diff.empty();
  report->diff = std::move(diff);
  return absl::OkStatus();
}

}  // namespace promconf
