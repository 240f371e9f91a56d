#include "informers/consul/consul_source.h"

#include <exception>
#include <map>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "informers/consul/consul_protocol.h"
#include "informers/informer_thread.h"
#include "informers/source_tls.h"
#include "util/dropped.h"
#include "util/file.h"
#include "util/http_client.h"
#include "util/log.h"

namespace promconf::consul {
namespace {

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  absl::StatusOr<std::string> token = ReadSmallFile(path, "token_file", "consul: ");
  if (token.ok()) absl::StripAsciiWhitespace(&*token);
  return token;
}

// Percent-encodes each segment of a KV key, keeping the slashes.
std::string EscapePath(absl::string_view path) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) parts.push_back(UrlEncode(part));
  return absl::StrJoin(parts, "/");
}

// One blocking-query loop's fixed part.
struct Dependency {
  std::string what;  // "kv promconf/", "service api": logs and errors
  std::string path;  // "/v1/kv/promconf/", "/v1/health/service/api"
  std::vector<std::pair<std::string, std::string>> params;
  const ConsulServiceConfig* service = nullptr;  // null: the KV prefix
};

class ConsulSource final : public Source {
 public:
  ConsulSource(SourceContext context, ConsulSourceConfig config, ConsulSourceTuning tuning)
      : context_(std::move(context)),
        config_(std::move(config)),
        tuning_(tuning),
        runtime_(context_.name, context_.clock, tuning.backoff,
                 nullptr, [this] {
                   for (auto& c : clients_) c->Cancel();
                 }) {
    while (absl::EndsWith(config_.address, "/")) config_.address.pop_back();
    const std::string dc = config_.datacenter;
    if (!config_.kv_prefix.empty()) {
      deps_.push_back({absl::StrCat("kv ", config_.kv_prefix),
                       absl::StrCat("/v1/kv/", EscapePath(config_.kv_prefix)),
                       {{"recurse", "true"}, {"dc", dc}},
                       nullptr});
    }
    for (const ConsulServiceConfig& s : config_.services) {
      Dependency d{absl::StrCat("service ", s.name),
                   absl::StrCat("/v1/health/service/", UrlEncode(s.name)),
                   {{"dc", dc}},
                   &s};
      if (s.passing_only) d.params.emplace_back("passing", "true");
      for (const std::string& tag : s.tags) d.params.emplace_back("tag", tag);
      deps_.push_back(std::move(d));
    }
    synced_.assign(deps_.size(), false);
    for (size_t i = 0; i < deps_.size(); ++i) {
      clients_.push_back(std::make_unique<HttpClient>(ToTlsOptions(config_.tls)));
    }
  }

  ~ConsulSource() override { Stop(); }

  absl::Status Start(SourceCallbacks* callbacks) override {
    if (!config_.token_file.empty()) {
      absl::StatusOr<std::string> token = ReadToken(config_.token_file);
      if (!token.ok()) return token.status();
      absl::MutexLock lock(&token_mu_);
      token_ = *std::move(token);
      token_read_ = context_.clock->Now();
    }
    std::vector<InformerThread::Loop> loops;
    for (size_t i = 0; i < deps_.size(); ++i) {
      loops.push_back([this, i](InformerContext& ctx) { Run(i, ctx); });
    }
    return runtime_.Start(callbacks, std::move(loops));
  }

  void Stop() override { runtime_.StopAndJoin(); }

  absl::Duration progress_deadline() const override {
    return 2 * (tuning_.wait + tuning_.wait / 16 + tuning_.request_margin) + tuning_.backoff.max;
  }

 private:
  std::string Token() {
    if (config_.token_file.empty()) return "";
    absl::MutexLock lock(&token_mu_);
    const absl::Time now = context_.clock->Now();
    if (now - token_read_ >= tuning_.token_reread) {
      absl::StatusOr<std::string> token = ReadToken(config_.token_file);
      token_read_ = now;
      if (token.ok()) {
        token_ = *std::move(token);
      } else {
        LOG_WARN("consul: keeping the previous token",
                 {{"source", context_.name}, {"error", token.status().message()}});
      }
    }
    return token_;
  }

  // One dependency's loop: blocking query, compare, report; errors back off.
  void Run(size_t i, InformerContext& ctx) {
    const Dependency& dep = deps_[i];
    HttpClient& client = *clients_[i];
    ConsulIndex index;
    absl::Time last_request = absl::InfinitePast();
    Clock* const clock = ctx.clock();
    for (;;) {
      // Rate limit: a server that answers at once (index 0, a reset, a
      // misbehaving proxy) never turns this into a busy loop.
      const absl::Duration since = clock->Now() - last_request;
      if (since < tuning_.min_request_interval && !ctx.Sleep(tuning_.min_request_interval - since)) {
        return;
      }
      if (ctx.stopping()) return;
      last_request = clock->Now();
      HttpRequest req;
      req.url = absl::StrCat(config_.address, dep.path,
                             ConsulQuery(dep.params, index.next(), tuning_.wait));
      req.timeout = tuning_.request_margin +
                    (index.next() > 0 ? tuning_.wait + tuning_.wait / 16 : absl::ZeroDuration());
      req.connect_timeout = tuning_.connect_timeout;
      const std::string token = Token();
      if (!token.empty()) req.headers.emplace_back("X-Consul-Token", token);
      absl::StatusOr<HttpResponse> resp = client.Do(req);
      if (ctx.stopping()) return;
      absl::Status s = resp.ok() ? ApplyGuarded(ctx, i, *resp, &index) : resp.status();
      if (s.ok()) {
        ctx.ResetBackoff();
        continue;
      }
      LOG_WARN("consul: source error, retrying",
               {{"source", context_.name}, {"watch", dep.what}, {"error", s.message()}});
      ctx.callbacks().OnError(s);
      if (!ctx.BackOff()) return;
    }
  }

  // Apply, with any exception (std::bad_alloc) from one response failing
  // that response only: logged by the caller, counted here.
  absl::Status ApplyGuarded(InformerContext& ctx, size_t i, const HttpResponse& resp,
                            ConsulIndex* index) {
    try {
      return Apply(ctx, i, resp, index);
    } catch (const std::exception& e) {
      CountDropped(kDroppedResponses);
      return absl::ResourceExhaustedError(
          absl::StrCat("consul ", deps_[i].what, ": response dropped: ", e.what()));
    }
  }

  // Handles one response of dependency i.
  absl::Status Apply(InformerContext& ctx, size_t i, const HttpResponse& resp,
                     ConsulIndex* index) {
    const Dependency& dep = deps_[i];
    const bool kv = dep.service == nullptr;
    if (resp.status == 403) {
      return absl::PermissionDeniedError(
          absl::StrCat("consul ", dep.what, ": 403 (ACL token missing or not allowed): ",
                       absl::StripAsciiWhitespace(resp.body.substr(0, 200))));
    }
    if (resp.status != 200 && !(kv && resp.status == 404)) {
      return absl::UnavailableError(
          absl::StrCat("consul ", dep.what, ": HTTP ", resp.status, ": ",
                       absl::StripAsciiWhitespace(resp.body.substr(0, 200))));
    }
    // Consul 1.11+ says when an ACL hid part of the answer: applying it
    // would delete the hidden documents (a revoked token would empty the
    // output). Keep what we have and report it.
    if (absl::EqualsIgnoreCase(resp.Header("x-consul-results-filtered-by-acls"), "true")) {
      return absl::PermissionDeniedError(
          absl::StrCat("consul ", dep.what,
                       ": the ACL token may not read everything (results filtered by ACLs); "
                       "keeping the last documents"));
    }
    std::vector<Document> docs;
    if (kv) {
      std::vector<ConsulKeyValue> kvs;
      if (resp.status == 200) {
        absl::StatusOr<std::vector<ConsulKeyValue>> parsed =
            ParseConsulKvList(resp.body, context_.max_document_bytes);
        if (!parsed.ok()) return parsed.status();
        kvs = *std::move(parsed);
      }
      for (ConsulKeyValue& e : kvs) {
        // The prefix itself and "folder" keys are not documents.
        if (e.key.size() <= config_.kv_prefix.size() || absl::EndsWith(e.key, "/") ||
            !absl::StartsWith(e.key, config_.kv_prefix)) {
          continue;
        }
        // Not a fragment's name: dropped here, never stored.
        if (!IsFragmentName(absl::string_view(e.key).substr(config_.kv_prefix.size()))) {
          LOG_DEBUG("consul: not a fragment name; dropped",
                    {{"source", context_.name}, {"key", e.key}});
          CountDropped(kDroppedNonFragmentDocuments);
          continue;
        }
        Document d;
        d.name = e.key.substr(config_.kv_prefix.size());
        d.origin = absl::StrCat("consul kv ", e.key);
        if (e.size > context_.max_document_bytes) {
          d.oversized_bytes = e.size;
        } else {
          d.data = std::move(e.value);
        }
        docs.push_back(std::move(d));
      }
    } else {
      absl::StatusOr<std::vector<ConsulServiceEntry>> entries = ParseConsulHealth(resp.body);
      if (!entries.ok()) return entries.status();
      Document d;
      d.name = dep.path;
      d.job = dep.service->job;
      d.origin = absl::StrCat("consul service ", dep.service->name);
      d.data = ConsulTargetGroups(*std::move(entries), config_.datacenter);
      docs.push_back(std::move(d));
    }
    const bool backwards = index->Observe(resp.Header("x-consul-index"));
    if (backwards) {
      LOG_WARN("consul: index went backwards (snapshot restore or new leader), re-listing",
               {{"source", context_.name}, {"watch", dep.what}});
    }
    ctx.Deliver([&](SourceCallbacks& callbacks) {
      Report(callbacks, i, std::move(docs), backwards);
    });
    return absl::OkStatus();
  }

  // What a reported document was, without keeping its bytes.
  struct Seen {
    uint64_t size;
    size_t hash;
    bool operator==(const Seen&) const = default;
  };
  static Seen SeenOf(const Document& d) {
    return {d.data.size() + d.oversized_bytes, absl::HashOf(d.data, d.oversized_bytes)};
  }

  // Compares dependency i's complete current documents with what was
  // reported and reports the difference (or, before the first snapshot,
  // holds them until every dependency has answered once). After the index
  // went backwards the server's whole state may be another one: the KV
  // prefix is then reported as a re-list, a snapshot of the source.
  // Runs inside the runtime's Deliver: one loop at a time, no lock of ours.
  void Report(SourceCallbacks& callbacks, size_t i, std::vector<Document> docs, bool relist) {
    if (deps_[i].service != nullptr && !docs.empty()) service_docs_[i] = docs.front();
    if (snapshot_sent_ && relist && deps_[i].service == nullptr) {
      std::map<std::string, Seen>& seen = seen_[i];
      seen.clear();
      std::vector<Document> all;
      for (const Document& d : docs) {
        seen.emplace(d.name, SeenOf(d));
        all.push_back(d);
      }
      for (const auto& [dep, d] : service_docs_) all.push_back(d);
      callbacks.OnSnapshot("", std::move(all));
      return;
    }
    std::map<std::string, Seen>& seen = seen_[i];
    std::map<std::string, Seen> now;
    bool changed = false;
    for (const Document& d : docs) {
      const Seen s = SeenOf(d);
      auto it = seen.find(d.name);
      if (snapshot_sent_ && (it == seen.end() || !(it->second == s))) {
        callbacks.OnUpsert(d);
        changed = true;
      }
      now.emplace(d.name, s);
    }
    for (const auto& [name, s] : seen) {
      if (snapshot_sent_ && !now.count(name)) {
        callbacks.OnDelete(name);
        changed = true;
      }
    }
    seen = std::move(now);
    if (snapshot_sent_) {
      if (!changed) callbacks.OnProgress();  // a wake-up without a change
      return;
    }
    pending_[i] = std::move(docs);
    synced_[i] = true;
    for (bool s : synced_) {
      if (!s) return;
    }
    std::vector<Document> all;
    for (auto& [dep, d] : pending_) {
      for (Document& doc : d) all.push_back(std::move(doc));
    }
    pending_.clear();
    snapshot_sent_ = true;
    LOG_INFO("consul: synced", {{"source", context_.name}, {"documents", all.size()}});
    callbacks.OnSnapshot("", std::move(all));
  }

  const SourceContext context_;
  ConsulSourceConfig config_;
  const ConsulSourceTuning tuning_;
  std::vector<Dependency> deps_;  // fixed after construction
  std::vector<std::unique_ptr<HttpClient>> clients_;  // one per dependency; fixed too

  absl::Mutex token_mu_;
  std::string token_ ABSL_GUARDED_BY(token_mu_);
  absl::Time token_read_ ABSL_GUARDED_BY(token_mu_);

  // Report's bookkeeping: touched only inside runtime_.Deliver, which runs
  // one loop's step at a time.
  std::map<size_t, std::map<std::string, Seen>> seen_;
  std::vector<bool> synced_;
  std::map<size_t, std::vector<Document>> pending_;
  bool snapshot_sent_ = false;
  // Each service's last document: part of a KV re-list's snapshot.
  std::map<size_t, Document> service_docs_;

  // Last: stopped and joined before the members its loops use go.
  InformerThread runtime_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Source>> NewConsulSource(const SourceContext& context,
                                                        const ConsulSourceConfig& config,
                                                        ConsulSourceTuning tuning) {
  if (config.kv_prefix.empty() && config.services.empty()) {
    return InvalidSourceConfig("consul", context, "needs kv_prefix or services");
  }
  if (absl::Status s = CheckTlsFiles(config.tls, absl::StrCat("source \"", context.name, "\""),
                                     "consul");
      !s.ok()) {
    return s;
  }
  return std::make_unique<ConsulSource>(context, config, tuning);
}

}  // namespace promconf::consul
