// helmrender renders a Helm chart the way `helm template` does, for tests on
// machines where helm itself cannot be installed. Built from Debian's Go
// packages only:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o helmrender ./tests/chart/helmrender
//
// It models helm 3's engine (pkg/engine, pkg/chartutil, pkg/releaseutil),
// written from reading helm's behaviour, not copied from it:
//   - text/template with sprig's TxtFuncMap minus env and expandenv, plus
//     include, tpl, required, fail, toYaml/mustToYaml, fromYaml,
//     fromYamlArray, toJson/mustToJson, fromJson, fromJsonArray, lookup
//     (always an empty map, as in `helm template`) and getHostByName ("" as
//     helm does without --enable-dns);
//   - missingkey=zero, then every "<no value>" in the output removed;
//   - templates parsed in helm's order (deeper paths first), partials (files
//     starting with "_") defined but not rendered, .Template.Name/BasePath set
//     per file, include recursion bounded;
//   - values: values.yaml and each -f file read with sigs.k8s.io/yaml (so
//     numbers are float64, as in helm), the -f files deep-merged in order,
//     then coalesced over the chart's defaults (maps merged, null deletes a
//     key), then validated against values.schema.json with
//     xeipuuv/gojsonschema (the validator helm used up to 3.17; helm 3.18+
//     and 4 use santhosh-tekuri/jsonschema, which is not packaged in Debian);
//   - .Release (Name, Namespace, IsInstall, IsUpgrade, Revision, Service),
//     .Chart (Chart.yaml's fields, helm's Metadata names), .Capabilities
//     (KubeVersion default v1.20.0 like helm 3, APIVersions: the built-in
//     groups listed below plus --api-versions), .Files (Get, GetBytes, Lines);
//   - output: each manifest as "---\n# Source: <file>\n<doc>\n", documents
//     split on "---" lines, heads parsed as YAML (a parse error fails the
//     render, as in helm), sorted stably by helm's install order of kinds;
//     NOTES.txt of the chart goes to --notes, not into the stream.
//
// Not modelled: subcharts, --set (use -f files), toToml/fromToml (no TOML
// library in Debian's gocode), hooks (rendered like any manifest), .helmignore.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"unicode"

	"github.com/Masterminds/sprig" // Debian: sprig v3 under its GOPATH name
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Metadata has the fields and names of helm 3's chart.Metadata, so templates
// see .Chart.Name, .Chart.AppVersion, ... and a typo is an error as in helm.
type Metadata struct {
	Name         string                   `json:"name,omitempty"`
	Home         string                   `json:"home,omitempty"`
	Sources      []string                 `json:"sources,omitempty"`
	Version      string                   `json:"version,omitempty"`
	Description  string                   `json:"description,omitempty"`
	Keywords     []string                 `json:"keywords,omitempty"`
	Maintainers  []map[string]interface{} `json:"maintainers,omitempty"`
	Icon         string                   `json:"icon,omitempty"`
	APIVersion   string                   `json:"apiVersion,omitempty"`
	Condition    string                   `json:"condition,omitempty"`
	Tags         string                   `json:"tags,omitempty"`
	AppVersion   string                   `json:"appVersion,omitempty"`
	Deprecated   bool                     `json:"deprecated,omitempty"`
	Annotations  map[string]string        `json:"annotations,omitempty"`
	KubeVersion  string                   `json:"kubeVersion,omitempty"`
	Dependencies []map[string]interface{} `json:"dependencies,omitempty"`
	Type         string                   `json:"type,omitempty"`
}

type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k KubeVersion) String() string     { return k.Version }
func (k KubeVersion) GitVersion() string { return k.Version }

type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type HelmVersion struct {
	Version      string
	GitCommit    string
	GitTreeState string
	GoVersion    string
}

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion HelmVersion
}

// Files are the chart's files that are not templates, values or Chart.yaml.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }
func (f Files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

// The API groups of a plain cluster (what `kubectl api-versions` lists for
// the built-in types helm knows); charts test these with .Capabilities.
var builtinAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1",
	"rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1", "networking.k8s.io/v1",
	"storage.k8s.io/v1", "scheduling.k8s.io/v1", "discovery.k8s.io/v1", "events.k8s.io/v1",
	"apiextensions.k8s.io/v1", "admissionregistration.k8s.io/v1", "certificates.k8s.io/v1",
	"node.k8s.io/v1",
}

// Helm's install order of kinds; unknown kinds go last, by name.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
}

const (
	errStart       = "HELM_ERR_START"
	errEnd         = "HELM_ERR_END"
	maxIncludeDeep = 1000
)

var errMarker = regexp.MustCompile(errStart + `((?s).*)` + errEnd)

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// mergeUserValues: later -f files win; maps merge, anything else replaces.
func mergeUserValues(base, over map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if vm, ok := v.(map[string]interface{}); ok {
			if bm, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeUserValues(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func deepCopy(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		m := make(map[string]interface{}, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []interface{}:
		s := make([]interface{}, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

func dropNils(m map[string]interface{}) {
	for k, v := range m {
		if v == nil {
			delete(m, k)
		} else if sub, ok := v.(map[string]interface{}); ok {
			dropNils(sub)
		}
	}
}

// coalesceTables puts the chart defaults `src` under the user's `dst`: the
// user's scalars and lists win, maps merge, and a user null removes the
// default (a null for a key the chart lacks stays, as in helm).
func coalesceTables(dst, src map[string]interface{}, prefix string, top bool, warn func(string)) {
	for k, sv := range src {
		dv, present := dst[k]
		switch {
		case present && dv == nil:
			if top || sv != nil {
				delete(dst, k)
			}
		case !present:
			if sv == nil {
				continue
			}
			if sm, ok := sv.(map[string]interface{}); ok {
				dropNils(sm)
			}
			dst[k] = sv
		default:
			sm, sIsMap := sv.(map[string]interface{})
			dm, dIsMap := dv.(map[string]interface{})
			switch {
			case sIsMap && dIsMap:
				dropNils(sm)
				coalesceTables(dm, sm, prefix+k+".", false, warn)
			case sIsMap:
				warn(fmt.Sprintf("warning: cannot overwrite table with non table for %s%s (%v)", prefix, k, sm))
			case dIsMap && sv != nil:
				warn(fmt.Sprintf("warning: destination for %s%s is a table. Ignoring non-table value (%v)", prefix, k, sv))
			}
		}
	}
}

func validateSchema(chartName string, schema []byte, values map[string]interface{}) error {
	// Helm validates the JSON form of the values (YAML -> JSON).
	y, err := yaml.Marshal(values)
	if err != nil {
		return err
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return err
	}
	if bytes.Equal(j, []byte("null")) {
		j = []byte("{}")
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(j))
	if err != nil {
		return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s", chartName, err)
	}
	if result.Valid() {
		return nil
	}
	var sb strings.Builder
	for _, e := range result.Errors() {
		fmt.Fprintf(&sb, "- %s\n", e)
	}
	return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s", chartName, sb.String())
}

func toYAML(v interface{}) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		return "" // helm swallows the error inside a template
	}
	return strings.TrimSuffix(string(out), "\n")
}

func mustToYAML(v interface{}) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		panic(err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	out, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(out)
}

func mustToJSON(v interface{}) string {
	out, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(out)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

type engine struct {
	depth map[string]int // include recursion per template name
}

// includeFor returns `include` bound to t: executes a named template into a
// string, failing past maxIncludeDeep nested calls of one name.
func (e *engine) includeFor(t *template.Template) func(string, interface{}) (string, error) {
	return func(name string, data interface{}) (string, error) {
		if e.depth[name] > maxIncludeDeep {
			return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
		}
		e.depth[name]++
		defer func() { e.depth[name]-- }()
		var buf strings.Builder
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
}

// tplFor returns `tpl` bound to t: the text is parsed in a clone of t (so it
// sees every define, and its own defines stay local) and executed with vals.
func (e *engine) tplFor(t *template.Template) func(string, interface{}) (string, error) {
	return func(text string, vals interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", fmt.Errorf("cannot clone template: %s", err)
		}
		clone.Option("missingkey=zero")
		clone.Funcs(template.FuncMap{"include": e.includeFor(clone), "tpl": e.tplFor(clone)})
		clone, err = clone.New(t.Name()).Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %s", text, err)
		}
		var buf strings.Builder
		if err := clone.Execute(&buf, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %s", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
}

func (e *engine) funcs(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	extra := template.FuncMap{
		"toYaml":        toYAML,
		"mustToYaml":    mustToYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"mustToJson":    mustToJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"include":       e.includeFor(t),
		"tpl":           e.tplFor(t),
		"required": func(msg string, v interface{}) (interface{}, error) {
			if v == nil {
				return v, errors.New(errStart + msg + errEnd)
			}
			if s, ok := v.(string); ok && s == "" {
				return v, errors.New(errStart + msg + errEnd)
			}
			return v, nil
		},
		"fail": func(msg string) (string, error) {
			return "", errors.New(errStart + msg + errEnd)
		},
		"lookup": func(string, string, string, string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"getHostByName": func(string) string { return "" },
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// templateOrder: deeper paths first, then by name descending, as helm
// parses them (later definitions of a name win).
func templateOrder(names []string) {
	sort.Slice(names, func(i, j int) bool {
		a, b := names[i], names[j]
		ca, cb := strings.Count(a, "/"), strings.Count(b, "/")
		if ca != cb {
			return ca > cb
		}
		return a > b
	})
}

func execError(file string, err error) error {
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %s", file, err)
	}
	if m := errMarker.FindStringSubmatch(tokens[2]); len(m) >= 2 {
		return fmt.Errorf("execution error at (%s): %s", tokens[1], m[1])
	}
	return err
}

func (e *engine) render(templates map[string]string, vals map[string]interface{}, basePath string) (out map[string]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rendering template failed: %v", r)
		}
	}()
	t := template.New("gotpl")
	t.Option("missingkey=zero")
	t.Funcs(e.funcs(t))
	names := make([]string, 0, len(templates))
	for n := range templates {
		names = append(names, n)
	}
	templateOrder(names)
	for _, n := range names {
		if _, err := t.New(n).Parse(templates[n]); err != nil {
			return nil, fmt.Errorf("parse error in (%s): %s", n, err)
		}
	}
	out = map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		vals["Template"] = map[string]interface{}{"Name": n, "BasePath": basePath}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, n, vals); err != nil {
			return nil, execError(n, err)
		}
		out[n] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*`)

type manifest struct {
	source, content, kind string
}

func splitAndSort(files map[string]string) ([]manifest, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var all []manifest
	for _, n := range names {
		content := files[n]
		if strings.HasPrefix(path.Base(n), "_") || strings.TrimSpace(content) == "" {
			continue
		}
		for _, doc := range docSeparator.Split(strings.TrimLeftFunc(content, unicode.IsSpace), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			doc = strings.TrimLeftFunc(doc, unicode.IsSpace)
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind,omitempty"`
				Metadata   *struct {
					Name        string            `json:"name"`
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata,omitempty"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: %s", n, err)
			}
			all = append(all, manifest{source: n, content: doc, kind: head.Kind})
		}
	}
	rank := map[string]int{}
	for i, k := range installOrder {
		rank[k] = i
	}
	sort.SliceStable(all, func(i, j int) bool {
		ri, iok := rank[all[i].kind]
		rj, jok := rank[all[j].kind]
		switch {
		case !iok && !jok:
			return all[i].kind < all[j].kind
		case !iok:
			return false
		case !jok:
			return true
		}
		return ri < rj
	})
	return all, nil
}

func run() error {
	var chartDir, release, namespace, kubeVersion, notesOut string
	var valueFiles, apiVersions multiFlag
	flag.StringVar(&chartDir, "chart", "", "the chart's directory")
	flag.StringVar(&release, "release", "release-name", "release name")
	flag.StringVar(&namespace, "namespace", "default", "release namespace")
	flag.StringVar(&kubeVersion, "kube-version", "v1.20.0", "Kubernetes version for .Capabilities")
	flag.StringVar(&notesOut, "notes", "", "write the rendered NOTES.txt here")
	flag.Var(&valueFiles, "f", "a values file (repeatable; later ones win)")
	flag.Var(&apiVersions, "api-versions", "an extra API version for .Capabilities (repeatable)")
	flag.Parse()
	if chartDir == "" || flag.NArg() != 0 {
		return errors.New("usage: helmrender --chart DIR [--release NAME] [--namespace NS] [-f values.yaml]... [--notes FILE]")
	}

	var meta Metadata
	chartYAML, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(chartYAML, &meta); err != nil {
		return fmt.Errorf("Chart.yaml: %w", err)
	}
	if meta.Name == "" || meta.Version == "" {
		return errors.New("Chart.yaml: name and version are required")
	}

	defaults := map[string]interface{}{}
	if _, err := os.Stat(filepath.Join(chartDir, "values.yaml")); err == nil {
		if defaults, err = readYAMLMap(filepath.Join(chartDir, "values.yaml")); err != nil {
			return err
		}
	}
	user := map[string]interface{}{}
	for _, f := range valueFiles {
		m, err := readYAMLMap(f)
		if err != nil {
			return err
		}
		user = mergeUserValues(user, m)
	}
	values := deepCopy(user).(map[string]interface{})
	coalesceTables(values, deepCopy(defaults).(map[string]interface{}), meta.Name+".", true,
		func(s string) { fmt.Fprintln(os.Stderr, s) })
	if schema, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json")); err == nil {
		if err := validateSchema(meta.Name, schema, values); err != nil {
			return err
		}
	}

	templates := map[string]string{}
	files := Files{}
	err = filepath.WalkDir(chartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			templates[path.Join(meta.Name, rel)] = string(data)
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json" ||
			strings.HasPrefix(rel, "charts/"):
		default:
			files[rel] = data
		}
		return nil
	})
	if err != nil {
		return err
	}

	kv := strings.TrimPrefix(kubeVersion, "v")
	parts := strings.SplitN(kv, ".", 3)
	if len(parts) < 2 {
		return fmt.Errorf("--kube-version %q: want vMAJOR.MINOR[.PATCH]", kubeVersion)
	}
	caps := &Capabilities{
		KubeVersion: KubeVersion{Version: "v" + kv, Major: parts[0], Minor: parts[1]},
		APIVersions: append(append(VersionSet{}, builtinAPIVersions...), apiVersions...),
		HelmVersion: HelmVersion{Version: "v3.17.0", GitTreeState: "clean", GoVersion: "go1.19"},
	}
	vals := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "IsInstall": true, "IsUpgrade": false,
			"Revision": 1, "Service": "Helm",
		},
		"Chart":        &meta,
		"Capabilities": caps,
		"Files":        files,
	}
	e := &engine{depth: map[string]int{}}
	rendered, err := e.render(templates, vals, path.Join(meta.Name, "templates"))
	if err != nil {
		return err
	}
	notesName := path.Join(meta.Name, "templates", "NOTES.txt")
	notes, hasNotes := rendered[notesName]
	for n := range rendered {
		if strings.HasSuffix(n, "NOTES.txt") {
			delete(rendered, n)
		}
	}
	if notesOut != "" && hasNotes {
		if err := os.WriteFile(notesOut, []byte(notes), 0o644); err != nil {
			return err
		}
	}
	manifests, err := splitAndSort(rendered)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for _, m := range manifests {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", m.source, m.content)
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
}
