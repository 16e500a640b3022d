package collector

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
	"github.com/statefulset-exporter/statefulset-exporter/collector/derive/derivetest"
)

// The fuzz targets check that the samples made from derivations, the label helpers,
// the transforms and the trackers only produce valid, bounded output from whatever
// objects they get (the derivations themselves are fuzzed in derive/). Their seed
// corpora live in testdata/fuzz/<FuzzName>/, so a plain `go test` runs them.

// checkSamples emits the health and checks every sample: valid and bounded label
// values, finite values, a bounded number of samples and no two samples of a family
// with the same labels.
func checkSamples(t *testing.T, fc *derivetest.Cluster, h *derive.Health) {
	t.Helper()
	seen := map[string]bool{}
	n := 0
	samples, _ := workloadSamples(h, &sampleBuilder{})
	for i := range samples {
		m := &samples[i]
		n++
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			t.Fatalf("%s: %v", m.Desc(), err)
		}
		key := descName(m.Desc())
		for _, l := range out.GetLabel() {
			v := l.GetValue()
			if !utf8.ValidString(v) || len(v) > maxLabelValueLength {
				t.Fatalf("%s: label %s=%q invalid or longer than %d", m.Desc(), l.GetName(), v, maxLabelValueLength)
			}
			key += "\xff" + l.GetName() + "=" + v
		}
		if g := out.GetGauge(); g != nil && (math.IsNaN(g.GetValue()) || math.IsInf(g.GetValue(), 0)) {
			t.Fatalf("%s: value %v", m.Desc(), g.GetValue())
		}
		if seen[key] && distinctAfterBounding(fc) {
			t.Fatalf("duplicate sample %q", key)
		}
		seen[key] = true
	}
	pods, pvcs := len(fc.In.Pods), len(fc.In.PVCs)
	if limit := 40 + 2*pods + 2*pvcs + 2*fc.Volumes + 2*fc.VAs*max(pvcs, 1) + len(derive.WaitingReasons); n > limit {
		t.Fatalf("%d samples for %d pods, %d PVCs, %d volumes (limit %d)", n, pods, pvcs, fc.Volumes, limit)
	}
}

// distinctAfterBounding tells whether pod and PVC names stay distinct once made label
// values (the API only has valid, short names; the fuzzer makes others).
func distinctAfterBounding(fc *derivetest.Cluster) bool {
	seen := map[string]bool{}
	for _, p := range fc.In.Pods {
		b := "pod\xff" + boundedLabel(p.GetName())
		if seen[b] {
			return false
		}
		seen[b] = true
	}
	for _, c := range fc.In.PVCs {
		b := "pvc\xff" + boundedLabel(c.GetName())
		if seen[b] {
			return false
		}
		seen[b] = true
	}
	return true
}

func FuzzWorkloadSamples(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x02\x00web\x01\x03\x00\x00\x00\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fc := derivetest.NewCluster(data, testNow)
		cfg := DefaultConfig()
		h, _ := derive.Derive(fc.In, fc.View, nil, fc.Now, cfg.thresholds())
		checkSamples(t, fc, h)
	})
}

// FuzzTransformPV checks that the informer transform keeps what the derivations read
// of a PersistentVolume.
func FuzzTransformPV(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 2, 1, 0, 2, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		pv, keys := derivetest.PVFrom(data)
		zones := derive.VolumeZones(derivetest.CompactPV(pv), keys) // every label kept
		slim, _ := zoneTransforms{zoneKeys: keys}.transformPV(pv)
		if got := derive.VolumeZones(slim.(*derive.PV), keys); strings.Join(got, ",") != strings.Join(zones, ",") {
			t.Fatalf("zones %q before the transform, %q after", zones, got)
		}
	})
}

func FuzzHolderLabel(f *testing.F) {
	for _, s := range []string{"ip-10-0-1-2.ec2.internal_" + testUUID, "node", "\xff\xfe_" + testUUID, strings.Repeat("é", 200), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, identity string) {
		got := holderLabel(identity)
		if !utf8.ValidString(got) || len(got) > maxLabelValueLength {
			t.Fatalf("holderLabel(%q) = %q: invalid or too long", identity, got)
		}
		stripped := uuidSuffix.ReplaceAllString(identity, "")
		if utf8.ValidString(identity) && len(stripped) <= maxLabelValueLength && got != stripped {
			t.Fatalf("holderLabel(%q) = %q, want %q", identity, got, stripped)
		}
		if !strings.HasPrefix(strings.ToValidUTF8(stripped, "\uFFFD"), got) {
			t.Fatalf("holderLabel(%q) = %q is not a prefix of the identity", identity, got)
		}
		if _, err := prometheus.NewConstMetric(prometheus.NewDesc("x", "x", []string{"holder"}, nil), prometheus.GaugeValue, 1, got); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzCounters drives the restart and lease trackers with arbitrary sequences of
// observations: their counters never decrease and count at least every change seen.
func FuzzCounters(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 5, 1, 1, 0, 2, 3, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := derivetest.NewInput(data)
		rt := newRestartTracker()
		var cached *derive.Pod // the pod cache's web-0
		leases := newLeaseTracker()
		set := newStatefulSet("ns", "web", 1)
		var lastRestarts, lastTransitions float64
		lastHolder, seenLease, changes := "", false, 0.0
		for range 64 {
			if in.Empty() {
				break
			}
			switch in.Intn(4) {
			case 0: // the pod is added, or updated, possibly recreated under a new UID
				p := derive.PodFrom(newPod(set, 0, withUID(fmt.Sprintf("uid-%d", in.Intn(3))), restarts(in.Int32Choice())))
				rt.observe(cached, p)
				cached = p
			case 1: // the pod is deleted
				cached = nil
			default:
				holder := in.Pick("a", "b", "", "a_"+testUUID)
				l := newLease("l", holder, in.Int32Choice())
				if in.Bool() {
					l.Spec.HolderIdentity = nil
					holder = ""
				}
				if in.Bool() {
					l.Spec.LeaseTransitions = nil
				}
				if seenLease && holder != "" && holder != lastHolder {
					changes++
				}
				if holder != "" || !seenLease {
					lastHolder = holder
				}
				seenLease = true
				leases.observe(l, testNow)
			}
			if r := rt.total("ns/web"); r < lastRestarts {
				t.Fatalf("restarts dropped from %v to %v", lastRestarts, r)
			} else {
				lastRestarts = r
			}
			tr, _, _ := leases.state("kube-system", "l")
			if tr < lastTransitions || tr < changes {
				t.Fatalf("transitions %v after %v, with %v holder changes seen", tr, lastTransitions, changes)
			}
			lastTransitions = tr
		}
	})
}
