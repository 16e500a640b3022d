package derive_test

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
	"github.com/statefulset-exporter/statefulset-exporter/collector/derive/derivetest"
)

// The fuzz targets check that the derivations never panic and only produce bounded
// results from whatever objects they get. Their seed corpora live in
// testdata/fuzz/<FuzzName>/, so a plain `go test` runs them.

var fuzzNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

var (
	knownPodReasons = map[string]bool{"Unschedulable": true, "Pending": true, "Terminating": true, "NotReady": true,
		"Missing": true, "Failed": true, "other": true}
	knownPVCReasons   = setOf(derive.PVCReasons)
	knownProblems     = setOf(derive.ClaimProblems)
	knownRisks        = setOf(derive.RiskNames)
	knownWhy          = setOf(derive.WhyReasons)
	knownTerminations = setOf(derive.TerminationReasons)
)

// checkHealth asserts the invariants of one derivation.
func checkHealth(t *testing.T, fc *derivetest.Cluster, h *derive.Health) {
	t.Helper()
	pods, pvcs := len(fc.In.Pods), len(fc.In.PVCs)
	sum := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	phases := 0
	for _, n := range h.PodsByPhase {
		phases += n
	}
	if phases > pods || len(h.PodsByPhase) != len(derive.PodPhases) {
		t.Fatalf("pods by phase %v for %d pods", h.PodsByPhase, pods)
	}
	if sum(h.WaitingByReason) > pods || h.Unschedulable > pods || h.Terminating > pods ||
		len(h.StuckTerminating) > h.Terminating || h.PodsOnUnreadyNodes > pods || sum(h.ReadyPerZone) > pods {
		t.Fatalf("pod counts out of range for %d pods: %+v", pods, h)
	}
	for r := range h.WaitingByReason {
		if r != derive.WaitingOther && !derive.KnownWaitingReasons[r] {
			t.Fatalf("unbounded waiting reason %q", r)
		}
	}
	pvcPhaseCount := 0
	for _, n := range h.PVCsByPhase {
		pvcPhaseCount += n
	}
	if pvcPhaseCount > pvcs || len(h.PendingPVCs) > pvcs {
		t.Fatalf("PVC counts out of range for %d PVCs", pvcs)
	}
	for _, p := range h.PendingPVCs {
		if !knownPVCReasons[p.Reason] {
			t.Fatalf("unbounded PVC reason %q", p.Reason)
		}
	}
	if len(h.ClaimProblems) > 3*pvcs+len(fc.In.ReleasedVolumes) {
		t.Fatalf("%d claim problems for %d claims and %d released volumes", len(h.ClaimProblems), pvcs, len(fc.In.ReleasedVolumes))
	}
	for _, p := range h.ClaimProblems {
		if !knownProblems[p.Reason] {
			t.Fatalf("unbounded claim problem %q", p.Reason)
		}
	}
	if len(h.ZoneMismatch)+len(h.NoUsableNode) > fc.Volumes {
		t.Fatalf("%d mismatch and %d no-usable-node samples for %d pod volumes", len(h.ZoneMismatch), len(h.NoUsableNode), fc.Volumes)
	}
	if len(h.AttachmentErrors) > 2*fc.VAs*max(pvcs, 1) {
		t.Fatalf("%d attachment errors for %d attachments", len(h.AttachmentErrors), fc.VAs)
	}
	if h.ReadyRatio != nil && (*h.ReadyRatio < 0 || *h.ReadyRatio > 1 || math.IsNaN(*h.ReadyRatio)) {
		t.Fatalf("ready ratio %v", *h.ReadyRatio)
	}
	if h.GenerationLag < 0 {
		t.Fatalf("negative generation lag %d", h.GenerationLag)
	}
	for r := range h.Risks {
		if !knownRisks[r] {
			t.Fatalf("unknown risk %q", r)
		}
	}
	if h.Risks["no_governing_service"] && h.Risks["governing_service_not_headless"] {
		t.Fatal("the governing Service is both missing and not headless")
	}
	if _, known := h.Risks["no_governing_service"]; known != (fc.View.Services != nil) {
		t.Fatalf("no_governing_service known %v with Services watched %v", known, fc.View.Services != nil)
	}
	if h.RetainedPVCs > pvcs || len(h.AttachedElsewhere) > fc.Volumes*max(fc.VAs, 1) {
		t.Fatalf("%d retained of %d claims, %d attached elsewhere for %d pod volumes", h.RetainedPVCs, pvcs, len(h.AttachedElsewhere), fc.Volumes)
	}
	if len(h.NotReady) > pods {
		t.Fatalf("%d not-ready pods of %d", len(h.NotReady), pods)
	}
	for _, w := range h.NotReady {
		if !knownWhy[w.Reason] || (w.LastTermination != "" && w.LastTermination != "Other" && !knownTerminations[w.LastTermination]) {
			t.Fatalf("unbounded pod reason %+v", w)
		}
		if w.LastTermination != "" && w.Container == "" {
			t.Fatalf("termination reason without a container: %+v", w)
		}
	}
	containers, seen := 0, map[[2]string]bool{}
	for _, p := range fc.In.Pods {
		containers += derive.ContainerCount(p)
	}
	if len(h.RecentTerminations) > containers {
		t.Fatalf("%d recent terminations of %d containers", len(h.RecentTerminations), containers)
	}
	for _, rt := range h.RecentTerminations {
		if rt.Reason != "Other" && !knownTerminations[rt.Reason] {
			t.Fatalf("unbounded termination reason %+v", rt)
		}
		if k := [2]string{rt.Pod, rt.Container}; seen[k] {
			t.Fatalf("container %v listed twice: duplicate series", k)
		} else {
			seen[k] = true
		}
		if age := fc.Now.Sub(rt.FinishedAt); age > time.Hour {
			t.Fatalf("termination %v old, outside the window: %+v", age, rt)
		}
	}
	if b := h.Rollout.Blocking; b != nil && !knownPodReasons[b.Reason] && !derive.KnownWaitingReasons[b.Reason] {
		t.Fatalf("unbounded blocking reason %q", b.Reason)
	}
	if h.Rollout.Stalled && !h.Rollout.InProgress {
		t.Fatal("stalled without a rollout in progress")
	}
}

func FuzzDerive(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x02\x00web\x01\x03\x00\x00\x00\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fc := derivetest.NewCluster(data, fuzzNow)
		th := derive.Thresholds{RolloutStallAfter: 10 * time.Minute, TerminatingStuckAfter: 5 * time.Minute, RecentTerminationWindow: time.Hour}
		h, progress := derive.Derive(fc.In, fc.View, nil, fc.Now, th)
		checkHealth(t, fc, h)
		// A second derivation later, with the remembered progress.
		h2, _ := derive.Derive(fc.In, fc.View, progress, fc.Now.Add(time.Hour), th)
		checkHealth(t, fc, h2)
		if h.Rollout.Known && h2.Rollout.LastProgress != h.Rollout.LastProgress {
			t.Fatalf("progress moved without a change: %v then %v", h.Rollout.LastProgress, h2.Rollout.LastProgress)
		}
	})
}

func FuzzVolumeZones(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 2, 1, 0, 2, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		pv, keys := derivetest.PVFrom(data)
		zones := derive.VolumeZones(derivetest.CompactPV(pv), keys)
		// Every zone is a value of an In expression on a zone key or of a zone label,
		// non-empty, sorted and unique.
		allowed := map[string]bool{}
		if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
			for _, term := range na.Required.NodeSelectorTerms {
				for _, e := range term.MatchExpressions {
					if e.Operator == corev1.NodeSelectorOpIn && slices.Contains(keys, e.Key) {
						for _, v := range e.Values {
							allowed[v] = true
						}
					}
				}
			}
		}
		for _, k := range keys {
			for _, z := range strings.Split(pv.Labels[k], "__") {
				allowed[z] = true
			}
		}
		for i, z := range zones {
			if z == "" || !allowed[z] {
				t.Fatalf("zone %q not from the PV (zones %q)", z, zones)
			}
			if i > 0 && zones[i-1] >= z {
				t.Fatalf("zones not sorted and unique: %q", zones)
			}
		}
		if zones != nil && len(zones) == 0 {
			t.Fatal("empty non-nil zones")
		}
		// A PV with a node affinity term that does not restrict a zone key, and no zone
		// label, is not pinned.
		hasLabel := false
		for _, k := range keys {
			hasLabel = hasLabel || strings.Trim(pv.Labels[k], "_") != ""
		}
		if na := pv.Spec.NodeAffinity; !hasLabel && na != nil && na.Required != nil {
			for _, term := range na.Required.NodeSelectorTerms {
				if derive.TermZoneValues(term, keys) == nil && zones != nil {
					t.Fatalf("a term leaves the zone free but the PV is pinned to %q", zones)
				}
			}
		}
	})
}

func FuzzClaimBase(f *testing.F) {
	for _, s := range []string{"data-web-0", "data-web-01", "data-web-2147483648", "-0", "a-", "", "data-web--1", "x-+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		base, ok := derive.ClaimBase(name)
		if !ok {
			if base != "" {
				t.Fatalf("ClaimBase(%q) = %q with ok=false", name, base)
			}
			return
		}
		ord, found := strings.CutPrefix(name, base+"-")
		if !found || base == "" {
			t.Fatalf("ClaimBase(%q) = %q: not a prefix", name, base)
		}
		n, err := strconv.ParseInt(ord, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt32 || strconv.FormatInt(n, 10) != ord {
			t.Fatalf("ClaimBase(%q) accepted the ordinal %q", name, ord)
		}
	})
}

func FuzzPodOrdinal(f *testing.F) {
	for _, s := range [][2]string{{"web", "web-0"}, {"web", "web-01"}, {"web", "web-+1"}, {"web", "web--1"}, {"", "-1"}, {"web", "web-"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, setName, podName string) {
		n, ok := derive.PodOrdinal(setName, podName)
		if !ok {
			if n != 0 {
				t.Fatalf("podOrdinal(%q, %q) = %d with ok=false", setName, podName, n)
			}
			return
		}
		// The ordinal is the canonical decimal the controller writes.
		if n < 0 || setName+"-"+strconv.Itoa(n) != podName {
			t.Fatalf("podOrdinal(%q, %q) = %d", setName, podName, n)
		}
	})
}

func FuzzPendingReason(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 0, 1, 1, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		fc := derivetest.NewCluster(data, fuzzNow)
		for _, c := range fc.In.PVCs {
			r := derive.PendingReason(c, fc.View)
			if !knownPVCReasons[r] {
				t.Fatalf("pendingReason = %q", r)
			}
			class, hasClass := derive.ClassOf(c)
			explicitNone := hasClass && class == ""
			if explicitNone != (r == derive.PVCNoStorageClass && hasClass) {
				t.Fatalf("class %q gave %q", class, r)
			}
		}
	})
}

func setOf(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}
