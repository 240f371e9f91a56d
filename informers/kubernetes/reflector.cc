#include "informers/kubernetes/reflector.h"

#include <algorithm>
#include <cstdlib>

#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "util/dropped.h"
#include "util/http_client.h"
#include "util/log.h"

namespace promconf::kube {

const char* KubeResourceName(KubeResource r) {
  return r == KubeResource::kSecrets ? "secrets" : "configmaps";
}

std::string KubeResourcePath(absl::string_view ns, KubeResource resource) {
  if (ns.empty()) return absl::StrCat("/api/v1/", KubeResourceName(resource));
  return absl::StrCat("/api/v1/namespaces/", UrlEncode(ns), "/", KubeResourceName(resource));
}

std::string KubeListQuery(absl::string_view label_selector, int limit,
                          absl::string_view resource_version, absl::string_view continue_token) {
  std::string q;
  if (!label_selector.empty()) absl::StrAppend(&q, "labelSelector=", UrlEncode(label_selector), "&");
  absl::StrAppend(&q, "limit=", limit);
  if (!resource_version.empty()) {
    absl::StrAppend(&q, "&resourceVersion=", UrlEncode(resource_version));
  }
  if (!continue_token.empty()) absl::StrAppend(&q, "&continue=", UrlEncode(continue_token));
  return q;
}

std::string KubeWatchQuery(absl::string_view label_selector, absl::string_view resource_version,
                           int64_t timeout_seconds) {
  std::string q = "watch=1";
  if (!label_selector.empty()) absl::StrAppend(&q, "&labelSelector=", UrlEncode(label_selector));
  absl::StrAppend(&q, "&resourceVersion=", UrlEncode(resource_version),
                  "&allowWatchBookmarks=true&timeoutSeconds=", timeout_seconds);
  return q;
}

std::string KubeDocumentName(KubeResource r, absl::string_view ns, absl::string_view name,
                             absl::string_view key) {
  return absl::StrCat(ns, "/", r == KubeResource::kSecrets ? "secret:" : "", name, "/", key);
}

Reflector::Reflector(Options options, const KubernetesSourceTuning& tuning,
                     std::shared_ptr<KubeCredentials> credentials, ReflectorSink* sink,
                     Clock* clock, absl::Notification* stop, uint64_t seed)
    : options_(std::move(options)),
      tuning_(tuning),
      path_(KubeResourcePath(options_.namespace_, options_.resource)),
      sink_(sink),
      clock_(clock),
      stop_(stop),
      client_(std::move(credentials)),
      backoff_(tuning.backoff, seed),
      rng_(seed ^ 0x9e3779b97f4a7c15ULL) {}

void Reflector::Sleep(absl::Duration d) {
  if (d > absl::ZeroDuration()) clock_->WaitForNotification(stop_, d);
}

std::string Reflector::ObjectId(const KubeObject& object) const {
  return absl::StrCat(object.namespace_, "/", object.name);
}

void Reflector::ObjectDocs(const KubeObject& object, std::vector<Document>* docs,
                           KeyHashes* hashes) const {
  const bool secret = options_.resource == KubeResource::kSecrets;
  const char* kind = secret ? "secret" : "configmap";
  auto add = [&](const std::string& key, std::string value) {
    // Not a fragment's name: dropped here, never stored.
    if (!options_.keep_every_document && !IsFragmentName(key)) {
      CountDropped(kDroppedNonFragmentDocuments);
      return;
    }
    hashes->emplace_back(key, absl::Hash<absl::string_view>{}(value));
    Document d;
    d.name = KubeDocumentName(options_.resource, object.namespace_, object.name, key);
    // No origin: the name says it ("<ns>/<configmap>/<key>", secrets
    // "<ns>/secret:<name>/<key>"), and 30,000 copies of it add up.
    if (value.size() > options_.max_document_bytes) {
      d.oversized_bytes = value.size();
    } else {
      d.data = std::move(value);
    }
    docs->push_back(std::move(d));
  };
  auto decode = [&](const std::string& key, const std::string& b64) {
    std::string raw;
    if (!absl::Base64Unescape(b64, &raw)) {
      LOG_WARN("kubernetes: skipping a key whose value is not valid base64",
               {{"source", options_.source_name},
                {"object", absl::StrCat(kind, " ", object.namespace_, "/", object.name)},
                {"key", key}});
      return;
    }
    add(key, std::move(raw));
  };
  for (const auto& [key, value] : object.data) {
    if (secret) {
      decode(key, value);
    } else {
      add(key, value);
    }
  }
  if (!secret) {
    for (const auto& [key, value] : object.binary_data) decode(key, value);
  }
  std::sort(hashes->begin(), hashes->end());
}

Reflector::Outcome Reflector::FromResponse(const HttpResponse& response, const std::string& url,
                                           bool watch) {
  Outcome o;
  const std::string what = absl::StrCat("kubernetes source \"", options_.source_name, "\": ",
                                        watch ? "watch " : "list ", url, ": ",
                                        DescribeHttpError(response));
  const long code = response.status;
  if (code == 410) {
    o.kind = Outcome::kGone;
    return o;
  }
  if (code == 401 || code == 403) {
    o.kind = watch ? Outcome::kRewatch : Outcome::kRelist;
    o.min_delay = tuning_.auth_retry;
    o.error = code == 401
                  ? absl::UnauthenticatedError(
                        absl::StrCat(what, " (the token or client certificate was rejected)"))
                  : absl::PermissionDeniedError(absl::StrCat(
                        what, " (the service account needs get, list and watch on ",
                        KubeResourceName(options_.resource), ")"));
    return o;
  }
  if (code == 429) {
    o.kind = watch ? Outcome::kRewatch : Outcome::kRelist;
    int64_t seconds = 0;
    if (absl::SimpleAtoi(response.Header("retry-after"), &seconds) && seconds > 0) {
      o.min_delay = absl::Seconds(std::min<int64_t>(seconds, 600));
    }
    o.error = absl::ResourceExhaustedError(what);
    return o;
  }
  o.kind = Outcome::kRelist;
  o.error = absl::UnavailableError(what);
  return o;
}

Reflector::Outcome Reflector::List(bool consistent) {
  std::vector<Document> docs;
  absl::flat_hash_map<std::string, KeyHashes> objects;
  std::string continue_token;
  std::string rv;
  int restarts = 0;
  KubeList page;
  while (true) {
    if (stopping()) return {Outcome::kStopped};
    const std::string query =
        KubeListQuery(options_.label_selector, tuning_.list_limit,
                      continue_token.empty() && !consistent ? "0" : "", continue_token);
    const std::string path = absl::StrCat(path_, "?", query);
    auto response = client_.Get(path, tuning_.list_timeout);
    if (!response.ok()) {
      if (stopping()) return {Outcome::kStopped};
      return {Outcome::kRelist,
              absl::Status(response.status().code(),
                           absl::StrCat("kubernetes source \"", options_.source_name,
                                        "\": list: ", response.status().message()))};
    }
    if (response->status == 410 && !continue_token.empty() && restarts < 3) {
      // The continue token expired (~5 min): start over with a consistent read.
      ++restarts;
      continue_token.clear();
      consistent = true;
      docs.clear();
      objects.clear();
      continue;
    }
    if (response->status != 200) return FromResponse(*response, client_.Url(path), false);
    absl::Status s = parser_.ParseList(response->body, &page);
    if (!s.ok()) {
      return {Outcome::kRelist,
              absl::DataLossError(absl::StrCat("kubernetes source \"", options_.source_name,
                                               "\": list ", client_.Url(path), ": ",
                                               s.message()))};
    }
    response->body.clear();
    response->body.shrink_to_fit();
    for (const KubeObject& object : page.items) {
      KeyHashes hashes;
      ObjectDocs(object, &docs, &hashes);
      objects[ObjectId(object)] = std::move(hashes);
    }
    if (rv.empty() || continue_token.empty()) rv = page.resource_version;
    continue_token = page.continue_token;
    if (continue_token.empty()) break;
  }
  page = KubeList();
  parser_.ReleaseMemory();

  // What changed against the previous state (a re-list in a namespace whose
  // snapshot this resource does not own alone is reported as changes).
  std::vector<size_t> changed;
  std::vector<std::string> removed;
  if (objects_.empty()) {
    changed.reserve(docs.size());
    for (size_t j = 0; j < docs.size(); ++j) changed.push_back(j);
  } else {
    auto doc_hashes = [&](const absl::flat_hash_map<std::string, KeyHashes>& state) {
      absl::flat_hash_map<std::string, uint64_t> out;
      for (const auto& [id, hashes] : state) {
        const size_t slash = id.find('/');
        const absl::string_view ns = absl::string_view(id).substr(0, slash);
        const absl::string_view name = absl::string_view(id).substr(slash + 1);
        for (const auto& [key, hash] : hashes) {
          out[KubeDocumentName(options_.resource, ns, name, key)] = hash;
        }
      }
      return out;
    };
    const auto before = doc_hashes(objects_);
    const auto after = doc_hashes(objects);
    for (size_t j = 0; j < docs.size(); ++j) {
      auto was = before.find(docs[j].name);
      auto now = after.find(docs[j].name);
      if (was == before.end() || now == after.end() || was->second != now->second) {
        changed.push_back(j);
      }
    }
    for (const auto& [name, hash] : before) {
      (void)hash;
      if (!after.contains(name)) removed.push_back(name);
    }
  }
  objects_ = std::move(objects);
  rv_ = rv;
  sink_->OnListed(options_.group, options_.member, std::move(docs), changed, std::move(removed));
  return {Outcome::kOk};
}

absl::Status Reflector::HandleEvent(absl::string_view json) {
  absl::Status s = parser_.ParseWatchEvent(json, &event_);
  if (!s.ok()) return s;
  KubeObject& object = event_.object;
  switch (event_.type) {
    case WatchEventType::kBookmark:
      if (!object.resource_version.empty()) rv_ = object.resource_version;
      sink_->OnProgress(options_.group);
      return absl::OkStatus();
    case WatchEventType::kError:
      if (object.code == 410 || object.reason == "Expired" || object.reason == "Gone") {
        stream_verdict_ = {Outcome::kGone};
      } else {
        stream_verdict_ = {Outcome::kRewatch,
                           absl::UnavailableError(absl::StrCat(
                               "kubernetes source \"", options_.source_name, "\": watch ",
                               client_.Url(path_), ": ERROR event: code ", object.code, " ",
                               object.reason, ": ", object.message))};
      }
      stream_stopped_ = true;
      return absl::CancelledError("ERROR event");
    case WatchEventType::kAdded:
    case WatchEventType::kModified:
    case WatchEventType::kDeleted:
      break;
  }
  ++stream_events_;
  if (!object.resource_version.empty()) rv_ = object.resource_version;
  const std::string id = ObjectId(object);
  std::vector<Document> upserts;
  std::vector<std::string> deletes;
  KeyHashes after;
  if (event_.type != WatchEventType::kDeleted) ObjectDocs(object, &upserts, &after);
  auto it = objects_.find(id);
  if (it != objects_.end()) {
    const KeyHashes& before = it->second;
    // Both sorted by key: drop unchanged upserts, delete vanished keys.
    for (const auto& [key, hash] : before) {
      auto pos = std::lower_bound(after.begin(), after.end(), std::make_pair(key, uint64_t{0}));
      if (pos == after.end() || pos->first != key) {
        deletes.push_back(KubeDocumentName(options_.resource, object.namespace_, object.name, key));
      } else if (pos->second == hash) {
        const std::string name =
            KubeDocumentName(options_.resource, object.namespace_, object.name, key);
        upserts.erase(std::remove_if(upserts.begin(), upserts.end(),
                                     [&](const Document& d) { return d.name == name; }),
                      upserts.end());
      }
    }
  }
  if (event_.type == WatchEventType::kDeleted) {
    if (it != objects_.end()) objects_.erase(it);
  } else {
    objects_[id] = std::move(after);
  }
  if (!upserts.empty() || !deletes.empty()) {
    sink_->OnChanges(options_.group, options_.member, std::move(upserts), std::move(deletes));
  } else {
    sink_->OnProgress(options_.group);
  }
  return absl::OkStatus();
}

Reflector::Outcome Reflector::Watch() {
  const int64_t lo = absl::ToInt64Seconds(tuning_.watch_timeout_min);
  const int64_t hi = std::max(lo + 1, absl::ToInt64Seconds(tuning_.watch_timeout_max));
  const int64_t timeout_seconds = std::uniform_int_distribution<int64_t>(lo, hi - 1)(rng_);
  const std::string path =
      absl::StrCat(path_, "?", KubeWatchQuery(options_.label_selector, rv_, timeout_seconds));
  decoder_.Reset();
  stream_stopped_ = false;
  stream_events_ = 0;
  stream_verdict_ = Outcome();
  auto on_data = [&](absl::string_view chunk) {
    absl::Status s = decoder_.Feed(chunk, [&](absl::string_view json) { return HandleEvent(json); });
    if (s.ok()) return true;
    if (!stream_stopped_) {
      stream_stopped_ = true;
      stream_verdict_ = {Outcome::kRewatch,
                         absl::DataLossError(absl::StrCat(
                             "kubernetes source \"", options_.source_name, "\": watch ",
                             client_.Url(path), ": ", s.message()))};
    }
    return false;
  };
  auto response = client_.Stream(path, tuning_.idle_timeout,
                                 absl::Seconds(timeout_seconds) + tuning_.idle_timeout, on_data);
  if (stopping()) return {Outcome::kStopped};
  if (stream_stopped_) return stream_verdict_;
  if (!response.ok()) {
    if (absl::IsDeadlineExceeded(response.status())) {
      // A connection that died without a FIN: reconnect from rv_.
      return {Outcome::kRewatch,
              absl::DeadlineExceededError(absl::StrCat("kubernetes source \"",
                                                       options_.source_name, "\": ",
                                                       response.status().message()))};
    }
    return {Outcome::kRelist,
            absl::Status(response.status().code(),
                         absl::StrCat("kubernetes source \"", options_.source_name, "\": watch: ",
                                      response.status().message()))};
  }
  if (response->status >= 200 && response->status < 300) return {Outcome::kEnded};
  return FromResponse(*response, client_.Url(path), true);
}

void Reflector::Run() {
  bool need_list = true;
  bool consistent = false;  // the first list may come from the apiserver's cache
  bool last_gone = false;
  while (!stopping()) {
    Outcome o;
    if (need_list) {
      o = List(consistent);
      consistent = true;  // every later list is a consistent read
      if (o.kind == Outcome::kOk) {
        need_list = false;
        last_gone = false;
        continue;
      }
    } else {
      const absl::Time start = clock_->Now();
      o = Watch();
      if (o.kind == Outcome::kEnded) {
        // The server's timeoutSeconds, or a dropped connection closed
        // cleanly: resume from rv_. Back off only when watches keep ending
        // at once without news (a server that refuses to hold them).
        if (stream_events_ == 0 && clock_->Now() - start < absl::Seconds(1)) {
          Sleep(backoff_.Next(clock_->Now()));
        }
        continue;
      }
      if (o.kind == Outcome::kGone) {
        LOG_INFO("kubernetes: resourceVersion too old, re-listing",
                 {{"source", options_.source_name}, {"path", path_}, {"resource_version", rv_}});
        need_list = true;
        if (last_gone && stream_events_ == 0) Sleep(backoff_.Next(clock_->Now()));
        last_gone = true;
        continue;
      }
    }
    if (o.kind == Outcome::kStopped) break;
    if (o.kind == Outcome::kGone) {  // a list answered 410
      need_list = true;
      Sleep(backoff_.Next(clock_->Now()));
      continue;
    }
    last_gone = false;
    if (o.kind == Outcome::kRelist) need_list = true;
    LOG_WARN("kubernetes: list/watch failed, retrying",
             {{"source", options_.source_name}, {"error", o.error.ToString()}});
    sink_->OnError(o.error);
    Sleep(std::max(backoff_.Next(clock_->Now()), o.min_delay));
  }
}

}  // namespace promconf::kube
