#include "informers/kubernetes/configmap_publisher.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "informers/json_members.h"
#include "informers/kubernetes/object_json.h"
#include "rapidjson/document.h"
#include "util/log.h"

namespace promconf::kube {
namespace {

constexpr int kMaxAttempts = 6;
constexpr absl::Duration kConflictBackoff = absl::Milliseconds(50);

struct Existing {
  std::string resource_version;
  std::map<std::string, std::string> data;
  std::map<std::string, std::string> labels;
  bool has_binary_data = false;
};

std::string ConfigMapJson(const std::string& ns, const PublishedConfigMap& cm,
                          const std::map<std::string, std::string>& labels,
                          const std::string& resource_version) {
  ObjectJsonWriter w("v1", "ConfigMap", cm.name, ns, resource_version);
  w.StringMap("labels", labels);
  w.EndMetadata();
  w.StringMap("data", cm.data);
  return w.Finish();
}

}  // namespace

ConfigMapPublisher::ConfigMapPublisher(std::unique_ptr<KubeClient> client, std::string ns,
                                       Clock* clock)
    : client_(std::move(client)), ns_(std::move(ns)), clock_(clock) {}

absl::StatusOr<PublishStats> ConfigMapPublisher::Publish(
    const PublishedSetId& id, const std::vector<PublishedConfigMap>& want,
    const std::function<bool()>& can_write) {
  PublishStats stats;
  absl::Duration backoff = kConflictBackoff;
  for (int attempt = 1;; ++attempt) {
    absl::Status s = PublishOnce(id, want, can_write, &stats);
    if (s.ok()) return stats;
    if (!absl::IsAborted(s) || attempt >= kMaxAttempts) return s;
    // 409: someone wrote since our list. Re-list and try again.
    ++stats.conflicts;
    absl::Notification never;
    clock_->WaitForNotification(&never, backoff);
    backoff *= 2;
  }
}

absl::Status ConfigMapPublisher::PublishOnce(const PublishedSetId& id,
                                             const std::vector<PublishedConfigMap>& want,
                                             const std::function<bool()>& can_write,
                                             PublishStats* stats) {
  const std::string base = absl::StrCat("/api/v1/namespaces/", ns_, "/configmaps");
  // No resourceVersion: a consistent read, not the watch cache.
  absl::StatusOr<HttpResponse> list =
      client_->Get(absl::StrCat(base, "?labelSelector=", UrlEncode(id.LabelSelector())));
  if (!list.ok()) return list.status();
  if (list->status != 200) return HttpStatusError(*list, "list published ConfigMaps");
  std::map<std::string, Existing> existing;
  {
    rapidjson::Document d;
    d.Parse(list->body.data(), list->body.size());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("items") || !d["items"].IsArray()) {
      return absl::UnavailableError("list published ConfigMaps: not a ConfigMapList");
    }
    for (const auto& item : d["items"].GetArray()) {
      if (!item.IsObject() || !item.HasMember("metadata")) continue;
      const rapidjson::Value& md = item["metadata"];
      if (!md.IsObject() || !md.HasMember("name") || !md["name"].IsString()) continue;
      Existing e;
      if (md.HasMember("resourceVersion") && md["resourceVersion"].IsString()) {
        e.resource_version = md["resourceVersion"].GetString();
      }
      e.labels = JsonStringMapMember(md, "labels");
      e.data = JsonStringMapMember(item, "data");
      e.has_binary_data = item.HasMember("binaryData") && item["binaryData"].IsObject() &&
                          item["binaryData"].MemberCount() > 0;
      existing.emplace(md["name"].GetString(), std::move(e));
    }
  }

  const std::map<std::string, std::string> labels = id.Labels();
  auto write = [&](const PublishedConfigMap& cm) -> absl::Status {
    auto it = existing.find(cm.name);
    if (it != existing.end() && it->second.data == cm.data && !it->second.has_binary_data) {
      bool labels_ok = true;
      for (const auto& [k, v] : labels) {
        auto l = it->second.labels.find(k);
        labels_ok = labels_ok && l != it->second.labels.end() && l->second == v;
      }
      if (labels_ok) {
        ++stats->unchanged;
        return absl::OkStatus();
      }
    }
    if (!can_write()) {
      return absl::FailedPreconditionError("not the leader: publishing stopped");
    }
    if (it == existing.end()) {
      absl::StatusOr<HttpResponse> r = client_->Post(base, ConfigMapJson(ns_, cm, labels, ""));
      if (!r.ok()) return r.status();
      if (r->status == 409) {
        // Exists but is not in our labelled list: a ConfigMap promconf does
        // not own has this name. Never overwrite it.
        absl::StatusOr<HttpResponse> g = client_->Get(absl::StrCat(base, "/", cm.name));
        if (g.ok() && g->status == 200) {
          return absl::FailedPreconditionError(absl::StrCat(
              "ConfigMap ", ns_, "/", cm.name, " exists without the labels ", id.LabelSelector(),
              ": promconf will not overwrite a ConfigMap it does not manage"));
        }
        return HttpStatusError(*r, absl::StrCat("create ConfigMap ", ns_, "/", cm.name));
      }
      if (r->status != 201 && r->status != 200) {
        return HttpStatusError(*r, absl::StrCat("create ConfigMap ", ns_, "/", cm.name));
      }
      ++stats->created;
      return absl::OkStatus();
    }
    absl::StatusOr<HttpResponse> r = client_->Put(
        absl::StrCat(base, "/", cm.name), ConfigMapJson(ns_, cm, labels, it->second.resource_version));
    if (!r.ok()) return r.status();
    if (r->status != 200) {
      return HttpStatusError(*r, absl::StrCat("update ConfigMap ", ns_, "/", cm.name));
    }
    ++stats->updated;
    return absl::OkStatus();
  };

  // Parts first, the index's ConfigMap last.
  for (size_t i = 1; i < want.size(); ++i) {
    absl::Status s = write(want[i]);
    if (!s.ok()) return s;
  }
  if (!want.empty()) {
    absl::Status s = write(want[0]);
    if (!s.ok()) return s;
  }
  std::set<std::string> wanted;
  for (const PublishedConfigMap& cm : want) wanted.insert(cm.name);
  for (const auto& [name, e] : existing) {
    if (wanted.count(name) > 0) continue;
    if (!can_write()) return absl::FailedPreconditionError("not the leader: publishing stopped");
    const std::string body = absl::StrCat(R"({"kind":"DeleteOptions","apiVersion":"v1",)",
                                          R"("preconditions":{"resourceVersion":")",
                                          e.resource_version, R"("}})");
    absl::StatusOr<HttpResponse> r = client_->Delete(absl::StrCat(base, "/", name), body);
    if (!r.ok()) return r.status();
    if (r->status == 404) continue;
    if (r->status != 200 && r->status != 202) {
      return HttpStatusError(*r, absl::StrCat("delete stale ConfigMap ", ns_, "/", name));
    }
    ++stats->deleted;
  }
  return absl::OkStatus();
}

}  // namespace promconf::kube
