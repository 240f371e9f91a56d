// yamlcheck reads what promconf rendered the way Prometheus does and checks
// it against the tree promconf meant to write.
//
// Usage: yamlcheck DIR
//
// DIR holds cases: NAME.out (the rendered bytes), NAME.want (the expected
// tree, JSON, see below) and NAME.mode, one or more of "v2" (gopkg.in/yaml.v2,
// Prometheus' config parser), "v3" (gopkg.in/yaml.v3, its rule file parser)
// and "json" (encoding/json, file_sd's .json reader; the bytes must also be
// valid UTF-8 without a raw U+2028/U+2029). Each case is decoded with each
// mode and compared; one line per mismatch goes to stdout, then
// "checked N cases". Exit status 0 unless the tool itself failed.
//
// The expected tree: {"n":0} null, {"q":"s"} a string (quoted in promconf's
// tree: any reader must give exactly this string), {"p":"text"} a plain
// scalar (the reader's value printed with %v must equal text),
// {"m":[["key",TREE],...]} a mapping with exactly these string keys,
// {"s":[TREE,...]} a sequence.
//
// Built by tests with GOPATH=/usr/share/gocode GO111MODULE=off against
// Debian's golang-gopkg-yaml.v2-dev and golang-gopkg-yaml.v3-dev.
package main

import (
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	yaml2 "gopkg.in/yaml.v2"
	yaml3 "gopkg.in/yaml.v3"
)

func lookup(got interface{}, key string) (interface{}, bool, int, bool) {
	switch m := got.(type) {
	case map[interface{}]interface{}:
		v, ok := m[key]
		return v, ok, len(m), true
	case map[string]interface{}:
		v, ok := m[key]
		return v, ok, len(m), true
	}
	return nil, false, 0, false
}

func keysOf(got interface{}) string {
	var keys []string
	switch m := got.(type) {
	case map[interface{}]interface{}:
		for k := range m {
			keys = append(keys, fmt.Sprintf("%#v", k))
		}
	case map[string]interface{}:
		for k := range m {
			keys = append(keys, fmt.Sprintf("%q", k))
		}
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func compare(path string, want interface{}, got interface{}) string {
	w, ok := want.(map[string]interface{})
	if !ok || len(w) != 1 {
		return fmt.Sprintf("%s: bad expectation %v", path, want)
	}
	for kind, v := range w {
		switch kind {
		case "n":
			if got != nil {
				return fmt.Sprintf("%s: want null, got %#v", path, got)
			}
		case "q":
			s, ok := got.(string)
			if !ok || s != v.(string) {
				return fmt.Sprintf("%s: want string %q, got %#v", path, v, got)
			}
		case "p":
			if fmt.Sprintf("%v", got) != v.(string) {
				return fmt.Sprintf("%s: want plain %q, got %#v", path, v, got)
			}
		case "s":
			items := v.([]interface{})
			g, ok := got.([]interface{})
			if !ok || len(g) != len(items) {
				return fmt.Sprintf("%s: want a sequence of %d, got %#v", path, len(items), got)
			}
			for i := range items {
				if d := compare(fmt.Sprintf("%s[%d]", path, i), items[i], g[i]); d != "" {
					return d
				}
			}
		case "m":
			entries := v.([]interface{})
			_, _, n, isMap := lookup(got, "")
			if !isMap || n != len(entries) {
				return fmt.Sprintf("%s: want a mapping of %d keys, got %#v (keys %s)", path, len(entries), got, keysOf(got))
			}
			for _, e := range entries {
				pair := e.([]interface{})
				key := pair[0].(string)
				gv, found, _, _ := lookup(got, key)
				if !found {
					return fmt.Sprintf("%s: key %q missing (keys %s)", path, key, keysOf(got))
				}
				if d := compare(path+"."+key, pair[1], gv); d != "" {
					return d
				}
			}
		default:
			return fmt.Sprintf("%s: bad expectation kind %q", path, kind)
		}
	}
	return ""
}

func decode(mode string, data []byte) (interface{}, error) {
	var v interface{}
	var err error
	switch mode {
	case "v2":
		err = yaml2.UnmarshalStrict(data, &v)
	case "v3":
		err = yaml3.Unmarshal(data, &v)
	case "json":
		if !utf8.Valid(data) {
			return nil, fmt.Errorf("not valid UTF-8")
		}
		if strings.ContainsAny(string(data), "\u2028\u2029") {
			return nil, fmt.Errorf("raw U+2028 or U+2029")
		}
		err = json.Unmarshal(data, &v)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	return v, err
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: yamlcheck DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	outs, err := filepath.Glob(filepath.Join(dir, "*.out"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sort.Strings(outs)
	checked := 0
	for _, out := range outs {
		name := strings.TrimSuffix(out, ".out")
		data, err1 := ioutil.ReadFile(out)
		wantBytes, err2 := ioutil.ReadFile(name + ".want")
		modes, err3 := ioutil.ReadFile(name + ".mode")
		if err1 != nil || err2 != nil || err3 != nil {
			fmt.Fprintln(os.Stderr, "reading case", name, err1, err2, err3)
			os.Exit(2)
		}
		var want interface{}
		if err := json.Unmarshal(wantBytes, &want); err != nil {
			fmt.Fprintln(os.Stderr, "bad expectation", name, err)
			os.Exit(2)
		}
		base := filepath.Base(name)
		for _, mode := range strings.Fields(string(modes)) {
			got, err := decode(mode, data)
			if err != nil {
				fmt.Printf("%s %s: does not parse: %v\n", base, mode, err)
				continue
			}
			if d := compare("$", want, got); d != "" {
				fmt.Printf("%s %s: %s\n", base, mode, d)
			}
		}
		checked++
	}
	fmt.Printf("checked %d cases\n", checked)
}
