// helmish renders a Helm chart offline, close to `helm template`: there is no
// helm binary on Debian (TESTBED.md §6), so the chart tests use this. Go
// text/template with sprig from Debian's packages, in GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o helmish ./tests/tools/helmish
//
// usage: helmish [-f VALUES.yaml]... [--release NAME] [--namespace NS]
//
//	[--skip-schema-validation] [--notes | --values-json] CHART_DIR
//
// What it does as Helm does:
//   - values: the chart's values.yaml, then each -f file merged over it the
//     way Helm coalesces them (maps merge key by key, anything else replaces,
//     null deletes a key), then converted to JSON types (every number a
//     float64, as in Helm);
//   - values.schema.json, when the chart has one, is checked against the merged
//     values before rendering (schema.go: the draft-07 subset charts use; an
//     unknown keyword is an error, so a schema never means more than is
//     checked); failures are listed as Helm lists them and exit 1;
//   - templates/**: files starting with _ are only parsed; the others are
//     rendered, split into YAML documents, parsed (a YAML error is fatal),
//     sorted in Helm's install order by kind and printed with "# Source:";
//   - functions: sprig (without env and expandenv, as in Helm), toYaml,
//     fromYaml, toJson, fromJson, include, tpl, required, fail, lookup
//     (always empty, as with `helm template`);
//   - .Values .Chart .Release .Capabilities (KubeVersion, APIVersions.Has)
//     .Template; missing values print as "" (Helm's missingkey=zero + cleanup).
//
// Not supported: subcharts, hooks, .Files, --set. --notes prints the rendered
// templates/NOTES.txt instead of the manifests; --values-json prints the
// merged values (after the schema check) as JSON; --skip-schema-validation
// skips the check, as helm's flag of that name does.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type options struct {
	chart      string
	values     []string
	release    string
	namespace  string
	notes      bool
	valuesJSON bool
	skipSchema bool
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: helmish [-f VALUES.yaml]... [--release NAME] [--namespace NS] [--skip-schema-validation] [--notes | --values-json] CHART_DIR")
	os.Exit(64)
}

func parseArgs(args []string) options {
	o := options{release: "release", namespace: "default"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 >= len(args) {
				usage()
			}
			i++
			return args[i]
		}
		switch {
		case a == "-f" || a == "--values":
			o.values = append(o.values, next())
		case a == "--release":
			o.release = next()
		case a == "--namespace" || a == "-n":
			o.namespace = next()
		case a == "--notes":
			o.notes = true
		case a == "--values-json":
			o.valuesJSON = true
		case a == "--skip-schema-validation":
			o.skipSchema = true
		case strings.HasPrefix(a, "-"):
			usage()
		default:
			if o.chart != "" {
				usage()
			}
			o.chart = a
		}
	}
	if o.chart == "" {
		usage()
	}
	return o
}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "Error: "+format+"\n", a...)
	os.Exit(1)
}

func readYAML(path string) map[string]interface{} {
	b, err := os.ReadFile(path)
	if err != nil {
		die("%v", err)
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &out); err != nil {
		die("failed to parse %s: %v", path, err)
	}
	return out
}

// coalesce merges src over dst as Helm does for -f files: maps merge key by
// key, a null in src deletes the key, anything else replaces.
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			dst[k] = coalesce(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

// jsonTypes converts YAML-decoded data to what encoding/json would give, as
// Helm's values are (numbers become float64).
func jsonTypes(v interface{}) (interface{}, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out interface{}
	err = json.Unmarshal(b, &out)
	return out, err
}

// toYAML: through JSON first, as Helm's toYaml (sigs.k8s.io/yaml) does, so a
// float64 15000000 prints as 15000000 rather than 1.5e+07.
func toYAML(v interface{}) (string, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var generic interface{}
	if err := yaml.Unmarshal(j, &generic); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(generic); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

type apiVersions []string

// Has reports whether an API group/version (or group/version/Kind) is known;
// `helm template` knows only the built-in ones, and so does this.
func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// Helm's install order (pkg/releaseutil/kind_sorter.go); unknown kinds last.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret",
	"SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
	"PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
	"RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
	"ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass",
	"Ingress", "APIService",
}

func kindRank(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	return len(installOrder)
}

var templatePos = regexp.MustCompile(`template: ([^:\s]+:\d+:\d+)`)

// cleanError shortens the error of a fail or required call as Helm does:
// "execution error at (airwave/templates/x.yaml:1:4): <message>".
func cleanError(name string, err error) string {
	msg := err.Error()
	for _, call := range []string{"error calling fail: ", "error calling required: "} {
		if i := strings.LastIndex(msg, call); i >= 0 {
			at := name
			if m := templatePos.FindStringSubmatch(msg); m != nil {
				at = m[1]
			}
			return fmt.Sprintf("execution error at (%s): %s", at, msg[i+len(call):])
		}
	}
	return fmt.Sprintf("execution error at (%s): %s", name, msg)
}

type manifest struct {
	source, kind, name, body string
}

func main() {
	o := parseArgs(os.Args[1:])
	chartName := filepath.Base(filepath.Clean(o.chart))

	meta := readYAML(filepath.Join(o.chart, "Chart.yaml"))
	values := readYAML(filepath.Join(o.chart, "values.yaml"))
	for _, f := range o.values {
		values = coalesce(values, readYAML(f))
	}
	jv, err := jsonTypes(values)
	if err != nil {
		die("values: %v", err)
	}
	vals, _ := jv.(map[string]interface{})
	if vals == nil {
		vals = map[string]interface{}{}
	}

	if b, err := os.ReadFile(filepath.Join(o.chart, "values.schema.json")); o.skipSchema {
		// as helm's --skip-schema-validation
	} else if err == nil {
		var schema interface{}
		if err := json.Unmarshal(b, &schema); err != nil {
			die("%s/values.schema.json: %v", chartName, err)
		}
		problems, err := validateSchema(schema, vals)
		if err != nil {
			die("%s/values.schema.json: %v", chartName, err)
		}
		if len(problems) > 0 {
			fmt.Fprintf(os.Stderr, "Error: values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n", chartName)
			for _, p := range problems {
				fmt.Fprintf(os.Stderr, "- %s\n", p)
			}
			os.Exit(1)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		die("%v", err)
	}
	if o.valuesJSON {
		b, _ := json.MarshalIndent(vals, "", "  ")
		fmt.Println(string(b))
		return
	}

	chart := map[string]interface{}{}
	for k, v := range meta {
		if k != "" {
			chart[strings.ToUpper(k[:1])+k[1:]] = v
		}
	}
	ctx := map[string]interface{}{
		"Values": vals,
		"Chart":  chart,
		"Release": map[string]interface{}{
			"Name": o.release, "Namespace": o.namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{
				"Version": "v1.30.0", "Major": "1", "Minor": "30", "GitVersion": "v1.30.0",
			},
			"APIVersions": apiVersions{"v1", "apps/v1", "batch/v1", "policy/v1",
				"networking.k8s.io/v1", "autoscaling/v2", "rbac.authorization.k8s.io/v1"},
		},
	}

	t := template.New("chart")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = func(v interface{}) string {
		s, err := toYAML(v)
		if err != nil {
			return ""
		}
		return s
	}
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		if j, err := jsonTypes(m); err == nil {
			if jm, ok := j.(map[string]interface{}); ok {
				return jm
			}
		}
		return m
	}
	funcs["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		// A template of its own: text/template cannot Clone a set that has
		// been executed, so named templates are not visible here.
		tt, err := template.New("tpl").Funcs(funcs).Option("missingkey=zero").Parse(text)
		var buf bytes.Buffer
		if err == nil {
			err = tt.Execute(&buf, data)
		}
		return buf.String(), err
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	funcs["lookup"] = func(...interface{}) map[string]interface{} { return map[string]interface{}{} }
	t.Funcs(funcs).Option("missingkey=zero")

	var files []string
	root := filepath.Join(o.chart, "templates")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		die("%v", err)
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			die("%v", err)
		}
		rel, _ := filepath.Rel(o.chart, f)
		name := chartName + "/" + filepath.ToSlash(rel)
		if _, err := t.New(name).Parse(string(b)); err != nil {
			die("parse error in %v", err)
		}
	}

	render := func(name string, tctx map[string]interface{}) string {
		var buf bytes.Buffer
		c := map[string]interface{}{}
		for k, v := range tctx {
			c[k] = v
		}
		c["Template"] = map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"}
		if err := t.ExecuteTemplate(&buf, name, c); err != nil {
			die("%s", cleanError(name, err))
		}
		return strings.ReplaceAll(buf.String(), "<no value>", "")
	}

	if o.notes {
		name := chartName + "/templates/NOTES.txt"
		if t.Lookup(name) == nil {
			die("%s has no templates/NOTES.txt", chartName)
		}
		fmt.Print(render(name, ctx))
		return
	}

	var out []manifest
	for _, f := range files {
		rel, _ := filepath.Rel(o.chart, f)
		name := chartName + "/" + filepath.ToSlash(rel)
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		text := render(name, ctx)
		for _, doc := range strings.Split("\n"+text, "\n---") {
			doc = strings.TrimSpace(doc)
			if doc == "" {
				continue
			}
			var obj map[string]interface{}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				die("YAML parse error on %s: %v\n%s", name, err, doc)
			}
			if obj == nil {
				continue // only comments
			}
			kind, _ := obj["kind"].(string)
			md, _ := obj["metadata"].(map[string]interface{})
			oname, _ := md["name"].(string)
			out = append(out, manifest{source: name, kind: kind, name: oname, body: doc})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return kindRank(out[i].kind) < kindRank(out[j].kind)
	})
	for _, m := range out {
		fmt.Printf("---\n# Source: %s\n%s\n", m.source, m.body)
	}
}
