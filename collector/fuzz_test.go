package collector

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// The fuzz targets check that the pure derivations never panic and only produce valid,
// bounded output from whatever objects they get. Their seed corpora live in
// testdata/fuzz/<FuzzName>/, so a plain `go test` runs them.

// fuzzInput decodes fuzzer bytes into choices. When the bytes run out every choice is
// the zero one, so short inputs give small, valid objects.
type fuzzInput struct{ b []byte }

func (f *fuzzInput) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *fuzzInput) intn(n int) int { return int(f.byte()) % n }

func (f *fuzzInput) bool() bool { return f.byte()&1 == 1 }

func (f *fuzzInput) int32() int32 {
	var buf [4]byte
	for i := range buf {
		buf[i] = f.byte()
	}
	return int32(binary.LittleEndian.Uint32(buf[:]))
}

// raw returns a string of arbitrary bytes, possibly invalid UTF-8 and up to ~1000 long.
func (f *fuzzInput) raw() string {
	n := int(f.byte())
	if n > 200 {
		// A long repetition: exercises the label length cap.
		return strings.Repeat(string(rune(f.byte())), 300+int(f.byte())*3)
	}
	n = min(n, len(f.b))
	s := string(f.b[:n])
	f.b = f.b[n:]
	return s
}

// pick returns one of dict, or now and then a raw string.
func (f *fuzzInput) pick(dict ...string) string {
	i := f.intn(len(dict) + 1)
	if i == len(dict) {
		return f.raw()
	}
	return dict[i]
}

// int32Choice returns an interesting int32: small, zero, negative, huge or arbitrary.
func (f *fuzzInput) int32Choice() int32 {
	switch f.intn(6) {
	case 0:
		return 0
	case 1:
		return int32(f.intn(5))
	case 2:
		return math.MaxInt32
	case 3:
		return -1
	case 4:
		return math.MinInt32
	}
	return f.int32()
}

func (f *fuzzInput) ordinal() string {
	switch f.intn(8) {
	case 0, 1, 2:
		return strconv.Itoa(f.intn(6))
	case 3:
		return "01"
	case 4:
		return "+1"
	case 5:
		return strconv.Itoa(math.MaxInt32)
	case 6:
		return "99999999999999999999"
	}
	return f.raw()
}

var (
	fuzzZones   = []string{"a", "b", "c", ""}
	fuzzNodes   = []string{"n0", "n1", "n2", "n3", ""}
	fuzzClasses = []string{"wffc", "immediate", "static", "missing", ""}
	fuzzReasons = []string{"CrashLoopBackOff", "ImagePullBackOff", "ContainerCreating", "PodInitializing", "Weird", ""}
)

func fuzzZoneKeys(f *fuzzInput) []string {
	switch f.intn(4) {
	case 0:
		return []string{"example.com/zone"}
	case 1:
		return []string{zoneKey}
	}
	return DefaultZoneLabels
}

func fuzzKey(f *fuzzInput, zoneKeys []string) string {
	return f.pick(append([]string{"kubernetes.io/hostname"}, zoneKeys...)...)
}

func fuzzPV(f *fuzzInput, name string, zoneKeys []string) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if f.bool() {
		pv.Labels = map[string]string{}
		for range f.intn(4) {
			var zones []string
			for range f.intn(4) {
				zones = append(zones, f.pick(fuzzZones...))
			}
			pv.Labels[fuzzKey(f, zoneKeys)] = strings.Join(zones, f.pick("__", ",", ""))
		}
	}
	switch f.intn(4) {
	case 0:
	case 1:
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{}
	default:
		ns := &corev1.NodeSelector{}
		for range f.intn(12) { // many terms
			var term corev1.NodeSelectorTerm
			for range f.intn(5) {
				e := corev1.NodeSelectorRequirement{Key: fuzzKey(f, zoneKeys),
					Operator: corev1.NodeSelectorOperator(f.pick("In", "NotIn", "Exists", "DoesNotExist"))}
				for range f.intn(5) {
					e.Values = append(e.Values, f.pick(fuzzZones...))
				}
				term.MatchExpressions = append(term.MatchExpressions, e)
			}
			ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, term)
		}
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: ns}
	}
	return pv
}

// fuzzCluster is a StatefulSet, its pods and PVCs and a cluster view, all from bytes.
type fuzzCluster struct {
	in      statefulSetInputs
	view    *clusterView
	now     time.Time
	volumes int // PVC volumes over all pods
	vas     int
}

func newFuzzCluster(data []byte) *fuzzCluster {
	f := &fuzzInput{b: data}
	zoneKeys := fuzzZoneKeys(f)
	fc := &fuzzCluster{now: testNow.Add(time.Duration(f.int32()) * time.Second)}
	setName := f.pick("web", "db", "a", "web-0", "")

	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: setName, Generation: int64(f.int32Choice())}}
	if f.intn(4) != 0 {
		set.Spec.Replicas = ptr.To(f.int32Choice())
	}
	if f.bool() {
		set.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	} else if f.bool() {
		set.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(f.int32Choice())}
	}
	set.Spec.PodManagementPolicy = appsv1.PodManagementPolicyType(f.pick("OrderedReady", "Parallel", ""))
	if f.bool() {
		set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: f.int32Choice()}
	}
	set.Spec.ServiceName = f.pick("svc", "")
	set.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: int64(f.int32Choice()), ReadyReplicas: f.int32Choice(), UpdatedReplicas: f.int32Choice(),
		CurrentReplicas: f.int32Choice(), AvailableReplicas: f.int32Choice(),
		CurrentRevision: f.pick("r1", "r2", ""), UpdateRevision: f.pick("r1", "r2", ""),
	}
	for range f.intn(4) {
		set.Spec.VolumeClaimTemplates = append(set.Spec.VolumeClaimTemplates,
			corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: f.pick("data", "wal", "")}})
	}
	if f.bool() {
		set.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To(int64(f.int32Choice()))
	}
	for range f.intn(3) {
		c := corev1.Container{Name: "c"}
		if f.bool() {
			c.ReadinessProbe = &corev1.Probe{}
		}
		set.Spec.Template.Spec.Containers = append(set.Spec.Template.Spec.Containers, c)
	}
	set.Spec.Template.Labels = map[string]string{"app": f.pick("web", "")}
	fc.in.set = set

	nodes := map[string]*corev1.Node{}
	for range f.intn(6) {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: f.pick(fuzzNodes...), Labels: map[string]string{}}}
		for range f.intn(4) { // several, possibly conflicting zone labels
			n.Labels[fuzzKey(f, zoneKeys)] = f.pick(fuzzZones...)
		}
		if f.bool() {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady,
				Status: corev1.ConditionStatus(f.pick("True", "False", "Unknown"))})
		}
		if f.bool() {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: f.pick(corev1.TaintNodeUnreachable, corev1.TaintNodeNotReady)})
		}
		n.Spec.Unschedulable = f.bool()
		nodes[n.Name] = n
	}

	seenPods := map[string]bool{}
	for range f.intn(10) {
		name := setName + "-" + f.ordinal()
		if f.intn(8) == 0 {
			name = f.raw()
		}
		if seenPods[name] {
			continue
		}
		seenPods[name] = true
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name),
			Labels:            map[string]string{appsv1.ControllerRevisionHashLabelKey: f.pick("r1", "r2", "")},
			CreationTimestamp: metav1.NewTime(fc.now.Add(-time.Duration(f.int32()) * time.Millisecond))}}
		p.Spec.NodeName = f.pick(fuzzNodes...)
		p.Status.Phase = corev1.PodPhase(f.pick("Pending", "Running", "Succeeded", "Failed", "Unknown", ""))
		for range f.intn(3) {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
				Type:   corev1.PodConditionType(f.pick("Ready", "PodScheduled")),
				Status: corev1.ConditionStatus(f.pick("True", "False", "Unknown")), Reason: f.pick("Unschedulable", ""),
				LastTransitionTime: metav1.NewTime(fc.now.Add(-time.Duration(f.int32()) * time.Millisecond)),
			})
		}
		for range f.intn(3) {
			s := corev1.ContainerStatus{RestartCount: f.int32Choice()}
			if f.bool() {
				s.State.Waiting = &corev1.ContainerStateWaiting{Reason: f.pick(fuzzReasons...)}
			}
			if f.bool() {
				p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, s)
			} else {
				p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, s)
			}
		}
		if f.bool() {
			p.DeletionTimestamp = ptr.To(metav1.NewTime(fc.now.Add(-time.Duration(f.int32()) * time.Second)))
			if f.bool() {
				p.DeletionGracePeriodSeconds = ptr.To(int64(f.int32Choice()))
			}
			if f.bool() {
				p.Spec.TerminationGracePeriodSeconds = ptr.To(int64(f.int32Choice()) * 1e9) // overflowing durations
			}
		}
		for range f.intn(4) {
			claim := f.pick("data", "wal", "") + "-" + name
			if f.intn(6) == 0 {
				claim = f.raw()
			}
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
			fc.volumes++
		}
		fc.in.pods = append(fc.in.pods, p)
	}

	pvcs := map[string]*corev1.PersistentVolumeClaim{}
	pvs := map[string]*corev1.PersistentVolume{}
	var pvNames []string
	for i := range f.intn(8) {
		name := f.pick("data", "wal", "") + "-" + setName + "-" + f.ordinal()
		if f.intn(8) == 0 {
			name = f.raw()
		}
		if pvcs[name] != nil {
			continue
		}
		c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name)}}
		if f.bool() {
			c.CreationTimestamp = metav1.NewTime(fc.now.Add(-time.Duration(f.int32()) * time.Second))
		}
		c.Status.Phase = corev1.PersistentVolumeClaimPhase(f.pick("Pending", "Bound", "Lost", ""))
		switch f.intn(3) {
		case 0:
		case 1:
			c.Spec.StorageClassName = ptr.To("")
		default:
			c.Spec.StorageClassName = ptr.To(f.pick(fuzzClasses...))
		}
		if f.bool() {
			c.Annotations = map[string]string{annSelectedNode: f.pick(fuzzNodes...)}
		}
		if f.bool() {
			c.Spec.VolumeName = "pv-" + strconv.Itoa(i)
			pvNames = append(pvNames, c.Spec.VolumeName)
			if f.intn(5) != 0 {
				pvs[c.Spec.VolumeName] = fuzzPV(f, c.Spec.VolumeName, zoneKeys)
			}
		}
		pvcs[name] = c
		fc.in.pvcs = append(fc.in.pvcs, c)
	}

	classes := map[string]*storagev1.StorageClass{}
	for _, name := range fuzzClasses[:3] {
		if f.intn(4) == 0 {
			continue
		}
		classes[name] = &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name},
			Provisioner:       f.pick(ebs, noProvisioner, ""),
			VolumeBindingMode: ptr.To(storagev1.VolumeBindingMode(f.pick("WaitForFirstConsumer", "Immediate", "")))}
	}

	vas := map[string][]*storagev1.VolumeAttachment{}
	attached := map[string]bool{}
	for range f.intn(6) {
		if len(pvNames) == 0 {
			break
		}
		pvName := pvNames[f.intn(len(pvNames))]
		va := &storagev1.VolumeAttachment{Spec: storagev1.VolumeAttachmentSpec{NodeName: f.pick(fuzzNodes...),
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pvName}}}
		// A VolumeAttachment's name is a hash of its attacher, PV and node: one per PV
		// and node.
		if k := pvName + "\xff" + boundedLabel(va.Spec.NodeName); attached[k] {
			continue
		} else {
			attached[k] = true
		}
		if f.bool() {
			va.Status.AttachError = &storagev1.VolumeError{}
		}
		if f.bool() {
			va.Status.DetachError = &storagev1.VolumeError{}
		}
		vas[pvName] = append(vas[pvName], va)
		fc.vas++
	}

	var pdbs []*policyv1.PodDisruptionBudget
	for range f.intn(3) {
		pdb := &policyv1.PodDisruptionBudget{}
		switch f.intn(4) {
		case 0:
		case 1:
			pdb.Spec.Selector = &metav1.LabelSelector{}
		case 2:
			pdb.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": f.pick("web", "x")}}
		default:
			pdb.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOperator(f.pick("In", "Bogus")), Values: []string{f.pick("web", "")}}}}
		}
		pdbs = append(pdbs, pdb)
	}

	schedulable := map[string]bool{}
	for _, n := range nodes {
		if z := zoneOf(n.Labels, zoneKeys); z != "" && nodeSchedulable(n) {
			schedulable[z] = true
		}
	}
	v := &clusterView{zoneKeys: zoneKeys, defaultStorageClass: f.pick(fuzzClasses...)}
	if f.intn(8) != 0 {
		v.node = func(name string) *corev1.Node { return nodes[name] }
		v.zoneSchedulable = func(zone string) bool { return schedulable[zone] }
	}
	if f.intn(8) != 0 {
		v.pvc = func(ns, name string) *corev1.PersistentVolumeClaim {
			if ns != "ns" {
				return nil
			}
			return pvcs[name]
		}
		v.pv = func(name string) *corev1.PersistentVolume { return pvs[name] }
	}
	if f.intn(8) != 0 {
		v.storageClass = func(name string) *storagev1.StorageClass { return classes[name] }
	}
	if f.bool() {
		v.attachments = func(pv string) []*storagev1.VolumeAttachment { return vas[pv] }
	}
	if f.bool() {
		v.pdbs = func(string) []*policyv1.PodDisruptionBudget { return pdbs }
	}
	fc.view = v
	return fc
}

var (
	knownPodReasons = map[string]bool{"Unschedulable": true, "Pending": true, "Terminating": true, "NotReady": true,
		"Missing": true, "Failed": true, "other": true}
	knownPVCReasons = map[string]bool{pvcWaitForFirstConsumer: true, pvcProvisioning: true, pvcNoStorageClass: true,
		pvcClassNotFound: true, pvcNoProvisioner: true, pvcOther: true}
	knownRisks = map[string]bool{riskSingleton: true, riskNoPDB: true, riskSingleZone: true, riskZeroGracePeriod: true, riskNoReadinessProbe: true}
)

// checkHealth asserts the invariants of one derivation.
func checkHealth(t *testing.T, fc *fuzzCluster, h *health) {
	t.Helper()
	pods, pvcs := len(fc.in.pods), len(fc.in.pvcs)
	sum := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	phases := 0
	for _, n := range h.podsByPhase {
		phases += n
	}
	if phases > pods || len(h.podsByPhase) != len(podPhases) {
		t.Fatalf("pods by phase %v for %d pods", h.podsByPhase, pods)
	}
	if sum(h.waitingByReason) > pods || h.unschedulable > pods || h.terminating > pods ||
		len(h.stuckTerminating) > h.terminating || h.podsOnUnreadyNodes > pods || sum(h.readyPerZone) > pods {
		t.Fatalf("pod counts out of range for %d pods: %+v", pods, h)
	}
	for r := range h.waitingByReason {
		if r != "other" && !knownWaitingReasons[r] {
			t.Fatalf("unbounded waiting reason %q", r)
		}
	}
	pvcPhaseCount := 0
	for _, n := range h.pvcsByPhase {
		pvcPhaseCount += n
	}
	if pvcPhaseCount > pvcs || len(h.pendingPVCs) > pvcs {
		t.Fatalf("PVC counts out of range for %d PVCs", pvcs)
	}
	for _, p := range h.pendingPVCs {
		if !knownPVCReasons[p.reason] {
			t.Fatalf("unbounded PVC reason %q", p.reason)
		}
	}
	if len(h.zoneMismatch) > fc.volumes || len(h.zoneWithoutNodes) > fc.volumes {
		t.Fatalf("%d mismatch and %d without-nodes samples for %d pod volumes", len(h.zoneMismatch), len(h.zoneWithoutNodes), fc.volumes)
	}
	if len(h.attachmentErrors) > 2*fc.vas*max(pvcs, 1) || h.failingAttachments > len(h.attachmentErrors) {
		t.Fatalf("%d attachment errors for %d attachments", len(h.attachmentErrors), fc.vas)
	}
	if h.readyRatio != nil && (*h.readyRatio < 0 || *h.readyRatio > 1 || math.IsNaN(*h.readyRatio)) {
		t.Fatalf("ready ratio %v", *h.readyRatio)
	}
	if h.generationLag < 0 {
		t.Fatalf("negative generation lag %d", h.generationLag)
	}
	for r := range h.risks {
		if !knownRisks[r] {
			t.Fatalf("unknown risk %q", r)
		}
	}
	if b := h.rollout.blocking; b != nil && !knownPodReasons[b.reason] && !knownWaitingReasons[b.reason] {
		t.Fatalf("unbounded blocking reason %q", b.reason)
	}
	if h.rollout.stalled && !h.rollout.inProgress {
		t.Fatal("stalled without a rollout in progress")
	}
}

// checkSamples emits the health and checks every sample: valid and bounded label
// values, finite values, a bounded number of samples and no two samples of a family
// with the same labels.
func checkSamples(t *testing.T, fc *fuzzCluster, h *health) {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() {
		emitWorkload(ch, h)
		close(ch)
	}()
	seen := map[string]bool{}
	n := 0
	for m := range ch {
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
	pods, pvcs := len(fc.in.pods), len(fc.in.pvcs)
	if limit := 40 + 2*pods + 2*pvcs + 2*fc.volumes + 2*fc.vas*max(pvcs, 1) + len(knownWaitingReasons); n > limit {
		t.Fatalf("%d samples for %d pods, %d PVCs, %d volumes (limit %d)", n, pods, pvcs, fc.volumes, limit)
	}
}

// distinctAfterBounding tells whether pod and PVC names stay distinct once made label
// values (the API only has valid, short names; the fuzzer makes others).
func distinctAfterBounding(fc *fuzzCluster) bool {
	seen := map[string]bool{}
	for _, p := range fc.in.pods {
		b := "pod\xff" + boundedLabel(p.Name)
		if seen[b] {
			return false
		}
		seen[b] = true
	}
	for _, c := range fc.in.pvcs {
		b := "pvc\xff" + boundedLabel(c.Name)
		if seen[b] {
			return false
		}
		seen[b] = true
	}
	return true
}

func FuzzDerive(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x02\x00web\x01\x03\x00\x00\x00\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fc := newFuzzCluster(data)
		cfg := DefaultConfig()
		h, progress := derive(fc.in, fc.view, nil, fc.now, &cfg)
		checkHealth(t, fc, h)
		checkSamples(t, fc, h)
		// A second derivation later, with the remembered progress.
		h2, _ := derive(fc.in, fc.view, progress, fc.now.Add(time.Hour), &cfg)
		checkHealth(t, fc, h2)
		if h.rollout.known && h2.rollout.lastProgress != h.rollout.lastProgress {
			t.Fatalf("progress moved without a change: %v then %v", h.rollout.lastProgress, h2.rollout.lastProgress)
		}
	})
}

func FuzzVolumeZones(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 2, 1, 0, 2, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		keys := fuzzZoneKeys(in)
		pv := fuzzPV(in, "pv", keys)
		zones := volumeZones(pv, keys)
		// Every zone is a value of an In expression on a zone key or of a zone label,
		// non-empty, sorted and unique.
		allowed := map[string]bool{}
		if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
			for _, term := range na.Required.NodeSelectorTerms {
				for _, e := range term.MatchExpressions {
					if e.Operator == corev1.NodeSelectorOpIn && contains(keys, e.Key) {
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
				if termZoneValues(term, keys) == nil && zones != nil {
					t.Fatalf("a term leaves the zone free but the PV is pinned to %q", zones)
				}
			}
		}
		// The informer transform keeps what volumeZones reads.
		slim, _ := zoneTransforms{zoneKeys: keys}.transformPV(pv)
		if got := volumeZones(slim.(*corev1.PersistentVolume), keys); strings.Join(got, ",") != strings.Join(zones, ",") {
			t.Fatalf("zones %q before the transform, %q after", zones, got)
		}
	})
}

func FuzzClaimBase(f *testing.F) {
	for _, s := range []string{"data-web-0", "data-web-01", "data-web-2147483648", "-0", "a-", "", "data-web--1", "x-+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		base, ok := claimBase(name)
		if !ok {
			if base != "" {
				t.Fatalf("claimBase(%q) = %q with ok=false", name, base)
			}
			return
		}
		ord, found := strings.CutPrefix(name, base+"-")
		if !found || base == "" {
			t.Fatalf("claimBase(%q) = %q: not a prefix", name, base)
		}
		n, err := strconv.ParseInt(ord, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt32 || strconv.FormatInt(n, 10) != ord {
			t.Fatalf("claimBase(%q) accepted the ordinal %q", name, ord)
		}
	})
}

func FuzzPodOrdinal(f *testing.F) {
	for _, s := range [][2]string{{"web", "web-0"}, {"web", "web-01"}, {"web", "web-+1"}, {"web", "web--1"}, {"", "-1"}, {"web", "web-"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, setName, podName string) {
		n, ok := podOrdinal(setName, podName)
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

func FuzzPendingReason(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 0, 1, 1, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		fc := newFuzzCluster(data)
		for _, c := range fc.in.pvcs {
			r := pendingReason(c, fc.view)
			if !knownPVCReasons[r] {
				t.Fatalf("pendingReason = %q", r)
			}
			explicitNone := c.Spec.StorageClassName != nil && *c.Spec.StorageClassName == ""
			if explicitNone != (r == pvcNoStorageClass && c.Spec.StorageClassName != nil) {
				t.Fatalf("class %q gave %q", *c.Spec.StorageClassName, r)
			}
		}
	})
}

// FuzzCounters drives the restart and lease trackers with arbitrary sequences of
// observations: their counters never decrease and count at least every change seen.
func FuzzCounters(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 5, 1, 1, 0, 2, 3, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		rt := newRestartTracker()
		leases := newLeaseTracker()
		set := newStatefulSet("ns", "web", 1)
		var lastRestarts, lastTransitions float64
		lastHolder, seenLease, changes := "", false, 0.0
		for range 64 {
			if len(in.b) == 0 {
				break
			}
			switch in.intn(4) {
			case 0:
				p := newPod(set, 0, withUID(fmt.Sprintf("uid-%d", in.intn(3))), restarts(in.int32Choice()))
				rt.observe(p)
			case 1:
				rt.forgetPod(types.UID(fmt.Sprintf("uid-%d", in.intn(3))))
			default:
				holder := in.pick("a", "b", "", "a_"+testUUID)
				l := newLease("l", holder, in.int32Choice())
				if in.bool() {
					l.Spec.HolderIdentity = nil
					holder = ""
				}
				if in.bool() {
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
