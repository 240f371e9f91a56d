// The Source conformance suite over the Kubernetes source and the fake API
// server (TLS, bearer token, real resourceVersion/410/bookmark semantics).
//
// Document names: the suite uses bare names ("a.rules.yml"); each becomes a
// ConfigMap "cm-<sanitized name>" in namespace team-a holding one key, the
// name itself. The source reports "team-a/cm-.../a.rules.yml"; a thin
// renaming adapter maps it back so the suite compares like with like. A name
// that already has the "ns/cm/key" shape is used as is.

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "informers/kubernetes/kubernetes_source.h"
#include "tests/conformance/source_conformance.h"
#include "tests/fakes/kube_apiserver.h"

namespace promconf {
namespace {

constexpr char kNamespace[] = "team-a";

struct ObjectRef {
  std::string ns, configmap, key;
  bool renamed = false;
};

ObjectRef RefFor(const std::string& name) {
  std::vector<std::string> parts = absl::StrSplit(name, absl::MaxSplits('/', 2));
  if (parts.size() == 3) return {parts[0], parts[1], parts[2], false};
  std::string cm = "cm-";
  for (char c : name) cm.push_back(absl::ascii_isalnum(c) ? absl::ascii_tolower(c) : '-');
  return {kNamespace, cm, name, true};
}

// Maps "team-a/cm-<x>/<key>" back to "<key>", and (per-namespace mode) the
// prefix "team-a/" that holds those documents to "".
class RenamingCallbacks : public SourceCallbacks {
 public:
  explicit RenamingCallbacks(SourceCallbacks* out) : out_(out) {}
  static std::string Rename(absl::string_view name) {
    std::vector<std::string> parts = absl::StrSplit(name, absl::MaxSplits('/', 2));
    if (parts.size() == 3 && parts[0] == kNamespace && RefFor(parts[2]).configmap == parts[1]) {
      return parts[2];
    }
    return std::string(name);
  }
  static std::string RenamePrefix(absl::string_view prefix) {
    return prefix == absl::StrCat(kNamespace, "/") ? "" : std::string(prefix);
  }
  void OnSnapshot(absl::string_view prefix, std::vector<Document> docs) override {
    for (Document& d : docs) d.name = Rename(d.name);
    out_->OnSnapshot(RenamePrefix(prefix), std::move(docs));
  }
  void OnUpsert(Document doc) override {
    doc.name = Rename(doc.name);
    out_->OnUpsert(std::move(doc));
  }
  void OnDelete(absl::string_view name) override { out_->OnDelete(Rename(name)); }
  void OnProgress() override { out_->OnProgress(); }
  void OnError(const absl::Status& status) override { out_->OnError(status); }

 private:
  SourceCallbacks* const out_;
};

class RenamingSource : public Source {
 public:
  explicit RenamingSource(std::unique_ptr<Source> inner) : inner_(std::move(inner)) {}
  absl::Status Start(SourceCallbacks* callbacks) override {
    // Once: a refused second Start must not free what the running source uses.
    if (renamer_ == nullptr) renamer_ = std::make_unique<RenamingCallbacks>(callbacks);
    return inner_->Start(renamer_.get());
  }
  void Stop() override { inner_->Stop(); }
  std::vector<std::string> SyncPrefixes() const override {
    std::vector<std::string> prefixes = inner_->SyncPrefixes();
    for (std::string& p : prefixes) p = RenamingCallbacks::RenamePrefix(p);
    return prefixes;
  }
  absl::Duration progress_deadline() const override { return inner_->progress_deadline(); }

 private:
  std::unique_ptr<Source> inner_;
  std::unique_ptr<RenamingCallbacks> renamer_;
};

class KubeHarness : public SourceHarness {
 public:
  // Empty: all namespaces, one snapshot prefix (""). Otherwise one reflector
  // and one snapshot prefix per namespace; the documents live in kNamespace.
  explicit KubeHarness(std::vector<std::string> namespaces = {})
      : namespaces_(std::move(namespaces)) {}

  absl::Status SetUp() override {
    FakeKubeApiServer::Options options;
    options.bookmark_interval = absl::Milliseconds(500);
    auto fake = FakeKubeApiServer::Start(options);
    if (!fake.ok()) return fake.status();
    fake_ = std::move(*fake);
    char tmpl[] = "/tmp/kube_conformance.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp");
    dir_ = tmpl;
    kubeconfig_ = dir_ + "/kubeconfig";
    return fake_->WriteKubeconfig(kubeconfig_);
  }

  void TearDown() override {
    fake_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  absl::StatusOr<std::unique_ptr<Source>> NewSource(const SourceContext& context) override {
    KubernetesSourceConfig config;
    config.kubeconfig = kubeconfig_;
    config.namespaces = namespaces_;
    kube::KubernetesSourceTuning tuning;
    tuning.idle_timeout = absl::Seconds(3);
    tuning.backoff.initial = absl::Milliseconds(100);
    tuning.backoff.max = absl::Seconds(1);
    auto source = kube::NewKubernetesSource(context, config, tuning);
    if (!source.ok()) return source.status();
    return std::unique_ptr<Source>(std::make_unique<RenamingSource>(std::move(*source)));
  }

  absl::Status Put(const std::string& name, const std::string& data) override {
    const ObjectRef ref = RefFor(name);
    return fake_->ApplyConfigMap(ref.ns, ref.configmap, {{"promconf.io/fragment", "true"}},
                                 {{ref.key, data}});
  }

  absl::Status Delete(const std::string& name) override {
    const ObjectRef ref = RefFor(name);
    return fake_->DeleteConfigMap(ref.ns, ref.configmap);
  }

  absl::Status DropWatch() override {
    fake_->DropWatches();
    return absl::OkStatus();
  }
  // A write the source cannot see (other namespace, no labels) first, so
  // that the forgotten history really is past the source's resume point.
  absl::Status ExpireHistory() override {
    absl::Status s = fake_->ApplyConfigMap("zz-bump", "bump", {}, {{"n", absl::StrCat(++bumps_)}});
    if (!s.ok()) return s;
    fake_->ExpireHistory();
    fake_->DropWatches();
    return absl::OkStatus();
  }
  absl::Status StallWatch() override {
    // Only a watch that is open can stall: wait (bounded) for one.
    for (int i = 0; i < 200; ++i) {
      bool open = false;
      for (const std::string& r : fake_->RequestLog()) open |= absl::StrContains(r, "watch=1");
      if (open) break;
      absl::SleepFor(absl::Milliseconds(25));
    }
    absl::SleepFor(absl::Milliseconds(100));
    fake_->StallWatches();
    return absl::OkStatus();
  }
  absl::Status RestartBackend() override { return fake_->Restart(); }

 private:
  const std::vector<std::string> namespaces_;
  std::unique_ptr<FakeKubeApiServer> fake_;
  std::string dir_, kubeconfig_;
  int bumps_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Kubernetes, SourceConformanceTest,
                         testing::Values(HarnessFactory{"kubernetes",
                                                        [] {
                                                          return std::make_unique<KubeHarness>();
                                                        }},
                                         // Two namespaces: two groups, two SyncPrefixes.
                                         HarnessFactory{"kubernetes_per_namespace",
                                                        [] {
                                                          return std::make_unique<KubeHarness>(
                                                              std::vector<std::string>{
                                                                  kNamespace, "team-b"});
                                                        }}),
                         HarnessFactoryName);

}  // namespace
}  // namespace promconf
