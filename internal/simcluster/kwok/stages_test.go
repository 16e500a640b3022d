package kwok

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"
)

// The structs below mirror the parts of kwok's Stage API (kwok.x-k8s.io/v1alpha1)
// that our stages use. kwok decodes its configuration leniently, silently
// dropping misspelt fields; decoding strictly into these catches that here.
type stage struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		ResourceRef struct {
			APIGroup string `json:"apiGroup"`
			Kind     string `json:"kind"`
		} `json:"resourceRef"`
		Selector struct {
			MatchExpressions []struct {
				JQ struct {
					Key      string   `json:"key"`
					Operator string   `json:"operator"`
					Values   []string `json:"values"`
				} `json:"jq"`
			} `json:"matchExpressions"`
		} `json:"selector"`
		Delay *struct {
			DurationMilliseconds       *int64      `json:"durationMilliseconds"`
			JitterDurationMilliseconds *int64      `json:"jitterDurationMilliseconds"`
			DurationFrom               *expression `json:"durationFrom"`
		} `json:"delay"`
		Next struct {
			Delete  bool `json:"delete"`
			Patches []struct {
				Subresource string `json:"subresource"`
				Root        string `json:"root"`
				Template    string `json:"template"`
			} `json:"patches"`
		} `json:"next"`
	} `json:"spec"`
}

type expression struct {
	JQ struct {
		Expression string `json:"expression"`
	} `json:"jq"`
}

type kwokConfiguration struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Options    struct {
		ManageAllNodes                    bool   `json:"manageAllNodes"`
		ManageNodesWithAnnotationSelector string `json:"manageNodesWithAnnotationSelector"`
		CIDR                              string `json:"cidr"`
		NodeLeaseDurationSeconds          int    `json:"nodeLeaseDurationSeconds"`
		// kwok fails to start on a parallelism of 0, which it no longer defaults.
		NodeLeaseParallelism            int  `json:"nodeLeaseParallelism"`
		NodePlayStageParallelism        int  `json:"nodePlayStageParallelism"`
		PodPlayStageParallelism         int  `json:"podPlayStageParallelism"`
		PodsOnNodeSyncParallelism       int  `json:"podsOnNodeSyncParallelism"`
		EnablePodsOnNodeSyncListPager   bool `json:"enablePodsOnNodeSyncListPager"`
		EnablePodsOnNodeSyncStreamWatch bool `json:"enablePodsOnNodeSyncStreamWatch"`
	} `json:"options"`
}

// templateFuncs stands in for the functions kwok gives stage templates
// (sprig's, kwok's own and those of its node and pod controllers), so that
// templates can be parsed here.
var templateFuncs = func() template.FuncMap {
	m := template.FuncMap{}
	for _, name := range strings.Fields(`
		Now Quote YAML Version NodeConditions NodeIP NodeName NodePort NodeIPWith PodIPWith PodIP
		dict set get hasKey dig list append join toJson toString default ternary
		regexMatch regexFindAll regexReplaceAll hasSuffix trimSuffix sha256sum
		add1 sub int int64 float64 addf subf mulf divf minf round floor until`) {
		m[name] = func(...any) any { return nil }
	}
	return m
}()

func TestConfig(t *testing.T) {
	config, err := Config()
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(config), "\n---\n")

	var kc kwokConfiguration
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &kc); err != nil {
		t.Fatalf("KwokConfiguration: %v\n%s", err, docs[0])
	}
	if kc.APIVersion != "config.kwok.x-k8s.io/v1alpha1" || kc.Kind != "KwokConfiguration" ||
		kc.Options.ManageNodesWithAnnotationSelector != NodeAnnotation+"="+NodeAnnotationValue ||
		kc.Options.CIDR != PodCIDR || kc.Options.NodeLeaseDurationSeconds != NodeLeaseDurationSeconds ||
		kc.Options.ManageAllNodes || min(kc.Options.NodeLeaseParallelism, kc.Options.NodePlayStageParallelism,
		kc.Options.PodPlayStageParallelism, kc.Options.PodsOnNodeSyncParallelism) < 1 {
		t.Errorf("KwokConfiguration %+v", kc)
	}

	names := map[string]bool{}
	for _, doc := range docs[1:] {
		var s stage
		if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil {
			t.Errorf("stage: %v\n%s", err, doc)
			continue
		}
		name := s.Metadata.Name
		if s.APIVersion != "kwok.x-k8s.io/v1alpha1" || s.Kind != "Stage" || name == "" || names[name] {
			t.Errorf("stage %q: apiVersion %q, kind %q (or a duplicate name)", name, s.APIVersion, s.Kind)
		}
		names[name] = true
		if ref := s.Spec.ResourceRef; ref.APIGroup != "v1" || (ref.Kind != "Pod" && ref.Kind != "Node") {
			t.Errorf("stage %s: resourceRef %+v", name, ref)
		}
		if len(s.Spec.Selector.MatchExpressions) == 0 {
			t.Errorf("stage %s has no selector: it would match every object", name)
		}
		for _, e := range s.Spec.Selector.MatchExpressions {
			switch e.JQ.Operator {
			case "In", "NotIn":
				if len(e.JQ.Values) == 0 {
					t.Errorf("stage %s: %s without values", name, e.JQ.Operator)
				}
			case "Exists", "DoesNotExist":
				if len(e.JQ.Values) != 0 {
					t.Errorf("stage %s: %s with values", name, e.JQ.Operator)
				}
			default:
				t.Errorf("stage %s: operator %q", name, e.JQ.Operator)
			}
			if e.JQ.Key == "" {
				t.Errorf("stage %s: empty jq key", name)
			}
		}
		if !s.Spec.Next.Delete && len(s.Spec.Next.Patches) == 0 {
			t.Errorf("stage %s does nothing", name)
		}
		for _, p := range s.Spec.Next.Patches {
			if p.Subresource != "status" || p.Root != "status" {
				t.Errorf("stage %s: patch of %q rooted at %q, want the status", name, p.Subresource, p.Root)
			}
			if _, err := template.New(name).Funcs(templateFuncs).Parse(p.Template); err != nil {
				t.Errorf("stage %s: template: %v", name, err)
			}
		}
	}
	for _, want := range []string{"node-initialize", "node-heartbeat", "pod-start", "pod-delete", "pod-crash",
		"pod-crash-backoff", "pod-crash-restart", "pod-unready", "pod-ready", "pod-image-pull-fail", "pod-image-pull-backoff"} {
		if !names[want] {
			t.Errorf("no stage %s", want)
		}
	}
}

// TestNames checks that the stages use exactly the label and annotation names
// and values that the Go constants document.
func TestNames(t *testing.T) {
	config, err := Config()
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{BehaviorLabel, CrashAfterAnnotation, BackOffAnnotation, MaxBackOffAnnotation, TerminationDelayAnnotation}
	for _, used := range regexp.MustCompile(regexp.QuoteMeta(Prefix)+`[a-z-]+`).FindAllString(string(config), -1) {
		if !slices.Contains(keys, used) {
			t.Errorf("stages use %s, which no constant names", used)
		}
	}
	for _, key := range keys {
		if !bytes.Contains(config, []byte(`"`+key+`"`)) {
			t.Errorf("no stage reads %s", key)
		}
	}
	for _, value := range []string{BehaviorCrashLoop, BehaviorOOMKilled, BehaviorNotReady, BehaviorImagePullError} {
		if !bytes.Contains(config, []byte(`"`+value+`"`)) {
			t.Errorf("no stage handles %s=%s", BehaviorLabel, value)
		}
	}
}

func TestArgs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kwok")
	args, err := Args(dir, "kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	want := []string{"--kubeconfig=" + filepath.Join(wd, "kubeconfig"), "--config=" + filepath.Join(dir, ConfigFile)}
	if !slices.Equal(args, want) {
		t.Errorf("Args = %q, want %q", args, want)
	}
	written, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if config, _ := Config(); !bytes.Equal(written, config) {
		t.Errorf("the file differs from Config()")
	}
	if env := Env(dir); len(env) != 1 || env[0] != "KWOK_WORKDIR="+filepath.Join(dir, "workdir") {
		t.Errorf("Env = %q", env)
	}
}
