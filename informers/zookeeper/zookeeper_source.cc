#include "informers/zookeeper/zookeeper_source.h"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "informers/informer_thread.h"
#include "informers/zookeeper/digest_auth.h"
#include "informers/zookeeper/serverset.h"
#include "informers/zookeeper/tree_cache.h"
#include "util/dropped.h"
#include "util/log.h"

namespace promconf::zk {
namespace {

// The client library's own log lines (connection attempts, ...): debug
// detail; the source logs what matters itself.
void ClientLogLine(const char* message) {
  absl::string_view line = absl::StripTrailingAsciiWhitespace(message);
  LOG_DEBUG("zookeeper client", {{"line", line}});
}

const char* StateName(int state) {
  if (state == ZOO_CONNECTED_STATE) return "connected";
  if (state == ZOO_CONNECTING_STATE) return "connecting";
  if (state == ZOO_ASSOCIATING_STATE) return "associating";
  if (state == ZOO_EXPIRED_SESSION_STATE) return "expired";
  if (state == ZOO_AUTH_FAILED_STATE) return "auth_failed";
  return "unknown";
}

// A watched path of the config, with what its nodes become.
struct WatchedTree {
  TreeCache cache;
  const ServersetConfig* serverset = nullptr;  // null: fragments
  std::string last_targets;                    // serversets: the data last reported
};

class ZookeeperSource final : public Source, public ZookeeperSourceTestHooks {
 public:
  ZookeeperSource(SourceContext context, ZookeeperSourceConfig config)
      : context_(std::move(context)),
        config_(std::move(config)),
        hosts_(absl::StrJoin(config_.servers, ",")),
        tick_(std::clamp(config_.session_timeout / 3, absl::Milliseconds(100), absl::Seconds(5))),
        runtime_(context_.name, context_.clock,
                 {.initial = absl::Seconds(1), .max = absl::Minutes(1)}, &mu_) {
    for (const std::string& path : config_.paths)
      trees_.push_back({TreeCache(path, -1, /*fragments_only=*/true), nullptr, ""});
    for (const ServersetConfig& set : config_.serversets) {
      trees_.push_back({TreeCache(set.path, 1), &set, ""});
    }
  }

  ~ZookeeperSource() override { Stop(); }

  absl::Status Start(SourceCallbacks* callbacks) override {
    return runtime_.Start(callbacks, {[this](InformerContext& ctx) { Run(ctx); }});
  }

  void Stop() override { runtime_.StopAndJoin(); }

  absl::Duration progress_deadline() const override {
    return 2 * config_.session_timeout + absl::Seconds(5);
  }

  int64_t SessionIdForTesting() const override {
    absl::MutexLock lock(&mu_);
    return session_id_;
  }
  std::string SessionPasswordForTesting() const override {
    absl::MutexLock lock(&mu_);
    return session_password_;
  }
  int SessionsForTesting() const override {
    absl::MutexLock lock(&mu_);
    return sessions_;
  }

 private:
  struct Event {
    zhandle_t* zh;
    int type;
    int state;
    std::string path;
  };

  // The client library's thread: enqueue, nothing else.
  static void Watcher(zhandle_t* zh, int type, int state, const char* path, void* context) {
    auto* self = static_cast<ZookeeperSource*>(context);
    absl::MutexLock lock(&self->mu_);
    self->events_.push_back({zh, type, state, path != nullptr ? path : ""});
  }

  void Run(InformerContext& ctx) {
    ctx_ = &ctx;
    callbacks_ = &ctx.callbacks();
    clock_ = ctx.clock();
    absl::Time last_progress = absl::InfinitePast();
    for (;;) {
      if (zh_ == nullptr && !OpenSession()) {
        if (!ctx.Sleep(tick_ * 3)) break;
        continue;
      }
      auto [batch, stopping] = WaitForEvents(ctx, tick_);
      if (stopping) break;
      for (const Event& e : batch) {
        if (zh_ == nullptr) break;  // closed by an earlier event of this batch
        if (e.zh == zh_) Handle(e);
      }
      if (zh_ == nullptr) continue;
      if (!connected_) {
        ReportIfUnreachable();
        continue;
      }
      if (dirty_ && clock_->Now() >= resync_after_) Resync();
      if (!dirty_ && clock_->Now() - last_progress >= tick_) {
        // Connected means the library's pings are answered: the watches are
        // live even when nothing changes.
        callbacks_->OnProgress();
        last_progress = clock_->Now();
      }
    }
    CloseSession();
  }

  // The library retries a server that never answers without telling the
  // watcher: say so once it has been down for a session timeout.
  void ReportIfUnreachable() {
    const absl::Duration down = clock_->Now() - disconnected_since_;
    if (reported_down_ || down < config_.session_timeout) return;
    reported_down_ = true;
    absl::Status s = absl::UnavailableError(
        absl::StrCat("zookeeper: no connection to any of ", hosts_, " for ",
                     absl::FormatDuration(down)));
    LOG_WARN("zookeeper: source error", {{"source", context_.name}, {"error", s.message()}});
    callbacks_->OnError(s);
  }

  // The events queued so far (waiting up to `timeout`, by the source's
  // clock, for one), and whether the source is stopping.
  std::pair<std::deque<Event>, bool> WaitForEvents(InformerContext& ctx, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !events_.empty(); };
    ctx.Await(&mu_, absl::Condition(&ready), timeout);
    std::deque<Event> batch;
    batch.swap(events_);
    return {std::move(batch), ctx.stopping()};
  }

  bool OpenSession() {
    const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(config_.session_timeout));
    zh_ = zookeeper_init2(hosts_.c_str(), &Watcher, timeout_ms, nullptr, this, 0, &ClientLogLine);
    if (zh_ == nullptr) {
      absl::Status s = absl::UnavailableError(absl::StrCat("zookeeper: cannot create a client for ",
                                                           hosts_, ": ", std::strerror(errno)));
      LOG_WARN("zookeeper: source error, retrying",
               {{"source", context_.name}, {"error", s.message()}});
      callbacks_->OnError(s);
      return false;
    }
    reader_ = std::make_unique<ZnodeReader>(zh_, context_.max_document_bytes);
    connected_ = false;
    disconnected_since_ = clock_->Now();
    dirty_ = true;
    absl::MutexLock lock(&mu_);
    ++sessions_;
    return true;
  }

  void CloseSession() {
    if (zh_ == nullptr) return;
    zookeeper_close(zh_);  // joins the library's threads: no callback after it
    zh_ = nullptr;
    reader_.reset();
    connected_ = false;
    absl::MutexLock lock(&mu_);
    // The next handle may reuse the address: drop the old handle's events.
    events_.clear();
    session_id_ = 0;
    session_password_.clear();
  }

  void Handle(const Event& e) {
    if (e.type != ZOO_SESSION_EVENT) {
      if (dirty_) return;  // the coming Resync reads everything
      absl::Status s = ApplyNodeEvent(e.type, e.path);
      if (!s.ok()) {
        LOG_WARN("zookeeper: read failed, reading every path again once connected",
                 {{"source", context_.name}, {"path", e.path}, {"error", s.message()}});
        dirty_ = true;
      }
      return;
    }
    if (e.state == ZOO_CONNECTED_STATE) {
      const bool was_connected = connected_;
      connected_ = true;
      reported_down_ = false;
      const clientid_t* id = zoo_client_id(zh_);
      {
        absl::MutexLock lock(&mu_);
        session_id_ = id->client_id;
        session_password_.assign(id->passwd, sizeof(id->passwd));
      }
      ApplyAuth();
      if (!dirty_ && !was_connected) {
        // The session survived: its watches did too, and the server fires
        // those whose nodes changed while we were away.
        LOG_INFO("zookeeper: reconnected, session kept", {{"source", context_.name}});
        callbacks_->OnProgress();
      }
      return;
    }
    absl::Status s;
    if (e.state == ZOO_EXPIRED_SESSION_STATE) {
      s = absl::UnavailableError(absl::StrCat(
          "zookeeper ", hosts_, ": session expired; every watch is gone, opening a new session"));
    } else if (e.state == ZOO_AUTH_FAILED_STATE) {
      s = absl::PermissionDeniedError(
          absl::StrCat("zookeeper ", hosts_, ": authentication failed"));
    } else if (connected_) {
      s = absl::UnavailableError(absl::StrCat("zookeeper ", hosts_, ": connection lost (",
                                              StateName(e.state),
                                              "); waiting for the session to reconnect"));
    }
    if (connected_) disconnected_since_ = clock_->Now();
    connected_ = false;
    if (s.ok()) return;
    reported_down_ = true;
    LOG_WARN("zookeeper: source error", {{"source", context_.name}, {"error", s.message()}});
    callbacks_->OnError(s);
    if (e.state == ZOO_EXPIRED_SESSION_STATE || e.state == ZOO_AUTH_FAILED_STATE) CloseSession();
  }

  // auth_file's credential on the handle, re-read at every (re)connect.
  void ApplyAuth() {
    absl::Status s = auth_.Apply(zh_);
    if (s.ok()) return;
    LOG_WARN("zookeeper: source error", {{"source", context_.name}, {"error", s.message()}});
    callbacks_->OnError(s);
  }

  // Reads every tree again and reports the complete set.
  void Resync() {
    for (WatchedTree& t : trees_) {
      absl::Status s = t.cache.Load(*reader_);
      if (!s.ok()) {
        // A lost connection is read again once connected. Anything else
        // (ZNOAUTH, a marshalling error) would fail the same way at every
        // tick: back off. Each failure is an OnError, counted as
        // promconf_source_events_total{event="error"}.
        const absl::Duration retry = absl::IsUnavailable(s)
                                         ? absl::ZeroDuration()
                                         : ctx_->NextBackoff();
        resync_after_ = clock_->Now() + retry;
        LOG_WARN("zookeeper: reading the tree failed, retrying",
                 {{"source", context_.name},
                  {"path", t.cache.root()},
                  {"error", s.message()},
                  {"retry_in", absl::FormatDuration(retry)}});
        callbacks_->OnError(s);
        return;  // still dirty
      }
    }
    ctx_->ResetBackoff();
    dirty_ = false;
    std::map<std::string, Document> fragments;
    for (const WatchedTree& t : trees_) {
      if (t.serverset != nullptr) continue;
      for (const auto& [path, node] : t.cache.nodes()) {
        if (path == t.cache.root() || node.size <= 0) continue;
        if (!IsFragmentZnode(t, path)) continue;
        Document doc = FragmentDocument(t, path, node);
        fragments.try_emplace(doc.name, std::move(doc));  // first path wins a name
      }
    }
    std::vector<Document> docs;
    reported_.clear();
    for (auto& [name, doc] : fragments) {
      reported_.insert(name);
      docs.push_back(std::move(doc));
    }
    for (WatchedTree& t : trees_) {
      if (t.serverset == nullptr) continue;
      Document doc = TargetsDocument(t);
      t.last_targets = doc.data;
      docs.push_back(std::move(doc));
    }
    LOG_INFO("zookeeper: synced", {{"source", context_.name}, {"documents", docs.size()}});
    callbacks_->OnSnapshot("", std::move(docs));
  }

  absl::Status ApplyNodeEvent(int type, const std::string& path) {
    for (WatchedTree& t : trees_) {
      if (!t.cache.Contains(path)) continue;
      std::vector<std::string> changed;
      absl::Status s = t.cache.Apply(*reader_, type, path, &changed);
      // Report what was read even when a later read failed.
      if (t.serverset != nullptr) {
        if (!changed.empty()) ReportTargets(t);
      } else {
        for (const std::string& p : changed) {
          if (p != t.cache.root()) ReportFragment(std::string(t.cache.Relative(p)));
        }
      }
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  Document FragmentDocument(const WatchedTree& t, const std::string& path,
                            const ZNode& node) const {
    Document doc;
    doc.name = std::string(t.cache.Relative(path));
    doc.origin = absl::StrCat("zookeeper ", path);
    if (static_cast<uint64_t>(node.size) > context_.max_document_bytes) {
      doc.oversized_bytes = node.size;
    } else {
      doc.data = node.data;
    }
    return doc;
  }

  // A znode whose name is not a fragment's: its data was dropped by the
  // tree cache; counted here, never reported.
  bool IsFragmentZnode(const WatchedTree& t, const std::string& path) const {
    if (IsFragmentName(t.cache.Relative(path))) return true;
    LOG_DEBUG("zookeeper: not a fragment name; dropped",
              {{"source", context_.name}, {"path", path}});
    CountDropped(kDroppedNonFragmentDocuments);
    return false;
  }

  // The document `name` is now whatever the first path holding it says.
  void ReportFragment(const std::string& name) {
    if (!IsFragmentName(name)) {
      CountDropped(kDroppedNonFragmentDocuments);
      return;
    }
    for (const WatchedTree& t : trees_) {
      if (t.serverset != nullptr) continue;
      const std::string path =
          t.cache.root() == "/" ? absl::StrCat("/", name) : absl::StrCat(t.cache.root(), "/", name);
      auto it = t.cache.nodes().find(path);
      if (it == t.cache.nodes().end() || it->second.size <= 0) continue;
      reported_.insert(name);
      callbacks_->OnUpsert(FragmentDocument(t, path, it->second));
      return;
    }
    if (reported_.erase(name) > 0) callbacks_->OnDelete(name);
  }

  Document TargetsDocument(const WatchedTree& t) const {
    std::vector<ServersetMember> members;
    for (const auto& [path, node] : t.cache.nodes()) {
      if (path != t.cache.root()) members.push_back({path, node.data});
    }
    const ServersetFormat format =
        t.serverset->format == "nerve" ? ServersetFormat::kNerve : ServersetFormat::kServerset;
    int skipped = 0;
    std::vector<std::string> skipped_paths;
    Document doc;
    doc.name = t.serverset->path;
    doc.job = t.serverset->job;
    doc.origin = absl::StrCat("zookeeper serverset ", t.serverset->path);
    doc.data = ServersetTargetGroups(format, members, &skipped, &skipped_paths);
    if (skipped > 0) {
      // Which znodes to fix; a few suffice (a set may have thousands).
      if (skipped_paths.size() > 5) skipped_paths.resize(5);
      LOG_WARN("zookeeper: serverset members skipped (data does not parse)",
               {{"source", context_.name},
                {"path", t.serverset->path},
                {"skipped", skipped},
                {"members", absl::StrJoin(skipped_paths, ",")}});
      CountDropped(kDroppedMembers, skipped);
    }
    return doc;
  }

  void ReportTargets(WatchedTree& t) {
    Document doc = TargetsDocument(t);
    if (doc.data == t.last_targets) return;
    t.last_targets = doc.data;
    callbacks_->OnUpsert(std::move(doc));
  }

  const SourceContext context_;
  const ZookeeperSourceConfig config_;
  const std::string hosts_;
  const absl::Duration tick_;
  DigestAuth auth_{config_.auth_file};

  // The informer thread's own state.
  InformerContext* ctx_ = nullptr;
  SourceCallbacks* callbacks_ = nullptr;  // the runtime's: serialised
  Clock* clock_ = nullptr;                // the source's (SourceContext::clock)
  std::vector<WatchedTree> trees_;  // config order: paths, then serversets
  zhandle_t* zh_ = nullptr;
  std::unique_ptr<ZnodeReader> reader_;
  bool connected_ = false;
  bool dirty_ = true;  // every tree must be read again
  absl::Time disconnected_since_;
  bool reported_down_ = false;      // OnError sent for the current outage
  std::set<std::string> reported_;  // fragment names the callbacks hold
  // Resync waits until then after a read failure that is not a lost
  // connection (the runtime's backoff: 1 s doubling to 1 min).
  absl::Time resync_after_ = absl::InfinitePast();

  // Guards what the library's thread and the test hooks share with the
  // informer thread; the runtime's wake mutex (Stop ends WaitForEvents).
  mutable absl::Mutex mu_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  int64_t session_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::string session_password_ ABSL_GUARDED_BY(mu_);
  int sessions_ ABSL_GUARDED_BY(mu_) = 0;

  // Last: stopped and joined before the members its loop uses go.
  InformerThread runtime_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Source>> NewZookeeperSource(const SourceContext& context,
                                                           const ZookeeperSourceConfig& config) {
  if (config.servers.empty()) return InvalidSourceConfig("zookeeper", context, "no servers");
  if (!config.auth_file.empty()) {  // a missing or malformed file is a config error
    absl::Status s = ReadDigestCredential(config.auth_file).status();
    if (!s.ok()) return InvalidSourceConfig("zookeeper", context, s.message());
  }
  // The library logs to stderr at INFO otherwise; lines reach ClientLogLine.
  zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
  return std::make_unique<ZookeeperSource>(context, config);
}

}  // namespace promconf::zk
