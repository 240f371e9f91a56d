// The Helm chart (charts/promconf), rendered the way `helm template` does by
// tests/chart/helmrender (helm 3's engine over Debian's sprig, sigs.k8s.io/yaml
// and gojsonschema; helm itself is not installable here), then checked
// against the real programs: every flag it passes is one promconf parses, the
// promconf.yml it mounts passes `promconf --dry-run` and `--once` (and
// promtool, when installed) against the fake API server, its RBAC rules are
// exactly the requests promconf makes there (from the fake's request log),
// every manifest decodes as its kind with kubectl's own scheme, and the
// Dockerfile's runtime packages cover every library promconf links.
// Skipped when `go` is missing (the renderer cannot be built).

// GCC 12 at -O1 with ASan reports a false maybe-uninitialized inside
// libstdc++'s <regex> (std::function in its NFA states).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/kube_apiserver.h"
#include "tests/fakes/temp_dir.h"
#include "util/http_client.h"
#include "yaml-cpp/yaml.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const char kPromconf[] = PROMCONF_BINARY_DIR "/promconf";
const char kChart[] = PROMCONF_SOURCE_DIR "/charts/promconf";
const char kNamespace[] = "monitoring";
const char kRelease[] = "pc";
const char kFullname[] = "pc-promconf";

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::vector<std::string> BaseEnv(const std::string& home) {
  const char* path = std::getenv("PATH");
  return {"HOME=" + home, std::string("PATH=") + (path ? path : "/usr/bin:/bin"), "LANG=C.UTF-8"};
}

// --- YAML helpers (yaml-cpp's const operator[] throws past a missing key) --

YAML::Node At(const YAML::Node& node, std::initializer_list<std::string> path) {
  // Node's operator= writes through to the node it refers to; reset() rebinds.
  YAML::Node cur = node;
  for (const std::string& key : path) {
    if (!cur.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    bool found = false;
    for (const auto& kv : cur) {
      if (kv.first.Scalar() == key) {
        cur.reset(kv.second);
        found = true;
        break;
      }
    }
    if (!found) return YAML::Node(YAML::NodeType::Undefined);
  }
  return cur;
}

std::string Str(const YAML::Node& node) { return node.IsScalar() ? node.Scalar() : ""; }

std::vector<std::string> Strs(const YAML::Node& node) {
  std::vector<std::string> out;
  if (node.IsSequence()) {
    for (const auto& e : node) out.push_back(Str(e));
  }
  return out;
}

YAML::Node Named(const YAML::Node& seq, const std::string& name) {
  if (seq.IsSequence()) {
    for (const auto& e : seq) {
      if (Str(At(e, {"name"})) == name) return e;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string Emit(const YAML::Node& node) {
  YAML::Emitter e;
  e << node;
  return std::string(e.c_str()) + "\n";
}

// --- rendering ---------------------------------------------------------------

struct Rendered {
  int code = -1;
  std::string out, err, notes;
  std::vector<YAML::Node> docs;
  std::vector<std::string> texts;  // docs[i] as rendered (yaml-cpp's Emit loses quoting)

  std::vector<YAML::Node> All(const std::string& kind) const {
    std::vector<YAML::Node> v;
    for (const auto& d : docs) {
      if (Str(At(d, {"kind"})) == kind) v.push_back(d);
    }
    return v;
  }
  YAML::Node Find(const std::string& kind, const std::string& name = "") const {
    for (const auto& d : All(kind)) {
      if (name.empty() || Str(At(d, {"metadata", "name"})) == name) return d;
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }
  YAML::Node PodSpec() const { return At(Find("Deployment"), {"spec", "template", "spec"}); }
  YAML::Node Container(const std::string& name) const {
    YAML::Node c = Named(At(PodSpec(), {"containers"}), name);
    return c.IsDefined() ? c : Named(At(PodSpec(), {"initContainers"}), name);
  }
  // The promconf.yml the pods mount.
  YAML::Node Config() const {
    std::string text = Str(At(Find("ConfigMap", std::string(kFullname) + "-config"),
                              {"data", "promconf.yml"}));
    return YAML::Load(text);
  }
  std::string BaseConfig() const {
    return Str(At(Find("ConfigMap", std::string(kFullname) + "-config"), {"data", "base.yml"}));
  }
};

class ChartTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Every suite derived from this one calls it: build helmrender once.
    if (renderer_ != nullptr) return;
    renderer_ = new std::string;
    skip_ = new std::string;
    const std::string go = FindProgram("go");
    if (go.empty()) {
      *skip_ = "no `go` on PATH: tests/chart/helmrender cannot be built (hack/install-deps.sh)";
      return;
    }
    const std::string out_dir = PROMCONF_BINARY_DIR "/helmrender";
    fs::create_directories(out_dir + "/home");
    std::vector<std::string> env = BaseEnv(out_dir + "/home");
    env.push_back("GOPATH=/usr/share/gocode");
    env.push_back("GO111MODULE=off");
    env.push_back("GOFLAGS=");
    env.push_back("GOCACHE=" + out_dir + "/cache");
    env.push_back("CGO_ENABLED=0");
    // Built from Debian's Go packages only: nothing is downloaded.
    ChildProcess::Result r = ChildProcess::Run(
        {go, "build", "-o", out_dir + "/helmrender",
         PROMCONF_SOURCE_DIR "/tests/chart/helmrender/main.go"},
        out_dir, absl::Seconds(300), env);
    if (r.exit_code != 0) {
      *skip_ = "";
      *renderer_ = "";
      build_error_ = new std::string(r.out + r.err);
      return;
    }
    *renderer_ = out_dir + "/helmrender";
  }

  void SetUp() override {
    if (!skip_->empty()) GTEST_SKIP() << *skip_;
    ASSERT_EQ(build_error_, nullptr) << "building tests/chart/helmrender failed:\n"
                                     << *build_error_;
    ASSERT_FALSE(dir_.path().empty());
  }

  Rendered Render(const std::string& values, const std::string& ns = kNamespace) {
    const std::string n = absl::StrCat(renders_++);
    const std::string values_file = dir_.path() + "/values" + n + ".yaml";
    const std::string notes_file = dir_.path() + "/notes" + n + ".txt";
    WriteFile(values_file, values);
    ChildProcess::Result r =
        ChildProcess::Run({*renderer_, "--chart", kChart, "--release", kRelease, "--namespace", ns,
                           "-f", values_file, "--notes", notes_file},
                          dir_.path(), absl::Seconds(60), BaseEnv(dir_.path()));
    Rendered out;
    out.code = r.exit_code;
    out.out = r.out;
    out.err = r.err;
    out.notes = ReadWholeFile(notes_file);
    if (r.exit_code == 0) {
      try {
        // helm's stream: "---\n# Source: FILE\n<document>\n" per manifest.
        for (absl::string_view text : absl::StrSplit(r.out, "---\n# Source: ", absl::SkipEmpty())) {
          const std::string doc(text.substr(text.find('\n') + 1));
          YAML::Node d = YAML::Load(doc);
          if (!d.IsMap()) continue;
          out.docs.push_back(d);
          out.texts.push_back(doc);
        }
      } catch (const YAML::Exception& e) {
        ADD_FAILURE() << "the rendered stream is not YAML: " << e.what() << "\n" << r.out;
      }
    }
    return out;
  }

  // Renders and expects success.
  Rendered MustRender(const std::string& values, const std::string& ns = kNamespace) {
    Rendered r = Render(values, ns);
    EXPECT_EQ(r.code, 0) << r.err;
    return r;
  }

  static std::string* renderer_;
  static std::string* skip_;
  static std::string* build_error_;
  TempDir dir_{"promconf-chart"};
  int renders_ = 0;
};

std::string* ChartTest::renderer_ = nullptr;
std::string* ChartTest::skip_ = nullptr;
std::string* ChartTest::build_error_ = nullptr;

// helmrender itself, on a fixture chart (tests/chart/testdata/engine): the
// behaviours of helm's engine a chart can notice.
TEST_F(ChartTest, HelmrenderBehavesLikeHelm) {
  const std::string chart = PROMCONF_SOURCE_DIR "/tests/chart/testdata/engine";
  auto render = [&](const std::string& values) {
    const std::string file = dir_.path() + "/engine-values.yaml";
    WriteFile(file, values);
    return ChildProcess::Run({*renderer_, "--chart", chart, "--release", "r1", "--namespace", "ns1",
                              "-f", file, "--notes", dir_.path() + "/engine-notes.txt"},
                             dir_.path(), absl::Seconds(60), BaseEnv(dir_.path()));
  };
  ChildProcess::Result r = render("keep: null\nnested: {b: 3, c: 4}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Kinds in helm's install order (Service before Deployment whatever the
  // file names), partials not rendered, a comments-only document kept last.
  const std::vector<std::string> sources = {"engine/templates/b-service.yaml",
                                            "engine/templates/a-deployment.yaml",
                                            "engine/templates/b-service.yaml"};
  std::vector<std::string> seen;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::ConsumePrefix(&line, "# Source: ")) seen.emplace_back(line);
  }
  EXPECT_EQ(seen, sources) << r.out;
  EXPECT_TRUE(absl::StartsWith(r.out, "---\n# Source: engine/templates/b-service.yaml\n"));
  for (const char* expected : {
           "missing: \"[]\"",                        // missingkey=zero, "<no value>" removed
           "big: \"1e+06\"",                         // values' numbers are float64
           "keep: \"false\"",                        // a user null deletes the default
           "template: engine/templates/a-deployment.yaml", "base: engine/templates",
           "release: r1/ns1/Helm/true", "app-version: \"4.5\"",
           "tpl: fixture-engine",                    // tpl sees the values and .Chart
           "kube: 1.20/true", "lookup: \"0\"", "from-yaml: c",
           "    app: fixture\n    chart: engine-1.2.3\n",  // include | nindent
           "  nested:\n    a: 1\n    b: 3\n    c: 4\n",   // maps merged, toYaml sorted
           "list: [\"x\",true]",                      // YAML 1.1: y is true, as in helm
       }) {
    EXPECT_THAT(r.out, HasSubstr(expected));
  }
  EXPECT_EQ(ReadWholeFile(dir_.path() + "/engine-notes.txt"), "notes for r1\n");
  EXPECT_THAT(r.out, testing::Not(HasSubstr("notes for")));

  r = render("needRequired: true\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("execution error at (engine/templates/c-required.yaml:2:10): "
                               "needed must be set"));
  r = render("fail: true\n");
  EXPECT_THAT(r.err, HasSubstr("c-required.yaml:4:25): failed on purpose"));
  r = render("big: many\n");
  EXPECT_THAT(r.err, HasSubstr("values don't meet the specifications of the schema(s) in the "
                               "following chart(s):\nengine:\n- big: Invalid type. Expected: "
                               "integer, given: string"));
}

constexpr char kController[] = "mode: controller\nreplicaCount: 2\n";

// Every container of the pod: the restrictions SPEC promises.
void ExpectLockedDown(const YAML::Node& container) {
  const std::string name = Str(At(container, {"name"}));
  YAML::Node sc = At(container, {"securityContext"});
  EXPECT_EQ(Str(At(sc, {"readOnlyRootFilesystem"})), "true") << name;
  EXPECT_EQ(Str(At(sc, {"allowPrivilegeEscalation"})), "false") << name;
  EXPECT_EQ(Str(At(sc, {"runAsNonRoot"})), "true") << name;
  EXPECT_EQ(Strs(At(sc, {"capabilities", "drop"})), std::vector<std::string>{"ALL"}) << name;
  EXPECT_FALSE(At(sc, {"capabilities", "add"}).IsDefined()) << name;
  EXPECT_EQ(Str(At(sc, {"seccompProfile", "type"})), "RuntimeDefault") << name;
}

TEST_F(ChartTest, SidecarModeIsPrometheusWithPromconfBesideIt) {
  Rendered r = MustRender("mode: sidecar\n");
  ASSERT_EQ(r.code, 0);
  std::multiset<std::string> kinds;
  for (const auto& d : r.docs) kinds.insert(Str(At(d, {"kind"})));
  EXPECT_EQ(kinds, (std::multiset<std::string>{"ServiceAccount", "ConfigMap", "ClusterRole",
                                               "ClusterRoleBinding", "Service", "Deployment"}));
  YAML::Node deploy = r.Find("Deployment");
  EXPECT_EQ(Str(At(deploy, {"spec", "replicas"})), "1");
  YAML::Node pod = r.PodSpec();

  // promconf --once first, so Prometheus starts with a complete config.
  ASSERT_EQ(At(pod, {"initContainers"}).size(), 1u);
  YAML::Node init = r.Container("promconf-init");
  EXPECT_THAT(Strs(At(init, {"args"})), testing::Contains("--once"));
  YAML::Node promconf = r.Container("promconf");
  YAML::Node prometheus = r.Container("prometheus");
  ASSERT_TRUE(promconf.IsDefined());
  ASSERT_TRUE(prometheus.IsDefined());
  EXPECT_THAT(Strs(At(promconf, {"args"})), testing::Not(testing::Contains("--once")));

  // One in-memory emptyDir shared by all three; Prometheus only reads it.
  YAML::Node generated = Named(At(pod, {"volumes"}), "generated");
  EXPECT_EQ(Str(At(generated, {"emptyDir", "medium"})), "Memory");
  YAML::Node config = r.Config();
  const std::string out_dir = Str(At(config, {"output", "dir"}));
  for (const YAML::Node& c : {init, promconf, prometheus}) {
    YAML::Node mount = Named(At(c, {"volumeMounts"}), "generated");
    EXPECT_EQ(Str(At(mount, {"mountPath"})), out_dir) << Str(At(c, {"name"}));
  }
  EXPECT_EQ(Str(At(Named(At(prometheus, {"volumeMounts"}), "generated"), {"readOnly"})), "true");
  std::vector<std::string> prom_args = Strs(At(prometheus, {"args"}));
  EXPECT_THAT(prom_args, testing::Contains("--web.enable-lifecycle"));
  EXPECT_THAT(prom_args, testing::Contains("--config.file=" + out_dir + "/prometheus.yml"));

  // promconf reloads the Prometheus beside it.
  const std::string prom_port =
      Str(At(Named(At(prometheus, {"ports"}), "web"), {"containerPort"}));
  EXPECT_EQ(Str(At(config, {"reload", "url"})),
            absl::StrCat("http://127.0.0.1:", prom_port, "/-/reload"));
  EXPECT_FALSE(At(config, {"leader_election"}).IsDefined());
  EXPECT_FALSE(At(config, {"output", "configmap"}).IsDefined());
  EXPECT_THAT(r.BaseConfig(), HasSubstr("127.0.0.1:" + prom_port));

  // Non-root, read-only, nothing added, RuntimeDefault seccomp.
  YAML::Node psc = At(pod, {"securityContext"});
  EXPECT_EQ(Str(At(psc, {"runAsNonRoot"})), "true");
  EXPECT_EQ(Str(At(psc, {"runAsUser"})), "10001");
  EXPECT_EQ(Str(At(psc, {"seccompProfile", "type"})), "RuntimeDefault");
  for (const YAML::Node& c : {init, promconf, prometheus}) ExpectLockedDown(c);

  // Probes on /healthz and /readyz at the port promconf listens on, which the
  // annotations and the Service name too.
  const std::string port = Str(At(Named(At(promconf, {"ports"}), "http"), {"containerPort"}));
  EXPECT_EQ(port, "8080");
  EXPECT_THAT(Strs(At(promconf, {"args"})), testing::Contains("--web.listen-address=:" + port));
  EXPECT_EQ(Str(At(promconf, {"livenessProbe", "httpGet", "path"})), "/healthz");
  EXPECT_EQ(Str(At(promconf, {"readinessProbe", "httpGet", "path"})), "/readyz");
  EXPECT_EQ(Str(At(promconf, {"livenessProbe", "httpGet", "port"})), "http");
  EXPECT_EQ(Str(At(promconf, {"readinessProbe", "httpGet", "port"})), "http");
  YAML::Node annotations = At(deploy, {"spec", "template", "metadata", "annotations"});
  EXPECT_EQ(Str(At(annotations, {"prometheus.io/scrape"})), "true");
  EXPECT_EQ(Str(At(annotations, {"prometheus.io/port"})), port);
  EXPECT_EQ(Str(At(annotations, {"prometheus.io/path"})), "/metrics");
  YAML::Node svc = r.Find("Service");
  EXPECT_EQ(Str(At(Named(At(svc, {"spec", "ports"}), "http"), {"port"})), port);
  EXPECT_EQ(Str(At(Named(At(svc, {"spec", "ports"}), "web"), {"port"})), prom_port);
  EXPECT_EQ(Emit(At(svc, {"spec", "selector"})),
            Emit(At(deploy, {"spec", "selector", "matchLabels"})));
  EXPECT_THAT(r.notes, HasSubstr("mode: sidecar"));
}

TEST_F(ChartTest, ControllerModeElectsALeaderAndPublishesInTheReleaseNamespace) {
  Rendered r = MustRender(kController);
  ASSERT_EQ(r.code, 0);
  YAML::Node deploy = r.Find("Deployment");
  EXPECT_EQ(Str(At(deploy, {"spec", "replicas"})), "2");
  YAML::Node pod = r.PodSpec();
  EXPECT_FALSE(At(pod, {"initContainers"}).IsDefined());
  ASSERT_EQ(At(pod, {"containers"}).size(), 1u);
  ExpectLockedDown(r.Container("promconf"));

  YAML::Node config = r.Config();
  YAML::Node le = At(config, {"leader_election"});
  EXPECT_EQ(Str(At(le, {"enabled"})), "true");
  EXPECT_EQ(Str(At(le, {"namespace"})), kNamespace);
  EXPECT_EQ(Str(At(le, {"name"})), kFullname);
  EXPECT_EQ(Str(At(le, {"source"})), "cluster");
  EXPECT_EQ(Str(At(le, {"lease_duration"})), "15s");
  YAML::Node cm = At(config, {"output", "configmap"});
  EXPECT_EQ(Str(At(cm, {"namespace"})), kNamespace);
  EXPECT_EQ(Str(At(cm, {"name"})), std::string(kFullname) + "-generated");
  EXPECT_EQ(Str(At(cm, {"source"})), "cluster");
  EXPECT_FALSE(At(config, {"reload"}).IsDefined());  // no Prometheus in this pod

  // Leases and ConfigMap writes: a Role in the release namespace only.
  YAML::Node writer = r.Find("Role", std::string(kFullname) + "-writer");
  ASSERT_TRUE(writer.IsDefined());
  EXPECT_EQ(Str(At(writer, {"metadata", "namespace"})), kNamespace);
  for (const YAML::Node& cr : r.All("ClusterRole")) {
    for (const auto& rule : At(cr, {"rules"})) {
      for (const std::string& res : Strs(At(rule, {"resources"}))) {
        EXPECT_NE(res, "leases");
      }
      for (const std::string& verb : Strs(At(rule, {"verbs"}))) {
        EXPECT_TRUE(verb == "list" || verb == "watch" || verb == "create") << verb;
        if (verb == "create") {
          EXPECT_EQ(Strs(At(rule, {"resources"})), std::vector<std::string>{"events"});
        }
      }
    }
  }
  EXPECT_THAT(r.notes, HasSubstr("Lease monitoring/pc-promconf"));
}

TEST_F(ChartTest, NonDefaultValuesReachTheManifests) {
  Rendered r = MustRender(R"(mode: sidecar
extraArgs: [--log.level=debug, --log.format=json]
listenPort: 9100
config:
  sources:
    - name: teams
      kubernetes:
        namespaces: [team-a, team-b]
        label_selector: promconf.io/fragment=true
        resources: [configmaps, secrets]
serviceMonitor:
  enabled: true
  interval: 15s
  labels: {release: kube-prometheus}
podAnnotations:
  example.com/owner: sre
podSecurityContext:
  runAsNonRoot: true
  runAsUser: 20000
  runAsGroup: 20000
  fsGroup: 20000
  seccompProfile: {type: RuntimeDefault}
securityContext:
  runAsNonRoot: true
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
  seccompProfile: {type: Localhost, localhostProfile: profiles/promconf.json}
serviceAccount:
  create: false
  name: existing-sa
rbac:
  events: false
)");
  ASSERT_EQ(r.code, 0);
  for (const char* c : {"promconf", "promconf-init"}) {
    std::vector<std::string> args = Strs(At(r.Container(c), {"args"}));
    EXPECT_THAT(args, testing::Contains("--log.level=debug")) << c;
    EXPECT_THAT(args, testing::Contains("--log.format=json")) << c;
  }
  EXPECT_THAT(Strs(At(r.Container("promconf"), {"args"})),
              testing::Contains("--web.listen-address=:9100"));
  YAML::Node annotations =
      At(r.Find("Deployment"), {"spec", "template", "metadata", "annotations"});
  EXPECT_EQ(Str(At(annotations, {"prometheus.io/port"})), "9100");
  EXPECT_EQ(Str(At(annotations, {"example.com/owner"})), "sre");
  EXPECT_EQ(Str(At(r.PodSpec(), {"securityContext", "runAsUser"})), "20000");
  EXPECT_EQ(Str(At(r.Container("promconf"), {"securityContext", "seccompProfile", "type"})),
            "Localhost");
  EXPECT_EQ(Str(At(r.PodSpec(), {"serviceAccountName"})), "existing-sa");
  EXPECT_FALSE(r.Find("ServiceAccount").IsDefined());

  // Secrets are listed, and only in the namespaces the source names: Roles,
  // no ClusterRole; no Events when rbac.events is off.
  EXPECT_TRUE(r.All("ClusterRole").empty());
  std::set<std::string> role_namespaces;
  for (const YAML::Node& role : r.All("Role")) {
    const std::string ns = Str(At(role, {"metadata", "namespace"}));
    role_namespaces.insert(ns);
    ASSERT_EQ(At(role, {"rules"}).size(), 1u) << ns;
    EXPECT_EQ(Strs(At(role, {"rules"})[0]["resources"]),
              (std::vector<std::string>{"configmaps", "secrets"}));
    EXPECT_EQ(Strs(At(role, {"rules"})[0]["verbs"]), (std::vector<std::string>{"list", "watch"}));
  }
  EXPECT_EQ(role_namespaces, (std::set<std::string>{"team-a", "team-b"}));
  for (const YAML::Node& rb : r.All("RoleBinding")) {
    EXPECT_EQ(Str(At(rb, {"subjects"})[0]["name"]), "existing-sa");
  }

  // The ServiceMonitor selects the Service and scrapes its http port.
  YAML::Node sm = r.Find("ServiceMonitor");
  ASSERT_TRUE(sm.IsDefined());
  EXPECT_EQ(Str(At(sm, {"apiVersion"})), "monitoring.coreos.com/v1");
  EXPECT_EQ(Str(At(sm, {"metadata", "labels", "release"})), "kube-prometheus");
  YAML::Node svc = r.Find("Service");
  for (const auto& kv : At(sm, {"spec", "selector", "matchLabels"})) {
    EXPECT_EQ(Str(At(svc, {"metadata", "labels", kv.first.Scalar()})), Str(kv.second));
  }
  YAML::Node endpoint = At(sm, {"spec", "endpoints"})[0];
  EXPECT_EQ(Str(At(endpoint, {"port"})), "http");
  EXPECT_EQ(Str(At(endpoint, {"path"})), "/metrics");
  EXPECT_EQ(Str(At(endpoint, {"interval"})), "15s");
  EXPECT_TRUE(Named(At(svc, {"spec", "ports"}), "http").IsDefined());

  // Mixed: one source everywhere (ClusterRole), secrets in one namespace (Role).
  Rendered mixed = MustRender(R"(config:
  sources:
    - name: cluster
      kubernetes: {resources: [configmaps]}
    - name: vault-ish
      kubernetes: {namespaces: [secure], resources: [configmaps, secrets]}
)");
  ASSERT_EQ(mixed.code, 0);
  YAML::Node cr = mixed.Find("ClusterRole");
  EXPECT_EQ(Strs(At(cr, {"rules"})[0]["resources"]), std::vector<std::string>{"configmaps"});
  YAML::Node role = mixed.Find("Role");
  EXPECT_EQ(Str(At(role, {"metadata", "namespace"})), "secure");
  EXPECT_EQ(Strs(At(role, {"rules"})[0]["resources"]), std::vector<std::string>{"secrets"});
}

TEST_F(ChartTest, BadValuesAreRefusedWithTheReason) {
  struct Case {
    std::string values, error;
  };
  const std::vector<Case> cases = {
      {"mode: daemonset\n", "mode"},
      {"replicaCount: 3\n", "replicaCount"},  // sidecar: one Prometheus
      {"extraArgs: [--config.file=/x]\n", "extraArgs"},
      {"extraArgs: [debug]\n", "extraArgs"},
      {"extraArg: [--log.level=debug]\n", "extraArg"},  // typo: unknown top-level key
      {"podAnnotations: {prometheus.io/port: 8080}\n", "podAnnotations"},
      {"config: {sources: [{name: x, kubernetes: {resources: [pods]}}]}\n", "resources"},
      {"mode: controller\nconfig: {sources: [{name: f, file: {paths: [/f]}}]}\n",
       "needs a kubernetes source"},
      {"mode: controller\nconfig:\n  output: {configmap: {namespace: other}}\n"
       "  sources: [{name: c, kubernetes: {}}]\n",
       "release namespace"},
  };
  for (const Case& c : cases) {
    Rendered r = Render(c.values);
    EXPECT_NE(r.code, 0) << c.values;
    EXPECT_THAT(r.err, HasSubstr(c.error)) << c.values;
  }
}

// --- flags -------------------------------------------------------------------

std::set<std::string> PromconfFlags() {
  TempDir dir("promconf-help");
  ChildProcess::Result r = ChildProcess::Run({kPromconf, "--help"}, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> flags;
  static const std::regex flag(R"(^\s+(--[a-z][a-z.\-]*))");
  for (absl::string_view line : absl::StrSplit(r.out + r.err, '\n')) {
    std::smatch m;
    std::string s(line);
    if (std::regex_search(s, m, flag)) flags.insert(m[1]);
  }
  return flags;
}

TEST_F(ChartTest, EveryFlagTheChartPassesIsOnePromconfLists) {
  const std::set<std::string> known = PromconfFlags();
  ASSERT_TRUE(known.count("--config.file")) << absl::StrJoin(known, " ");
  for (const std::string& values :
       {std::string("mode: sidecar\nextraArgs: [--log.level=debug, --log.format=json]\n"),
        std::string(kController) + "extraArgs: [--log.level=warn]\n"}) {
    Rendered r = MustRender(values);
    ASSERT_EQ(r.code, 0);
    for (const char* name : {"promconf", "promconf-init"}) {
      YAML::Node c = r.Container(name);
      if (!c.IsDefined()) continue;
      std::vector<std::string> args = Strs(At(c, {"args"}));
      ASSERT_FALSE(args.empty());
      for (const std::string& arg : args) {
        ASSERT_TRUE(absl::StartsWith(arg, "--")) << arg;
        EXPECT_TRUE(known.count(arg.substr(0, arg.find('=')))) << name << ": " << arg;
      }
      // And promconf's parser takes the whole list, values included.
      std::vector<std::string> argv = {kPromconf};
      argv.insert(argv.end(), args.begin(), args.end());
      argv.push_back("--help");
      ChildProcess::Result run = ChildProcess::Run(argv, dir_.path());
      EXPECT_EQ(run.exit_code, 0) << name << ": " << run.err;
    }
  }
}

// --- the mounted config, run against the fake API server ------------------------

// The chart's promconf.yml with only what is specific to a pod pointed at
// this test: output.dir and base_config into `dir`; every kubernetes source's
// kubeconfig at the fake API server (the chart's "" means in-cluster, whose
// token and CA sit at fixed /var/run/secrets paths a test cannot provide);
// reload.url's port at a free loopback port (nothing listens there, as for
// the init container before Prometheus starts). Every other key is the
// chart's, byte for byte through the same YAML tree.
std::string RunnableConfig(const Rendered& r, const std::string& dir,
                           const std::string& kubeconfig) {
  YAML::Node config = YAML::Clone(r.Config());
  config["output"]["dir"] = dir + "/out";
  if (config["output"]["base_config"]) {
    WriteFile(dir + "/base.yml", r.BaseConfig());
    config["output"]["base_config"] = dir + "/base.yml";
  }
  for (auto source : config["sources"]) {
    if (source["kubernetes"]) source["kubernetes"]["kubeconfig"] = kubeconfig;
  }
  if (config["reload"] && config["reload"]["url"]) {
    const std::string url = config["reload"]["url"].Scalar();
    const std::regex port(R"(:[0-9]+/)");
    config["reload"]["url"] =
        std::regex_replace(url, port, absl::StrCat(":", PickFreeLoopbackPort(), "/"));
  }
  const std::string path = dir + "/promconf.yml";
  WriteFile(path, Emit(config));
  return path;
}

// The container's args with --config.file and --web.listen-address pointed at
// this test; the rest as the chart wrote them.
std::vector<std::string> RunnableArgs(const Rendered& r, const std::string& container,
                                      const std::string& config_path, int port) {
  std::vector<std::string> argv = {kPromconf};
  for (const std::string& arg : Strs(At(r.Container(container), {"args"}))) {
    if (absl::StartsWith(arg, "--config.file=")) {
      argv.push_back("--config.file=" + config_path);
    } else if (absl::StartsWith(arg, "--web.listen-address=")) {
      argv.push_back(absl::StrCat("--web.listen-address=127.0.0.1:", port));
    } else {
      argv.push_back(arg);
    }
  }
  return argv;
}

constexpr char kGoodRule[] =
    "groups:\n- name: team\n  rules:\n  - record: team:up:sum\n    expr: sum(up)\n";
constexpr char kBadRule[] =
    "groups:\n- name: bad\n  rules:\n  - record: team:bad\n    expr: vector(1)\n    bogus: 1\n";

class ChartRunTest : public ChartTest {
 protected:
  void SetUp() override {
    ChartTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto api = FakeKubeApiServer::Start({});
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = std::move(*api);
    kubeconfig_ = dir_.path() + "/kubeconfig";
    ASSERT_TRUE(api_->WriteKubeconfig(kubeconfig_).ok());
    const std::map<std::string, std::string> labels = {{"promconf.io/fragment", "true"}};
    for (const char* ns : {"team-a", kNamespace}) {
      ASSERT_TRUE(api_->ApplyConfigMap(ns, "rules", labels, {{"team.rules.yml", kGoodRule}}).ok());
    }
    // Rejected: promconf posts a Warning Event on it.
    ASSERT_TRUE(api_->ApplyConfigMap("team-a", "broken", labels, {{"bad.rules.yml", kBadRule}}).ok());
    ASSERT_TRUE(api_->ApplySecret("team-a", "creds", labels, {{"s.rules.yml", kGoodRule}}).ok());
  }

  std::unique_ptr<FakeKubeApiServer> api_;
  std::string kubeconfig_;
};

TEST_F(ChartRunTest, TheMountedConfigPassesDryRunAndOnce) {
  for (const std::string& values : {std::string("mode: sidecar\n"), std::string(kController)}) {
    SCOPED_TRACE(values);
    Rendered r = MustRender(values);
    ASSERT_EQ(r.code, 0);
    const std::string dir = dir_.path() + "/" + absl::StrCat(renders_);
    fs::create_directories(dir);
    const std::string config = RunnableConfig(r, dir, kubeconfig_);
    ChildProcess::Result dry =
        ChildProcess::Run({kPromconf, "--config.file=" + config, "--dry-run"}, dir);
    if (dry.exit_code != 0 && absl::StrContains(dry.err, "leader_election")) {
      GTEST_SKIP() << "promconf refuses leader_election for now: " << dry.err;
    }
    ASSERT_EQ(dry.exit_code, 0) << Emit(r.Config()) << dry.err;
    EXPECT_THAT(dry.out, HasSubstr("team:up:sum"));
    EXPECT_FALSE(fs::exists(dir + "/out/prometheus.yml"));  // dry run: nothing written
  }

  // The init container: --once writes a config Prometheus accepts.
  Rendered r = MustRender("mode: sidecar\n");
  const std::string dir = dir_.path() + "/init";
  fs::create_directories(dir);
  const std::string config = RunnableConfig(r, dir, kubeconfig_);
  ChildProcess::Result once =
      ChildProcess::Run(RunnableArgs(r, "promconf-init", config, PickFreeLoopbackPort()), dir);
  ASSERT_EQ(once.exit_code, 0) << once.err;
  const std::string prometheus_yml = ReadWholeFile(dir + "/out/prometheus.yml");
  EXPECT_THAT(prometheus_yml, HasSubstr("job_name: promconf"));  // from the chart's baseConfig
  EXPECT_THAT(prometheus_yml, HasSubstr("rules/"));
  const std::string promtool = FindProgram("promtool");
  if (!promtool.empty()) {
    ChildProcess::Result check =
        ChildProcess::Run({promtool, "check", "config", dir + "/out/prometheus.yml"}, dir);
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  }
}

// --- RBAC from the request log ------------------------------------------------

// One API request as RBAC sees it.
struct Access {
  std::string verb, group, resource, ns;
  bool operator<(const Access& o) const {
    return std::tie(verb, group, resource, ns) < std::tie(o.verb, o.group, o.resource, o.ns);
  }
  bool operator==(const Access& o) const {
    return std::tie(verb, group, resource, ns) == std::tie(o.verb, o.group, o.resource, o.ns);
  }
};

// "METHOD /api/v1/namespaces/x/configmaps?watch=true" -> {watch, "", configmaps, x}, as the
// apiserver's RequestInfo resolver does; nullopt for non-resource paths.
std::optional<Access> ToAccess(const std::string& line) {
  std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 1));
  if (parts.size() != 2) return std::nullopt;
  std::vector<std::string> target = absl::StrSplit(parts[1], absl::MaxSplits('?', 1));
  const std::string query = target.size() > 1 ? target[1] : "";
  std::vector<std::string> seg = absl::StrSplit(target[0], '/', absl::SkipEmpty());
  Access a;
  size_t i = 0;
  if (seg.size() >= 2 && seg[0] == "api") {
    i = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis") {
    a.group = seg[1];
    i = 3;
  } else {
    return std::nullopt;
  }
  if (i + 1 < seg.size() && seg[i] == "namespaces" && i + 2 < seg.size()) {
    a.ns = seg[i + 1];
    i += 2;
  }
  if (i >= seg.size()) return std::nullopt;
  a.resource = seg[i];
  const bool named = i + 1 < seg.size();
  const bool watch = absl::StrContains(absl::StrCat("&", query, "&"), "&watch=true&") ||
                     absl::StrContains(absl::StrCat("&", query, "&"), "&watch=1&");
  const std::string& m = parts[0];
  if (m == "GET") a.verb = named ? "get" : (watch ? "watch" : "list");
  else if (m == "POST") a.verb = "create";
  else if (m == "PUT") a.verb = "update";
  else if (m == "PATCH") a.verb = "patch";
  else if (m == "DELETE") a.verb = named ? "delete" : "deletecollection";
  else return std::nullopt;
  return a;
}

// The rendered RBAC as the service account gets it: {verb, group, resource,
// namespace or "*" for cluster-wide}.
std::set<Access> GrantedRules(const Rendered& r, const std::string& sa, const std::string& sa_ns) {
  std::set<Access> rules;
  auto binds_sa = [&](const YAML::Node& binding) {
    for (const auto& s : At(binding, {"subjects"})) {
      if (Str(At(s, {"kind"})) == "ServiceAccount" && Str(At(s, {"name"})) == sa &&
          Str(At(s, {"namespace"})) == sa_ns) {
        return true;
      }
    }
    return false;
  };
  auto add = [&](const YAML::Node& role, const std::string& scope) {
    for (const auto& rule : At(role, {"rules"})) {
      for (const std::string& g : Strs(At(rule, {"apiGroups"}))) {
        for (const std::string& res : Strs(At(rule, {"resources"}))) {
          for (const std::string& v : Strs(At(rule, {"verbs"}))) rules.insert({v, g, res, scope});
        }
      }
    }
  };
  for (const YAML::Node& b : r.All("ClusterRoleBinding")) {
    if (binds_sa(b)) add(r.Find("ClusterRole", Str(At(b, {"roleRef", "name"}))), "*");
  }
  for (const YAML::Node& b : r.All("RoleBinding")) {
    if (!binds_sa(b)) continue;
    const std::string ns = Str(At(b, {"metadata", "namespace"}));
    for (const YAML::Node& role : r.All("Role")) {
      if (Str(At(role, {"metadata", "name"})) == Str(At(b, {"roleRef", "name"})) &&
          Str(At(role, {"metadata", "namespace"})) == ns) {
        add(role, ns);
      }
    }
  }
  return rules;
}

bool Permits(const Access& rule, const Access& a) {
  return rule.verb == a.verb && rule.group == a.group && rule.resource == a.resource &&
         (rule.ns == "*" || rule.ns == a.ns);
}

std::string Describe(const Access& a);
void PrintTo(const Access& a, std::ostream* os) { *os << Describe(a); }

std::string Describe(const Access& a) {
  return absl::StrCat(a.verb, " ", a.group.empty() ? "" : a.group + "/", a.resource, " in ",
                      a.ns.empty() ? "(cluster)" : a.ns);
}

class ChartRbacTest : public ChartRunTest {
 protected:
  // Runs the chart's promconf containers (init --once, then the daemon until
  // it is ready and has posted an Event for the rejected fragment) against
  // the fake, and returns every API request they made.
  std::set<Access> Run(const Rendered& r, bool expect_event) {
    const std::string dir = dir_.path() + "/run" + absl::StrCat(renders_);
    fs::create_directories(dir);
    const std::string config = RunnableConfig(r, dir, kubeconfig_);
    const size_t log_before = api_->RequestLog().size();
    if (r.Container("promconf-init").IsDefined()) {
      ChildProcess::Result once =
          ChildProcess::Run(RunnableArgs(r, "promconf-init", config, 0), dir);
      EXPECT_EQ(once.exit_code, 0) << once.err;
    }
    const int port = PickFreeLoopbackPort();
    const size_t events_before = api_->EventsJson().size();
    {
      ChildProcess daemon(RunnableArgs(r, "promconf", config, port), dir + "/daemon.log",
                          dir + "/daemon.log");
      HttpClient http;
      EXPECT_TRUE(PollUntil([&] {
        HttpRequest req;
        req.url = absl::StrCat("http://127.0.0.1:", port, "/readyz");
        req.timeout = absl::Seconds(2);
        auto resp = http.Do(req);
        return resp.ok() && resp->status == 200;
      }, absl::Seconds(60))) << ReadWholeFile(dir + "/daemon.log");
      if (expect_event) {
        EXPECT_TRUE(PollUntil([&] { return api_->EventsJson().size() > events_before; },
                              absl::Seconds(30)))
            << ReadWholeFile(dir + "/daemon.log");
      }
      daemon.Signal(SIGTERM);
      EXPECT_EQ(daemon.Wait(absl::Seconds(30)), 0) << ReadWholeFile(dir + "/daemon.log");
    }
    std::set<Access> seen;
    const std::vector<std::string> log = api_->RequestLog();
    for (size_t i = log_before; i < log.size(); ++i) {
      if (std::optional<Access> a = ToAccess(log[i])) seen.insert(*a);
    }
    return seen;
  }

  // Every request is granted, and every granted rule outside `unexercised`
  // was needed by some request.
  void ExpectExactly(const std::set<Access>& granted, const std::set<Access>& seen,
                     const std::set<Access>& unexercised = {}) {
    for (const Access& a : seen) {
      EXPECT_TRUE(std::any_of(granted.begin(), granted.end(),
                              [&](const Access& g) { return Permits(g, a); }))
          << "promconf made a request the chart does not grant: " << Describe(a);
    }
    for (const Access& g : granted) {
      if (unexercised.count(g)) continue;
      EXPECT_TRUE(std::any_of(seen.begin(), seen.end(),
                              [&](const Access& a) { return Permits(g, a); }))
          << "the chart grants what promconf never asked for: " << Describe(g);
    }
  }
};

TEST_F(ChartRbacTest, ClusterWideRulesAreExactlyWhatPromconfRequests) {
  Rendered r = MustRender("mode: sidecar\n");
  ASSERT_EQ(r.code, 0);
  const std::set<Access> granted = GrantedRules(r, kFullname, kNamespace);
  const std::set<Access> seen = Run(r, /*expect_event=*/true);
  ASSERT_FALSE(seen.empty());
  ExpectExactly(granted, seen);
  EXPECT_EQ(granted, (std::set<Access>{{"list", "", "configmaps", "*"},
                                       {"watch", "", "configmaps", "*"},
                                       {"create", "", "events", "*"}}));
}

TEST_F(ChartRbacTest, SecretsAndNamespacedRulesAreExactlyWhatPromconfRequests) {
  Rendered r = MustRender(R"(config:
  sources:
    - name: teams
      kubernetes:
        namespaces: [team-a]
        label_selector: promconf.io/fragment=true
        resources: [configmaps, secrets]
)");
  ASSERT_EQ(r.code, 0);
  const std::set<Access> granted = GrantedRules(r, kFullname, kNamespace);
  const std::set<Access> seen = Run(r, /*expect_event=*/true);
  ExpectExactly(granted, seen);
  EXPECT_EQ(granted, (std::set<Access>{{"list", "", "configmaps", "team-a"},
                                       {"watch", "", "configmaps", "team-a"},
                                       {"list", "", "secrets", "team-a"},
                                       {"watch", "", "secrets", "team-a"},
                                       {"create", "", "events", "team-a"}}));
}

TEST_F(ChartRbacTest, ControllerRulesCoverTheLeaseAndThePublishedConfigMaps) {
  // Sources everywhere (a ClusterRole reads the release namespace too), and
  // sources elsewhere only (the writer Role alone covers the release namespace).
  for (const std::string& values :
       {std::string(kController),
        std::string(kController) + "config:\n  sources:\n  - name: teams\n    kubernetes:\n"
                                   "      namespaces: [team-a]\n"
                                   "      label_selector: promconf.io/fragment=true\n"}) {
    SCOPED_TRACE(values);
    Rendered r = MustRender(values);
    ASSERT_EQ(r.code, 0);
    const std::set<Access> granted = GrantedRules(r, kFullname, kNamespace);
    // The write side, as the controller code does it (client-go's LeaseLock:
    // get, create, update; the publisher: list its set by label, get to tell
    // a foreign ConfigMap from a race, create, update, delete stale ones), in
    // the release namespace only.
    const std::set<Access> writes = {{"get", "coordination.k8s.io", "leases", kNamespace},
                                     {"create", "coordination.k8s.io", "leases", kNamespace},
                                     {"update", "coordination.k8s.io", "leases", kNamespace},
                                     {"get", "", "configmaps", kNamespace},
                                     {"list", "", "configmaps", kNamespace},
                                     {"create", "", "configmaps", kNamespace},
                                     {"update", "", "configmaps", kNamespace},
                                     {"delete", "", "configmaps", kNamespace}};
    for (const Access& w : writes) EXPECT_TRUE(granted.count(w)) << Describe(w);
    const std::set<Access> seen = Run(r, /*expect_event=*/true);
    // Every request granted, every read rule used; a write rule a short run
    // cannot exercise (delete: only when the output shrinks by a shard; all
    // of them in a build without leader election and publishing) is held to
    // the list above.
    ExpectExactly(granted, seen, writes);
    std::vector<std::string> unexercised;
    for (const Access& w : writes) {
      if (std::none_of(seen.begin(), seen.end(), [&](const Access& a) { return Permits(w, a); })) {
        unexercised.push_back(Describe(w));
      }
    }
    if (!unexercised.empty()) {
      std::cout << "note: write rules not exercised by this run, checked against the expected "
                   "list only: "
                << absl::StrJoin(unexercised, "; ") << "\n";
    }
  }
}

TEST(ChartRbacRequestTest, RequestsMapToRbacVerbs) {
  auto a = ToAccess("GET /api/v1/namespaces/x/configmaps?labelSelector=a%3Db&watch=true&rv=1");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(Describe(*a), "watch configmaps in x");
  EXPECT_EQ(Describe(*ToAccess("GET /api/v1/configmaps?limit=500")),
            "list configmaps in (cluster)");
  EXPECT_EQ(Describe(*ToAccess("GET /apis/coordination.k8s.io/v1/namespaces/m/leases/l")),
            "get coordination.k8s.io/leases in m");
  EXPECT_EQ(Describe(*ToAccess("PUT /apis/coordination.k8s.io/v1/namespaces/m/leases/l")),
            "update coordination.k8s.io/leases in m");
  EXPECT_EQ(Describe(*ToAccess("POST /api/v1/namespaces/m/events")), "create events in m");
  EXPECT_EQ(Describe(*ToAccess("DELETE /api/v1/namespaces/m/configmaps/c-1")),
            "delete configmaps in m");
  EXPECT_FALSE(ToAccess("GET /api").has_value());
  EXPECT_FALSE(ToAccess("GET /version").has_value());
}

// --- kubectl's own decoding ---------------------------------------------------

// Every key of the rendered object that kubectl's typed round trip lost: a
// field the Kubernetes type does not have (typed decoding drops it silently).
void LostKeys(const YAML::Node& y, const rapidjson::Value& j, const std::string& path,
              std::vector<std::string>* lost) {
  if (y.IsMap()) {
    if (!j.IsObject()) {
      lost->push_back(path);
      return;
    }
    for (const auto& kv : y) {
      const std::string key = kv.first.Scalar();
      auto it = j.FindMember(key.c_str());
      if (it == j.MemberEnd()) {
        lost->push_back(path + "." + key);
      } else {
        LostKeys(kv.second, it->value, path + "." + key, lost);
      }
    }
  } else if (y.IsSequence()) {
    if (!j.IsArray() || j.Size() < y.size()) {
      lost->push_back(path);
      return;
    }
    for (size_t i = 0; i < y.size(); ++i) {
      LostKeys(y[i], j[static_cast<rapidjson::SizeType>(i)], absl::StrCat(path, "[", i, "]"),
               lost);
    }
  }
}

// Decodes `manifest` with kubectl's scheme, offline: `kubectl set env --local`
// builds typed objects (k8s.io/kubectl/pkg/scheme) from the file without a
// server, failing on an unknown kind or a field of the wrong type; for pod
// templates it prints the typed object back, so fields the type lacks show
// up as lost keys. "" when the manifest is the type it claims.
std::string KubectlDecodeProblem(const std::string& kubectl, const std::string& dir,
                                 const std::string& manifest) {
  const std::string file = dir + "/manifest.yaml";
  WriteFile(file, manifest);
  std::vector<std::string> env = BaseEnv(dir);
  env.push_back("KUBECONFIG=" + dir + "/no-kubeconfig");
  ChildProcess::Result r = ChildProcess::Run(
      {kubectl, "set", "env", "--local", "-f", file, "-o", "json", "PROMCONF_DECODE_CHECK=1"}, dir,
      absl::Seconds(60), env);
  YAML::Node doc = YAML::Load(manifest);
  const std::string kind = Str(At(doc, {"kind"}));
  if (r.exit_code != 0) {
    // Decoded, but not a pod template: kubectl names the Go type it built.
    if (absl::StrContains(r.err, "does not have a pod template: *v1." + kind + "\n") ||
        absl::EndsWith(absl::StripTrailingAsciiWhitespace(r.err), "*v1." + kind)) {
      return "";
    }
    return "kubectl: " + r.err;
  }
  rapidjson::Document typed;
  typed.Parse(r.out.c_str());
  if (typed.HasParseError()) return "kubectl printed no JSON: " + r.out;
  if (!typed.HasMember("kind") || typed["kind"].GetString() != kind) {
    return "kubectl decoded another kind: " + r.out;
  }
  std::vector<std::string> lost;
  LostKeys(doc, typed, "", &lost);
  if (!lost.empty()) return "fields " + kind + " does not have: " + absl::StrJoin(lost, ", ");
  return "";
}

TEST_F(ChartTest, EveryManifestDecodesAsItsKindWithKubectl) {
  const std::string kubectl = FindProgram("kubectl");
  if (kubectl.empty()) GTEST_SKIP() << "no kubectl";
  const std::string dir = dir_.path() + "/kubectl";
  fs::create_directories(dir);

  // The check itself: it rejects what a cluster would.
  const std::string deployment =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: REPLICAS\n"
      "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
      "    spec:\n      FIELD: {runAsUser: 1}\n      containers: [{name: c, image: i}]\n";
  auto deploy = [&](const std::string& replicas, const std::string& field) {
    std::string s = std::regex_replace(deployment, std::regex("REPLICAS"), replicas);
    return std::regex_replace(s, std::regex("FIELD"), field);
  };
  EXPECT_EQ(KubectlDecodeProblem(kubectl, dir, deploy("2", "securityContext")), "");
  EXPECT_THAT(KubectlDecodeProblem(kubectl, dir, deploy("\"two\"", "securityContext")),
              HasSubstr("cannot unmarshal string"));
  EXPECT_THAT(KubectlDecodeProblem(kubectl, dir, deploy("2", "securityContex")),
              HasSubstr("spec.template.spec.securityContex"));
  EXPECT_THAT(KubectlDecodeProblem(kubectl, dir,
                                   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
                                   "data: [1]\n"),
              HasSubstr("cannot unmarshal array"));
  EXPECT_THAT(KubectlDecodeProblem(kubectl, dir,
                                   "apiVersion: rbac.authorization.k8s.io/v1\nkind: Rol\n"
                                   "metadata: {name: x}\n"),
              HasSubstr("no kind \"Rol\""));

  int checked = 0;
  for (const std::string& values :
       {std::string("mode: sidecar\n"), std::string(kController),
        std::string("config:\n  sources:\n  - name: t\n    kubernetes: {namespaces: [a, b], "
                    "resources: [configmaps, secrets]}\nserviceMonitor: {enabled: true}\n")}) {
    Rendered r = MustRender(values);
    ASSERT_EQ(r.code, 0);
    ASSERT_EQ(r.docs.size(), r.texts.size());
    for (size_t i = 0; i < r.docs.size(); ++i) {
      const std::string kind = Str(At(r.docs[i], {"kind"}));
      if (kind == "ServiceMonitor") continue;  // a CRD: not in kubectl's scheme (checked above)
      EXPECT_EQ(KubectlDecodeProblem(kubectl, dir, r.texts[i]), "") << values << r.texts[i];
      ++checked;
    }
  }
  EXPECT_GE(checked, 15);
}

// --- the image ----------------------------------------------------------------

TEST_F(ChartTest, DockerfileRuntimeHasEveryLibraryPromconfLinks) {
  const std::string dockerfile = ReadWholeFile(PROMCONF_SOURCE_DIR "/Dockerfile");
  ASSERT_FALSE(dockerfile.empty());
  const size_t runtime = dockerfile.rfind("\nFROM ");
  ASSERT_NE(runtime, std::string::npos);
  const std::string stage = dockerfile.substr(runtime);
  EXPECT_TRUE(absl::StartsWith(stage, "\nFROM debian:12-slim")) << stage.substr(0, 40);
  EXPECT_THAT(dockerfile, HasSubstr("\nFROM debian:12 AS build"));
  EXPECT_THAT(dockerfile, HasSubstr("hack/install-deps.sh --build"));
  EXPECT_THAT(stage, HasSubstr("ENTRYPOINT [\"/usr/bin/promconf\"]"));  // exec form: no shell

  // In step with the chart: the user, and the tag (appVersion = CMake's VERSION).
  Rendered r = MustRender("mode: sidecar\n");
  const std::string uid = Str(At(r.PodSpec(), {"securityContext", "runAsUser"}));
  EXPECT_THAT(stage, HasSubstr("\nUSER " + uid + ":" + uid + "\n"));
  const YAML::Node chart = YAML::LoadFile(std::string(kChart) + "/Chart.yaml");
  const std::string app_version = Str(At(chart, {"appVersion"}));
  EXPECT_THAT(ReadWholeFile(PROMCONF_SOURCE_DIR "/CMakeLists.txt"),
              HasSubstr("project(promconf VERSION " + app_version + " "));
  EXPECT_EQ(Str(At(r.Container("promconf"), {"image"})), "ghcr.io/promconf/promconf:" + app_version);
  EXPECT_THAT(dockerfile, HasSubstr("docker build -t ghcr.io/promconf/promconf:" + app_version));

  // The runtime packages: the words of its `apt-get install` up to `&&`.
  const size_t install = stage.find("apt-get install");
  ASSERT_NE(install, std::string::npos);
  const std::string words = stage.substr(install, stage.find("&&", install) - install);
  std::set<std::string> packages;
  for (absl::string_view w : absl::StrSplit(words, absl::ByAnyChar(" \t\n\\"), absl::SkipEmpty())) {
    if (!absl::StartsWith(w, "-")) packages.insert(std::string(w));
  }

  if (FindProgram("ldd").empty() || FindProgram("dpkg").empty()) GTEST_SKIP() << "no ldd/dpkg";
  ChildProcess::Result ldd = ChildProcess::Run({FindProgram("ldd"), kPromconf}, dir_.path());
  ASSERT_EQ(ldd.exit_code, 0) << ldd.err;
  static const std::regex lib(R"((/[^ ]+\.so[^ ]*) \(0x)");
  std::vector<std::string> paths;
  for (absl::string_view line : absl::StrSplit(ldd.out, '\n')) {
    std::smatch m;
    std::string s(line);
    if (!std::regex_search(s, m, lib)) continue;
    // Sanitizer runtimes are in CI's sanitizer trees only, never in the image's Release build.
    if (std::regex_search(std::string(m[1]), std::regex(R"(/lib(a|ub|t|l)san\.)"))) continue;
    paths.push_back(m[1]);
  }
  // One dpkg -S for all (each call reads every package's file list), then
  // the /usr and canonical spellings of what usrmerge moved.
  std::map<std::string, std::string> owner;  // library path -> package
  auto ask_dpkg = [&](const std::vector<std::pair<std::string, std::string>>& queries) {
    std::vector<std::string> argv = {FindProgram("dpkg"), "-S"};
    for (const auto& [lib_path, query] : queries) argv.push_back(query);
    ChildProcess::Result r = ChildProcess::Run(argv, dir_.path(), absl::Seconds(120));
    for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
      const size_t sep = line.find(": /");
      if (sep == absl::string_view::npos) continue;
      const std::string package(line.substr(0, line.find_first_of(":,")));
      const std::string file(line.substr(sep + 2));
      for (const auto& [lib_path, query] : queries) {
        if (query == file && !owner.count(lib_path)) owner[lib_path] = package;
      }
    }
  };
  std::vector<std::pair<std::string, std::string>> queries;
  for (const std::string& p : paths) queries.push_back({p, p});
  ask_dpkg(queries);
  queries.clear();
  for (const std::string& p : paths) {
    if (owner.count(p)) continue;
    queries.push_back({p, "/usr" + p});
    queries.push_back({p, fs::weakly_canonical(p).string()});
  }
  if (!queries.empty()) ask_dpkg(queries);
  int libraries = 0;
  for (const std::string& p : paths) {
    ++libraries;
    auto it = owner.find(p);
    if (it == owner.end()) {
      ADD_FAILURE() << "no Debian package owns " << p;
      continue;
    }
    EXPECT_TRUE(packages.count(it->second))
        << p << " comes from " << it->second << ", which the Dockerfile's runtime stage lacks";
  }
  EXPECT_GE(libraries, 10) << ldd.out;
}

}  // namespace
}  // namespace promconf
