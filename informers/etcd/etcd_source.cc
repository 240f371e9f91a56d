#include "informers/etcd/etcd_source.h"

#include <exception>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "informers/etcd/etcd_protocol.h"
#include "informers/informer_thread.h"
#include "informers/source_tls.h"
#include "util/dropped.h"
#include "util/file.h"
#include "util/http_client.h"
#include "util/json.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace promconf::etcd {
namespace {

class EtcdSource final : public Source, public EtcdSourceTestHooks {
 public:
  EtcdSource(SourceContext context, EtcdSourceConfig config, EtcdSourceTuning tuning)
      : context_(std::move(context)),
        config_(std::move(config)),
        tuning_(tuning),
        range_end_(EtcdPrefixRangeEnd(config_.prefix)),
        client_(ToTlsOptions(config_.tls)),
        runtime_(context_.name, context_.clock, tuning.backoff,
                 &mu_, [this] { client_.Cancel(); }) {
    for (std::string& e : config_.endpoints) {
      while (absl::EndsWith(e, "/")) e.pop_back();
    }
  }

  ~EtcdSource() override { Stop(); }

  absl::Status Start(SourceCallbacks* callbacks) override {
    return runtime_.Start(callbacks, {[this](InformerContext& ctx) { Run(ctx); }});
  }

  void Stop() override { runtime_.StopAndJoin(); }

  absl::Duration progress_deadline() const override {
    return tuning_.idle_timeout + tuning_.backoff.max + tuning_.request_timeout;
  }

  bool PauseWatchForTesting(absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    held_ = true;
    paused_ = false;
    client_.Cancel();
    return mu_.AwaitWithTimeout(absl::Condition(&paused_), timeout);
  }

  void ResumeWatchForTesting() override {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }

  int64_t AppliedRevisionForTesting() const override {
    absl::MutexLock lock(&mu_);
    return applied_for_testing_;
  }

 private:
  std::string Url(absl::string_view path) const {
    return absl::StrCat(config_.endpoints[endpoint_index_], path);
  }

  HttpRequest NewRequest(absl::string_view path, std::string body) const {
    HttpRequest r;
    r.method = "POST";
    r.url = Url(path);
    r.body = std::move(body);
    r.timeout = tuning_.request_timeout;
    r.connect_timeout = tuning_.connect_timeout;
    r.headers.emplace_back("Content-Type", "application/json");
    if (!token_.empty()) r.headers.emplace_back("Authorization", token_);
    return r;
  }

  // Blocks while a test holds the watch down. False when stopping.
  bool WaitWhileHeld(InformerContext& ctx) {
    absl::MutexLock lock(&mu_);
    if (held_) {
      paused_ = true;
      auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !held_; };
      ctx.Await(&mu_, absl::Condition(&released), absl::InfiniteDuration());
    }
    // Neither a stop's nor a test's Cancel() may be undone: Reset under mu_
    // (held_ is false) and only while not stopping.
    return ctx.RunUnlessStopping([this] { client_.Reset(); });
  }

  bool held() const {
    absl::MutexLock lock(&mu_);
    return held_;
  }

  void Run(InformerContext& ctx) {
    ctx_ = &ctx;
    callbacks_ = &ctx.callbacks();
    int immediate_retries = 0;
    while (WaitWhileHeld(ctx)) {
      bool fresh_token = false;
      watch_established_ = false;
      absl::Status s = RunOnce(&fresh_token);
      if (ctx.stopping()) break;
      // Immediate retries (re-list, re-auth) are bounded per failure streak,
      // not per lifetime.
      if (watch_established_) immediate_retries = 0;
      if (absl::IsCancelled(s) && held()) continue;  // a test cut the watch
      bool retry_now = false;
      if (absl::IsUnauthenticated(s) && !fresh_token && !token_.empty()) {
        // The token expired or the server forgot it (restart with simple
        // tokens): authenticate again at once.
        LOG_INFO("etcd: auth token rejected, re-authenticating",
                 {{"source", context_.name}, {"error", s.message()}});
        token_.clear();
        retry_now = true;
      } else if (absl::IsOutOfRange(s) && need_relist_) {
        LOG_WARN("etcd: watch history compacted, re-listing",
                 {{"source", context_.name}, {"error", s.message()}});
        retry_now = true;
      } else if (absl::IsAborted(s) && need_relist_) {
        LOG_WARN("etcd: server revision went backwards, re-listing",
                 {{"source", context_.name}, {"error", s.message()}});
        retry_now = true;
      }
      if (absl::IsUnauthenticated(s)) token_.clear();
      if (retry_now && ++immediate_retries <= 3) continue;
      immediate_retries = 0;

      LOG_WARN("etcd: source error, retrying",
               {{"source", context_.name}, {"endpoint", config_.endpoints[endpoint_index_]},
                {"error", s.ToString()}});
      callbacks_->OnError(s);
      // Refused, reset or silent (a frozen member): try the next member.
      if ((absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) &&
          config_.endpoints.size() > 1) {
        endpoint_index_ = (endpoint_index_ + 1) % config_.endpoints.size();
      }
      if (!ctx.BackOff()) break;
    }
  }

  // One connection attempt: auth, list if needed, then the watch until it ends.
  absl::Status RunOnce(bool* fresh_token) {
    if (!config_.username.empty() && token_.empty()) {
      RETURN_IF_ERROR(Authenticate());
      *fresh_token = true;
    }
    if (need_relist_) {
      RETURN_IF_ERROR(ListGuarded());
      need_relist_ = false;
    }
    return Watch();
  }

  absl::Status Authenticate() {
    ASSIGN_OR_RETURN(std::string password,
                     ReadSmallFile(config_.password_file, "password_file", "etcd: "));
    absl::StripTrailingAsciiWhitespace(&password);
    HttpRequest req = NewRequest("/v3/auth/authenticate",
                                 EtcdAuthRequestBody(config_.username, password));
    ASSIGN_OR_RETURN(HttpResponse resp, client_.Do(req));
    if (resp.status / 100 != 2) {
      absl::Status s = EtcdErrorStatus(resp.status, resp.body, "etcd authenticate");
      // Bad credentials are not a token problem: do not loop re-authenticating.
      return absl::IsUnauthenticated(s) ? absl::PermissionDeniedError(s.message()) : s;
    }
    ASSIGN_OR_RETURN(token_, ParseEtcdAuthResponse(resp.body));
    return absl::OkStatus();
  }

  Document MakeDocument(EtcdKeyValue kv) const {
    Document d;
    d.name = kv.key.substr(config_.prefix.size());
    d.origin = std::move(kv.key);
    if (kv.value.size() > context_.max_document_bytes) {
      d.oversized_bytes = kv.value.size();
    } else {
      d.data = std::move(kv.value);
    }
    return d;
  }

  bool UnderPrefix(const std::string& key) const {
    return key.size() > config_.prefix.size() && absl::StartsWith(key, config_.prefix);
  }

  // A key below the prefix whose name is not a fragment's is dropped here,
  // never stored (tenants could park megabytes under any other name).
  bool IsFragmentKey(const std::string& key) const {
    if (IsFragmentName(absl::string_view(key).substr(config_.prefix.size()))) return true;
    LOG_DEBUG("etcd: not a fragment name; dropped", {{"source", context_.name}, {"key", key}});
    CountDropped(kDroppedNonFragmentDocuments);
    return false;
  }

  // Pages through the prefix at one revision (the first page's) and reports
  // the complete set.
  // List, guarded like HandleWatchObjectGuarded.
  absl::Status ListGuarded() {
    try {
      return List();
    } catch (const std::exception& e) {
      CountDropped(kDroppedResponses);
      return absl::ResourceExhaustedError(absl::StrCat("etcd range: response dropped: ", e.what()));
    }
  }

  absl::Status List() {
    std::vector<Document> docs;
    std::string key = config_.prefix;
    int64_t revision = 0;
    for (;;) {
      HttpRequest req = NewRequest(
          "/v3/kv/range", EtcdRangeRequestBody(key, range_end_, tuning_.page_size, revision));
      ASSIGN_OR_RETURN(HttpResponse resp, client_.Do(req));
      if (resp.status / 100 != 2) {
        absl::Status s = EtcdErrorStatus(resp.status, resp.body, "etcd range");
        if (absl::IsOutOfRange(s)) need_relist_ = true;  // page revision compacted: start over
        return s;
      }
      ASSIGN_OR_RETURN(EtcdRangeResponse page, ParseEtcdRangeResponse(resp.body));
      if (revision == 0) {
        revision = page.header_revision;
        if (tracker_.IsRegression(revision)) {
          LOG_WARN("etcd: server is at a lower revision than seen before (restored or wiped)",
                   {{"source", context_.name}, {"revision", revision},
                    {"seen", tracker_.highest_seen()}});
        }
      }
      for (EtcdKeyValue& kv : page.kvs) {
        if (!UnderPrefix(kv.key)) continue;
        key = kv.key;
        if (IsFragmentKey(kv.key)) docs.push_back(MakeDocument(std::move(kv)));
      }
      if (!page.more || page.kvs.empty()) break;
      key.push_back('\0');
    }
    LOG_INFO("etcd: listed prefix", {{"source", context_.name}, {"prefix", config_.prefix},
                                     {"documents", docs.size()}, {"revision", revision}});
    callbacks_->OnSnapshot("", std::move(docs));
    tracker_.ObserveSnapshot(revision);
    PublishApplied();
    return absl::OkStatus();
  }

  void PublishApplied() {
    absl::MutexLock lock(&mu_);
    applied_for_testing_ = tracker_.applied();
  }

  absl::Status Watch() {
    const int64_t start = tracker_.WatchStartRevision();
    HttpRequest req = NewRequest("/v3/watch", EtcdWatchRequestBody(config_.prefix, range_end_, start));
    req.timeout = absl::ZeroDuration();
    req.idle_timeout = tuning_.idle_timeout;
    WatchStreamDecoder decoder;
    std::vector<std::string> objects;
    absl::Status stream_status;
    auto on_data = [&](absl::string_view chunk) {
      objects.clear();
      stream_status = decoder.Feed(chunk, &objects);
      if (!stream_status.ok()) return false;
      for (const std::string& object : objects) {
        stream_status = HandleWatchObjectGuarded(object);
        if (!stream_status.ok()) return false;
      }
      return true;
    };
    absl::StatusOr<HttpResponse> resp = client_.Stream(req, on_data);
    if (!stream_status.ok()) return stream_status;
    if (!resp.ok()) {
      if (absl::IsDeadlineExceeded(resp.status())) {
        return absl::DeadlineExceededError(absl::StrCat(
            "etcd watch stalled (no data, not even a progress notification, for ",
            absl::FormatDuration(tuning_.idle_timeout), "): ", resp.status().message()));
      }
      return resp.status();
    }
    if (resp->status / 100 != 2) return EtcdErrorStatus(resp->status, resp->body, "etcd watch");
    return absl::UnavailableError(absl::StrCat("etcd watch stream ended by ", req.url));
  }

  // HandleWatchObject, with any exception (std::bad_alloc) from one
  // response failing that response only (the watch resumes from the last
  // applied revision): logged by the caller, counted here.
  absl::Status HandleWatchObjectGuarded(const std::string& object) {
    try {
      return HandleWatchObject(object);
    } catch (const std::exception& e) {
      CountDropped(kDroppedResponses);
      return absl::ResourceExhaustedError(absl::StrCat("etcd watch: response dropped: ", e.what()));
    }
  }

  absl::Status HandleWatchObject(const std::string& object) {
    ASSIGN_OR_RETURN(EtcdWatchResponse w, ParseEtcdWatchResponse(object));
    if (w.is_error) {
      std::string body = absl::StrCat("{\"error\":", JsonString(w.error.message),
                                      ",\"code\":", w.error.grpc_code, "}");
      absl::Status s = EtcdErrorStatus(200, body, "etcd watch");
      if (absl::IsOutOfRange(s)) need_relist_ = true;
      return s;
    }
    if (tracker_.IsRegression(w.header_revision)) {
      need_relist_ = true;
      return absl::AbortedError(absl::StrCat("etcd watch: server revision ", w.header_revision,
                                             " is below the ", tracker_.highest_seen(),
                                             " seen before"));
    }
    tracker_.ObserveHeader(w.header_revision);
    if (w.compact_revision > 0 ||
        (w.canceled && absl::StrContains(w.cancel_reason, "compact"))) {
      need_relist_ = true;
      return absl::OutOfRangeError(absl::StrCat("etcd watch from revision ",
                                                tracker_.WatchStartRevision(),
                                                ": history compacted at ", w.compact_revision));
    }
    if (w.canceled) {
      // etcd cancels a watch created with an expired token with the reason
      // "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token".
      const std::string msg = absl::StrCat("etcd watch canceled: ", w.cancel_reason);
      if (absl::StrContains(w.cancel_reason, "Unauthenticated") ||
          absl::StrContains(w.cancel_reason, "auth token")) {
        return absl::UnauthenticatedError(msg);
      }
      if (absl::StrContains(w.cancel_reason, "permission denied")) {
        return absl::PermissionDeniedError(msg);
      }
      return absl::UnavailableError(msg);
    }
    if (w.created) {
      watch_established_ = true;
      ctx_->ResetBackoff();
      callbacks_->OnProgress();
      return absl::OkStatus();
    }
    if (w.IsProgressNotify()) {
      tracker_.ObserveProgress(w.header_revision);
      PublishApplied();
      callbacks_->OnProgress();
      return absl::OkStatus();
    }
    int64_t max_rev = 0;
    for (EtcdEvent& ev : w.events) {
      // Events are in revision order; a reconnect may replay what was applied.
      if (!tracker_.IsNew(ev.kv.mod_revision)) continue;
      max_rev = std::max(max_rev, ev.kv.mod_revision);
      if (!UnderPrefix(ev.kv.key)) continue;
      if (ev.is_delete) {
        if (!IsFragmentName(absl::string_view(ev.kv.key).substr(config_.prefix.size()))) continue;
        callbacks_->OnDelete(absl::string_view(ev.kv.key).substr(config_.prefix.size()));
      } else if (IsFragmentKey(ev.kv.key)) {
        callbacks_->OnUpsert(MakeDocument(std::move(ev.kv)));
      }
    }
    if (max_rev > 0) {
      tracker_.ObserveEventApplied(max_rev);
      PublishApplied();
    }
    return absl::OkStatus();
  }

  // Constant after construction.
  const SourceContext context_;
  EtcdSourceConfig config_;
  const EtcdSourceTuning tuning_;
  const std::string range_end_;

  mutable absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  int64_t applied_for_testing_ ABSL_GUARDED_BY(mu_) = 0;

  // Informer thread only (Cancel/Reset are the thread-safe exceptions).
  InformerContext* ctx_ = nullptr;
  SourceCallbacks* callbacks_ = nullptr;  // ctx_->callbacks(): serialised
  HttpClient client_;
  EtcdRevisionTracker tracker_;
  std::string token_;
  size_t endpoint_index_ = 0;
  bool need_relist_ = true;
  bool watch_established_ = false;

  // Last: destroyed (stopped and joined) before everything its loop uses.
  InformerThread runtime_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Source>> NewEtcdSource(const SourceContext& context,
                                                      const EtcdSourceConfig& config,
                                                      EtcdSourceTuning tuning) {
  if (config.endpoints.empty()) return InvalidSourceConfig("etcd", context, "endpoints is empty");
  for (const std::string& e : config.endpoints) {
    if (!absl::StartsWith(e, "http://") && !absl::StartsWith(e, "https://")) {
      return InvalidSourceConfig(
          "etcd", context, absl::StrCat("endpoint \"", e, "\" must start with http:// or https://"));
    }
  }
  if (!config.username.empty() && config.password_file.empty()) {
    return InvalidSourceConfig("etcd", context, "username needs password_file");
  }
  for (const std::string* f : {&config.password_file, &config.tls.ca_file, &config.tls.cert_file,
                               &config.tls.key_file}) {
    if (f->empty()) continue;
    auto content = ReadSmallFile(*f, "file", "etcd: ");
    if (!content.ok()) return InvalidSourceConfig("etcd", context, content.status().message());
  }
  if (tuning.page_size <= 0) tuning.page_size = 500;
  if (tuning.backoff.initial <= absl::ZeroDuration()) tuning.backoff.initial = absl::Milliseconds(500);
  if (tuning.backoff.max < tuning.backoff.initial) tuning.backoff.max = tuning.backoff.initial;
  if (context.clock == nullptr) return InvalidSourceConfig("etcd", context, "no clock");
  return std::unique_ptr<Source>(new EtcdSource(context, config, tuning));
}

}  // namespace promconf::etcd
