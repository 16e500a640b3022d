package collector

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/statefulset-exporter/statefulset-exporter/internal/metricsdoc"
)

var fqNamePattern = regexp.MustCompile(`fqName: "([^"]+)"`)

// descName reads the metric name out of a descriptor.
func descName(d *prometheus.Desc) string {
	m := fqNamePattern.FindStringSubmatch(d.String())
	if m == nil {
		return ""
	}
	return m[1]
}

// describedNames returns the names of every descriptor the collectors describe.
func describedNames(t *testing.T, cs ...prometheus.Collector) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, c := range cs {
		ch := make(chan *prometheus.Desc)
		go func() {
			c.Describe(ch)
			close(ch)
		}()
		for d := range ch {
			name := descName(d)
			if name == "" {
				t.Fatalf("cannot read the name of %s", d)
			}
			names[name] = true
		}
	}
	return names
}

func documentedMetrics(t *testing.T) map[string]string {
	t.Helper()
	metrics, err := metricsdoc.Load()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range metrics {
		out[m.Name] = m.Type
	}
	return out
}

// nameDiff returns the names only in a and only in b, sorted.
func nameDiff[A, B any](a map[string]A, b map[string]B) (onlyA, onlyB []string) {
	for n := range a {
		if _, ok := b[n]; !ok {
			onlyA = append(onlyA, n)
		}
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			onlyB = append(onlyB, n)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	return onlyA, onlyB
}

// checkDocumented reports, as errors, registered metrics missing from the reference and
// documented metrics that nothing registers.
func checkDocumented[A, B any](registered map[string]A, documented map[string]B) []string {
	var problems []string
	onlyRegistered, onlyDocumented := nameDiff(registered, documented)
	for _, n := range onlyRegistered {
		problems = append(problems, n+" is registered but not in docs/metrics.md")
	}
	for _, n := range onlyDocumented {
		problems = append(problems, n+" is in docs/metrics.md but the collectors do not export it")
	}
	return problems
}

// everyFamilyConfig is the default configuration with the opt-in families switched on.
func everyFamilyConfig() *Config {
	cfg := DefaultConfig()
	cfg.BindDurationHistogram = true
	return &cfg
}

func newBareCollector(t *testing.T) *Collector {
	t.Helper()
	cfg := *everyFamilyConfig()
	c, err := New(newFakeClient(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDocsListEveryDescribedMetric(t *testing.T) {
	described := describedNames(t, newBareCollector(t), versioncollector.NewCollector(ProgramName))
	for _, p := range checkDocumented(described, documentedMetrics(t)) {
		t.Error(p)
	}
}

func TestDocsCheckFailsOnAMissingName(t *testing.T) {
	described := describedNames(t, newBareCollector(t), versioncollector.NewCollector(ProgramName))
	documented := documentedMetrics(t)
	if len(checkDocumented(described, documented)) != 0 {
		t.Skip("the reference is out of date; TestDocsListEveryDescribedMetric reports how")
	}
	for _, name := range []string{"statefulset_pods", "statefulset_control_plane_lease_holder_info", "statefulset_exporter_build_info"} {
		lessDoc := map[string]string{}
		for k, v := range documented {
			if k != name {
				lessDoc[k] = v
			}
		}
		if p := checkDocumented(described, lessDoc); len(p) != 1 || !strings.Contains(p[0], name+" is registered but not in") {
			t.Errorf("dropping %s from the reference: problems %q", name, p)
		}
		lessReg := map[string]bool{}
		for k := range described {
			if k != name {
				lessReg[k] = true
			}
		}
		if p := checkDocumented(lessReg, documented); len(p) != 1 || !strings.Contains(p[0], name+" is in docs/metrics.md but the collectors do not export it") {
			t.Errorf("dropping %s from the collector: problems %q", name, p)
		}
	}
}

// richEnv builds a cluster in which every metric family has at least one sample.
func richEnv(t *testing.T) *testEnv {
	t.Helper()
	web := newStatefulSet("ns", "web", 3, withStatus(2, 1, 2, "web-rev1", "web-rev2"))
	db := newStatefulSet("ns", "db", 3, withClaimTemplates("data", "logs"))
	pvc0 := newPVC(db, "data", 0, corev1.ClaimBound)
	pvc1 := newPVC(db, "data", 1, corev1.ClaimBound)
	pending := newPVC(db, "data", 2, corev1.ClaimPending)
	objs := []runtime.Object{web, db,
		newNode("node-a", zoneKey, "a"), newNode("node-b", zoneKey, "b"),
		newPod(web, 0, withRevision("web-rev1")), newPod(web, 1, withRevision("web-rev1")),
		newPod(web, 2, withRevision("web-rev2"), waiting("CrashLoopBackOff", 3), terminatedAgo(0, "OOMKilled", time.Minute)),
		newPod(db, 0, onNode("node-b")), newPod(db, 1, unscheduled), newPod(db, 2, deletedAt(time.Hour, nil, nil)),
		pvc0, newZonalPV(pvc0, zoneKey, "a"), pvc1, newZonalPV(pvc1, zoneKey, "c"), pending,
		newPVC(db, "logs", 1, corev1.ClaimPending),
		newPVC(db, "logs", 0, corev1.ClaimLost, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv-gone" }),
		newPVC(db, "data", 3, corev1.ClaimBound), // retained after a scale-down
		newAttachment("va", pvc0.Spec.VolumeName, "node-b", true, false),
		attachedTo(newAttachment("va-lost-node", pvc0.Spec.VolumeName, "node-a", false, false)), // Multi-Attach: db-0 runs on node-b
		newPDB("ns", "web", matchingPDB()),
		newLease("kube-scheduler", "node-a_"+testUUID, 1),
	}
	env := newTestEnv(t, everyFamilyConfig(), objs...)
	bound := pending.DeepCopy()
	bound.Status.Phase, bound.Spec.VolumeName = corev1.ClaimBound, "pv-x"
	if _, err := env.client.CoreV1().PersistentVolumeClaims("ns").Update(context.Background(), bound, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bind observed and probe run", func() bool {
		mfs := gather(t, env.collector)
		return mfs["statefulset_pvc_bind_duration_seconds"] != nil && mfs["statefulset_exporter_api_last_success_timestamp_seconds"] != nil
	})
	return env
}

func TestEveryDocumentedMetricIsProduced(t *testing.T) {
	env := richEnv(t)
	mfs := gather(t, env.collector, versioncollector.NewCollector(ProgramName))
	produced := map[string]*dto.MetricFamily{}
	for name, mf := range mfs {
		if len(mf.GetMetric()) > 0 {
			produced[name] = mf
		}
	}
	documented := documentedMetrics(t)
	for _, p := range checkDocumented(produced, documented) {
		t.Error(p)
	}
	types := map[dto.MetricType]string{
		dto.MetricType_GAUGE: "gauge", dto.MetricType_COUNTER: "counter",
		dto.MetricType_HISTOGRAM: "histogram", dto.MetricType_SUMMARY: "summary",
	}
	for name, mf := range produced {
		if want, ok := documented[name]; ok && types[mf.GetType()] != want {
			t.Errorf("%s is a %s, documented as %s", name, types[mf.GetType()], want)
		}
	}
}

func TestWorkloadFamiliesCarryNamespaceAndStatefulSet(t *testing.T) {
	// The documented convention: every statefulset_ family carries namespace and
	// statefulset, except the exporter's own and the control-plane ones, which carry
	// namespace and lease; none uses a label that clashes with target labels.
	env := richEnv(t)
	clash := map[string]bool{"zone": true, "cluster": true, "region": true, "instance": true, "job": true}
	for name, mf := range gather(t, env.collector) {
		for _, m := range mf.GetMetric() {
			labels := map[string]bool{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
				if clash[l.GetName()] {
					t.Errorf("%s uses the reserved label %s", name, l.GetName())
				}
			}
			switch {
			case strings.HasPrefix(name, "statefulset_exporter_"):
			case strings.HasPrefix(name, "statefulset_control_plane_lease_"):
				if !labels["namespace"] || !labels["lease"] {
					t.Errorf("%s lacks namespace or lease: %v", name, m.GetLabel())
				}
			case !strings.HasPrefix(name, "statefulset_"):
				t.Errorf("%s lacks the exporter's prefix statefulset_", name)
			case !labels["namespace"] || !labels["statefulset"]:
				t.Errorf("%s lacks namespace or statefulset: %v", name, m.GetLabel())
			}
		}
	}
}
