package mixin

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

func TestConfigKey(t *testing.T) {
	for field, want := range map[string]string{
		"Selector":            "selector",
		"NoReplicasReadyFor":  "noReplicasReadyFor",
		"PVCPendingThreshold": "pvcPendingThreshold",
		"APIUnreachableFor":   "apiUnreachableFor",
		"HAPostureFor":        "haPostureFor",
		"EKS":                 "eks",
		"RunbookURLPattern":   "runbookURLPattern",
		"X":                   "x",
	} {
		if got := configKey(field); got != want {
			t.Errorf("configKey(%q) = %q, want %q", field, got, want)
		}
	}
}

// TestEveryFieldSettable sets each field of Config, whatever fields it has, to a value
// other than its default from a one-key file, and checks that exactly that field changed.
func TestEveryFieldSettable(t *testing.T) {
	def := DefaultConfig()
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			want := def
			literal := otherValue(t, reflect.ValueOf(&want).Elem().Field(i))
			data := configKey(f.Name) + ": " + literal + "\n"
			got, err := decodeConfig([]byte(data), def)
			if err != nil {
				t.Fatalf("%q: %v", data, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%q (-want +got):\n%s", data, diff)
			}
			if reflect.DeepEqual(got, def) {
				t.Errorf("%q left the default", data)
			}
		})
	}
}

// otherValue changes v to a value other than its current one and returns it as YAML.
func otherValue(t *testing.T, v reflect.Value) string {
	t.Helper()
	if v.Type() == durationType {
		d := time.Duration(v.Int()) + 1*time.Hour + 2*time.Minute + 3*time.Second
		v.SetInt(int64(d))
		return model.Duration(d).String()
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "-other")
		return strconv.Quote(v.String())
	case reflect.Bool:
		v.SetBool(!v.Bool())
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float()*2 + 1)
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice, reflect.Map, reflect.Struct, reflect.Pointer:
		// A fresh value with changed parts, written by the encoder.
		n := reflect.New(v.Type()).Elem()
		switch v.Kind() {
		case reflect.Slice:
			e := reflect.New(v.Type().Elem()).Elem()
			otherValue(t, e)
			n = reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), e)
		case reflect.Map:
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			otherValue(t, k)
			otherValue(t, e)
			n = reflect.MakeMap(v.Type())
			n.SetMapIndex(k, e)
		case reflect.Pointer:
			n = reflect.New(v.Type().Elem())
			otherValue(t, n.Elem())
		case reflect.Struct:
			n.Set(v)
			for i := range n.NumField() {
				if n.Type().Field(i).IsExported() {
					otherValue(t, n.Field(i))
				}
			}
		}
		v.Set(n)
		node, err := encodeValue(v)
		if err != nil {
			t.Fatal(err)
		}
		node.Style = yaml.FlowStyle // one line after the key
		b, err := yamlMarshalNode(node)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(b)
	}
	t.Fatalf("no other value for a field of type %s: extend otherValue", v.Type())
	return ""
}

func TestUnknownKey(t *testing.T) {
	_, err := ParseConfig([]byte("selector: job=\"x\"\nnoReplicasReadyfor: 10m\n"), DefaultConfig())
	if err == nil {
		t.Fatal("no error for an unknown key")
	}
	keys, kerr := ConfigKeys()
	if kerr != nil {
		t.Fatal(kerr)
	}
	for _, want := range []string{`"noReplicasReadyfor"`, "line 2", `did you mean "noReplicasReadyFor"`, keys[0].Key, keys[len(keys)-1].Key} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"noReplicasReadyFor: 10 minutes\n", `noReplicasReadyFor: "10 minutes" is not a duration`},
		{"noReplicasReadyFor: 10\n", `noReplicasReadyFor: "10" is not a duration`},
		{"noReplicasReadyFor: [10m]\n", `noReplicasReadyFor: want a duration`},
		{"noReplicasReadyFor:\n", "noReplicasReadyFor has no value"},
		{"multiCluster: sometimes\n", `multiCluster: want boolean, not "sometimes"`},
		{"leaderChangesThreshold: 2.5\n", `leaderChangesThreshold: want integer, not "2.5"`},
		{"noLeaderFor: 1m\nnoLeaderFor: 2m\n", `line 2: key "noLeaderFor" appears twice`},
		{"- selector\n", "the configuration: want a mapping"},
		{"selector: [\n", "yaml:"},
		// The result goes through Config.Validate.
		{"selector: \"\"\n", "Selector must not be empty"},
		{"selector: '{job=\"x\"}'\n", "without braces"},
		{"runbookURLPattern: https://example.com/runbooks\n", "has no %s"},
	} {
		_, err := ParseConfig([]byte(tc.data), DefaultConfig())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got error %v, want one containing %q", tc.data, err, tc.want)
		}
	}
}

func TestEmptyFileKeepsBase(t *testing.T) {
	for _, data := range []string{"", "# nothing\n", "{}\n"} {
		got, err := ParseConfig([]byte(data), TestConfig())
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if diff := cmp.Diff(TestConfig(), got); diff != "" {
			t.Errorf("%q changed the base (-want +got):\n%s", data, diff)
		}
	}
}

func TestOverridesKeepOtherKeys(t *testing.T) {
	got, err := ParseConfig([]byte("noReplicasReadyFor: 1h30m\nmultiCluster: true\nclusterLabel: k8s_cluster\nrestartsThreshold: 5\n"), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.NoReplicasReadyFor = 90 * time.Minute
	want.MultiCluster = true
	want.ClusterLabel = "k8s_cluster"
	want.RestartsThreshold = 5
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestConfigYAMLRoundTrip writes configurations as files and reads them back.
func TestConfigYAMLRoundTrip(t *testing.T) {
	for name, c := range map[string]Config{"DefaultConfig": DefaultConfig(), "TestConfig": TestConfig()} {
		for _, comments := range []bool{false, true} {
			b, err := ConfigYAML(c, comments)
			if err != nil {
				t.Fatal(err)
			}
			// Read over a base that differs in every duration, so that a key missing
			// from the file shows.
			got, err := ParseConfig(b, otherBase())
			if err != nil {
				t.Fatalf("%s:\n%s\n%v", name, b, err)
			}
			if diff := cmp.Diff(c, got); diff != "" {
				t.Errorf("%s (comments %v) did not round-trip (-want +got):\n%s\n%s", name, comments, diff, b)
			}
		}
	}
}

func TestConfigYAMLComments(t *testing.T) {
	b, err := ConfigYAML(DefaultConfig(), true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "# Selector picks the exporter's series") ||
		!strings.Contains(string(b), "# not a single replica Ready: the workload is down\nnoReplicasReadyFor: 5m\n") {
		t.Errorf("comments missing:\n%s", b)
	}
}

func TestConfigKeysCoverEveryField(t *testing.T) {
	keys, err := ConfigKeys()
	if err != nil {
		t.Fatal(err)
	}
	var fields, got []string
	for i := range reflect.TypeFor[Config]().NumField() {
		if f := reflect.TypeFor[Config]().Field(i); f.IsExported() {
			fields = append(fields, f.Name)
		}
	}
	seen := map[string]bool{}
	for _, k := range keys {
		got = append(got, strings.SplitN(k.Field, ".", 2)[0])
		if seen[k.Key] {
			t.Errorf("key %q listed twice", k.Key)
		}
		seen[k.Key] = true
		if k.Type == "" || k.Default == "" {
			t.Errorf("key %q: no type or default: %+v", k.Key, k)
		}
	}
	got = slices.Compact(got)
	if !slices.Equal(fields, got) {
		t.Errorf("keys cover fields %v, Config has %v", got, fields)
	}
	byKey := map[string]ConfigKey{}
	for _, k := range keys {
		byKey[k.Key] = k
	}
	for key, want := range map[string]ConfigKey{
		"noReplicasReadyFor": {Key: "noReplicasReadyFor", Field: "NoReplicasReadyFor", Type: "duration", Default: "5m", Doc: "not a single replica Ready: the workload is down"},
		"multiCluster":       {Key: "multiCluster", Field: "MultiCluster", Type: "boolean", Default: "false", Doc: "MultiCluster adds ClusterLabel to aggregations, alert grouping and dashboard variables."},
	} {
		if diff := cmp.Diff(want, byKey[key]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", key, diff)
		}
	}
}

func TestConfigJSON(t *testing.T) {
	b, err := ConfigJSON(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"{\n  \"selector\": \"job=\\\"statefulset-exporter\\\"\",\n", `"noReplicasReadyFor": "5m",`, `"multiCluster": false,`, `"leaderChangesThreshold": 3,`, `"restartsThreshold": 3,`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("ConfigJSON lacks %s:\n%s", want, b)
		}
	}
}

// otherBase is DefaultConfig with every duration one second longer.
func otherBase() Config {
	c := DefaultConfig()
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		if v.Field(i).Type() == durationType {
			v.Field(i).SetInt(v.Field(i).Int() + int64(time.Second))
		}
	}
	return c
}

func yamlMarshalNode(n *yaml.Node) (string, error) {
	b, err := yaml.Marshal(n)
	return string(b), err
}
