// Package derivetest makes StatefulSets, their pods and claims and a cluster view from
// fuzzer bytes, for the fuzz tests of the derivations and of the samples made from
// them.
package derivetest

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// Input decodes fuzzer bytes into choices. When the bytes run out every choice is
// the zero one, so short inputs give small, valid objects.
type Input struct{ b []byte }

// NewInput decodes data.
func NewInput(data []byte) *Input { return &Input{b: data} }

// Empty tells whether every byte has been used.
func (f *Input) Empty() bool { return len(f.b) == 0 }

func (f *Input) Byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *Input) Intn(n int) int { return int(f.Byte()) % n }

func (f *Input) Bool() bool { return f.Byte()&1 == 1 }

func (f *Input) Int32() int32 {
	var buf [4]byte
	for i := range buf {
		buf[i] = f.Byte()
	}
	return int32(binary.LittleEndian.Uint32(buf[:]))
}

// raw returns a string of arbitrary bytes, possibly invalid UTF-8 and up to ~1000 long.
func (f *Input) Raw() string {
	n := int(f.Byte())
	if n > 200 {
		// A long repetition: exercises the label length cap.
		return strings.Repeat(string(rune(f.Byte())), 300+int(f.Byte())*3)
	}
	n = min(n, len(f.b))
	s := string(f.b[:n])
	f.b = f.b[n:]
	return s
}

// pick returns one of dict, or now and then a raw string.
func (f *Input) Pick(dict ...string) string {
	i := f.Intn(len(dict) + 1)
	if i == len(dict) {
		return f.Raw()
	}
	return dict[i]
}

// int32Choice returns an interesting int32: small, zero, negative, huge or arbitrary.
func (f *Input) Int32Choice() int32 {
	switch f.Intn(6) {
	case 0:
		return 0
	case 1:
		return int32(f.Intn(5))
	case 2:
		return math.MaxInt32
	case 3:
		return -1
	case 4:
		return math.MinInt32
	}
	return f.Int32()
}

func (f *Input) Ordinal() string {
	switch f.Intn(8) {
	case 0, 1, 2:
		return strconv.Itoa(f.Intn(6))
	case 3:
		return "01"
	case 4:
		return "+1"
	case 5:
		return strconv.Itoa(math.MaxInt32)
	case 6:
		return "99999999999999999999"
	}
	return f.Raw()
}

var (
	fuzzZones   = []string{"a", "b", "c", ""}
	fuzzNodes   = []string{"n0", "n1", "n2", "n3", ""}
	fuzzClasses = []string{"wffc", "immediate", "static", "missing", ""}
	fuzzReasons = []string{"CrashLoopBackOff", "ImagePullBackOff", "ContainerCreating", "PodInitializing", "Weird", ""}
)

func ZoneKeys(f *Input) []string {
	switch f.Intn(4) {
	case 0:
		return []string{"example.com/zone"}
	case 1:
		return []string{"topology.kubernetes.io/zone"}
	}
	return []string{"topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone", "topology.ebs.csi.aws.com/zone"}
}

func zoneKeyOrOther(f *Input, zoneKeys []string) string {
	return f.Pick(append([]string{"kubernetes.io/hostname"}, zoneKeys...)...)
}

func PV(f *Input, name string, zoneKeys []string) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if f.Bool() {
		pv.Labels = map[string]string{}
		for range f.Intn(4) {
			var zones []string
			for range f.Intn(4) {
				zones = append(zones, f.Pick(fuzzZones...))
			}
			pv.Labels[zoneKeyOrOther(f, zoneKeys)] = strings.Join(zones, f.Pick("__", ",", ""))
		}
	}
	switch f.Intn(4) {
	case 0:
	case 1:
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{}
	default:
		ns := &corev1.NodeSelector{}
		for range f.Intn(12) { // many terms
			var term corev1.NodeSelectorTerm
			for range f.Intn(5) {
				e := corev1.NodeSelectorRequirement{Key: zoneKeyOrOther(f, zoneKeys),
					Operator: corev1.NodeSelectorOperator(f.Pick("In", "NotIn", "Exists", "DoesNotExist"))}
				for range f.Intn(5) {
					e.Values = append(e.Values, f.Pick(fuzzZones...))
				}
				term.MatchExpressions = append(term.MatchExpressions, e)
			}
			ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, term)
		}
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: ns}
	}
	return pv
}

// Cluster is a StatefulSet, its pods and PVCs and a cluster view, all from bytes.
// Cluster is a StatefulSet, its pods and PVCs and a cluster view, all from bytes.
type Cluster struct {
	In      derive.Inputs
	View    *derive.View
	Now     time.Time
	Volumes int // PVC volumes over all pods
	VAs     int // VolumeAttachments
}

// PVFrom decodes data into zone label keys and a PersistentVolume named "pv" whose
// labels and node affinity use them (and other keys).
func PVFrom(data []byte) (pv *corev1.PersistentVolume, zoneKeys []string) {
	in := NewInput(data)
	zoneKeys = ZoneKeys(in)
	return PV(in, "pv", zoneKeys), zoneKeys
}

// NewCluster decodes data into a Cluster observed around now.
func NewCluster(data []byte, now time.Time) *Cluster {
	f := NewInput(data)
	zoneKeys := ZoneKeys(f)
	fc := &Cluster{Now: now.Add(time.Duration(f.Int32()) * time.Second)}
	setName := f.Pick("web", "db", "a", "web-0", "")

	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: setName, Generation: int64(f.Int32Choice())}}
	if f.Intn(4) != 0 {
		set.Spec.Replicas = ptr.To(f.Int32Choice())
	}
	if f.Bool() {
		set.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	} else if f.Bool() {
		set.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(f.Int32Choice())}
	}
	set.Spec.PodManagementPolicy = appsv1.PodManagementPolicyType(f.Pick("OrderedReady", "Parallel", ""))
	if f.Bool() {
		set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: f.Int32Choice()}
	}
	set.Spec.ServiceName = f.Pick("svc", "")
	set.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: int64(f.Int32Choice()), ReadyReplicas: f.Int32Choice(), UpdatedReplicas: f.Int32Choice(),
		CurrentReplicas: f.Int32Choice(), AvailableReplicas: f.Int32Choice(),
		CurrentRevision: f.Pick("r1", "r2", ""), UpdateRevision: f.Pick("r1", "r2", ""),
	}
	for range f.Intn(4) {
		set.Spec.VolumeClaimTemplates = append(set.Spec.VolumeClaimTemplates,
			corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: f.Pick("data", "wal", "")}})
	}
	if f.Bool() {
		set.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To(int64(f.Int32Choice()))
	}
	for range f.Intn(3) {
		c := corev1.Container{Name: "c"}
		if f.Bool() {
			c.ReadinessProbe = &corev1.Probe{}
		}
		set.Spec.Template.Spec.Containers = append(set.Spec.Template.Spec.Containers, c)
	}
	set.Spec.Template.Labels = map[string]string{"app": f.Pick("web", "")}
	fc.In.Set = derive.StatefulSetFrom(set)

	nodes := map[string]*derive.Node{}
	for range f.Intn(6) {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: f.Pick(fuzzNodes...), Labels: map[string]string{}}}
		for range f.Intn(4) { // several, possibly conflicting zone labels
			n.Labels[zoneKeyOrOther(f, zoneKeys)] = f.Pick(fuzzZones...)
		}
		if f.Bool() {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady,
				Status: corev1.ConditionStatus(f.Pick("True", "False", "Unknown"))})
		}
		if f.Bool() {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: f.Pick(corev1.TaintNodeUnreachable, corev1.TaintNodeNotReady, "dedicated"),
				Value: f.Pick("db", ""), Effect: corev1.TaintEffect(f.Pick("NoSchedule", "NoExecute", "PreferNoSchedule"))})
		}
		n.Spec.Unschedulable = f.Bool()
		nodes[n.Name] = derive.NodeFrom(n)
	}

	seenPods := map[string]bool{}
	for range f.Intn(10) {
		name := setName + "-" + f.Ordinal()
		if f.Intn(8) == 0 {
			name = f.Raw()
		}
		if seenPods[name] {
			continue
		}
		seenPods[name] = true
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name),
			Labels:            map[string]string{appsv1.ControllerRevisionHashLabelKey: f.Pick("r1", "r2", "")},
			CreationTimestamp: metav1.NewTime(fc.Now.Add(-time.Duration(f.Int32()) * time.Millisecond))}}
		p.Spec.NodeName = f.Pick(fuzzNodes...)
		if f.Bool() { // scheduling constraints, read for unscheduled pods
			p.Spec.NodeSelector = map[string]string{zoneKeyOrOther(f, zoneKeys): f.Pick(fuzzZones...)}
			p.Spec.Tolerations = []corev1.Toleration{{Key: f.Pick("dedicated", ""), Value: f.Pick("db", "5"),
				Operator: corev1.TolerationOperator(f.Pick("Equal", "Exists", "Gt", "")), Effect: corev1.TaintEffect(f.Pick("NoSchedule", ""))}}
			if f.Bool() {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: zoneKeyOrOther(f, zoneKeys),
						Operator: corev1.NodeSelectorOperator(f.Pick("In", "NotIn", "Exists", "Bogus")), Values: []string{f.Pick(fuzzZones...)}}}}}}}}
			}
		}
		p.Status.Phase = corev1.PodPhase(f.Pick("Pending", "Running", "Succeeded", "Failed", "Unknown", ""))
		for range f.Intn(3) {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
				Type:   corev1.PodConditionType(f.Pick("Ready", "PodScheduled")),
				Status: corev1.ConditionStatus(f.Pick("True", "False", "Unknown")), Reason: f.Pick("Unschedulable", ""),
				LastTransitionTime: metav1.NewTime(fc.Now.Add(-time.Duration(f.Int32()) * time.Millisecond)),
			})
		}
		for i := range f.Intn(3) {
			s := corev1.ContainerStatus{RestartCount: f.Int32Choice()}
			if f.Bool() {
				s.State.Waiting = &corev1.ContainerStateWaiting{Reason: f.Pick(fuzzReasons...)}
			}
			// A restarted container's last termination, made from the bytes already read
			// so that the seed corpora keep their meaning: finished restartCount seconds
			// ago (in the future when negative), two statuses sharing a name at times.
			s.Name = fuzzContainerNames[i%len(fuzzContainerNames)]
			if s.RestartCount != 0 {
				s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
					Reason:     fuzzTerminations[int(uint32(s.RestartCount))%len(fuzzTerminations)],
					FinishedAt: metav1.NewTime(fc.Now.Add(-time.Duration(s.RestartCount) * time.Second))}
			}
			if f.Bool() {
				p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, s)
			} else {
				p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, s)
			}
		}
		if f.Bool() {
			p.DeletionTimestamp = ptr.To(metav1.NewTime(fc.Now.Add(-time.Duration(f.Int32()) * time.Second)))
			if f.Bool() {
				p.DeletionGracePeriodSeconds = ptr.To(int64(f.Int32Choice()))
			}
			if f.Bool() {
				p.Spec.TerminationGracePeriodSeconds = ptr.To(int64(f.Int32Choice()) * 1e9) // overflowing durations
			}
		}
		for range f.Intn(4) {
			claim := f.Pick("data", "wal", "") + "-" + name
			if f.Intn(6) == 0 {
				claim = f.Raw()
			}
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
			fc.Volumes++
		}
		fc.In.Pods = append(fc.In.Pods, derive.PodFrom(p))
	}

	pvcs := map[string]*derive.PVC{}
	pvs := map[string]*derive.PV{}
	var pvNames []string
	for i := range f.Intn(8) {
		name := f.Pick("data", "wal", "") + "-" + setName + "-" + f.Ordinal()
		if f.Intn(8) == 0 {
			name = f.Raw()
		}
		if pvcs[name] != nil {
			continue
		}
		c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name)}}
		if f.Bool() {
			c.CreationTimestamp = metav1.NewTime(fc.Now.Add(-time.Duration(f.Int32()) * time.Second))
		}
		c.Status.Phase = corev1.PersistentVolumeClaimPhase(f.Pick("Pending", "Bound", "Lost", ""))
		switch f.Intn(3) {
		case 0:
		case 1:
			c.Spec.StorageClassName = ptr.To("")
		default:
			c.Spec.StorageClassName = ptr.To(f.Pick(fuzzClasses...))
		}
		if f.Bool() {
			c.Annotations = map[string]string{derive.AnnSelectedNode: f.Pick(fuzzNodes...)}
		}
		if f.Bool() {
			c.Spec.VolumeName = "pv-" + strconv.Itoa(i)
			pvNames = append(pvNames, c.Spec.VolumeName)
			if f.Intn(5) != 0 {
				pvs[c.Spec.VolumeName] = CompactPV(PV(f, c.Spec.VolumeName, zoneKeys))
			}
		}
		pvcs[name] = derive.PVCFrom(c)
		fc.In.PVCs = append(fc.In.PVCs, pvcs[name])
	}

	classes := map[string]*storagev1.StorageClass{}
	for _, name := range fuzzClasses[:3] {
		if f.Intn(4) == 0 {
			continue
		}
		classes[name] = &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name},
			Provisioner:       f.Pick("ebs.csi.aws.com", "kubernetes.io/no-provisioner", ""),
			VolumeBindingMode: ptr.To(storagev1.VolumeBindingMode(f.Pick("WaitForFirstConsumer", "Immediate", "")))}
	}

	vas := map[string][]*storagev1.VolumeAttachment{}
	attached := map[string]bool{}
	for range f.Intn(6) {
		if len(pvNames) == 0 {
			break
		}
		pvName := pvNames[f.Intn(len(pvNames))]
		// Attachments name nodes from the short list: node names as label values are
		// exercised through the pods.
		va := &storagev1.VolumeAttachment{Spec: storagev1.VolumeAttachmentSpec{NodeName: fuzzNodes[f.Intn(len(fuzzNodes))],
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pvName}}}
		// A VolumeAttachment's name is a hash of its attacher, PV and node: one per PV
		// and node.
		if k := pvName + "\xff" + va.Spec.NodeName; attached[k] {
			continue
		} else {
			attached[k] = true
		}
		if f.Bool() {
			va.Status.AttachError = &storagev1.VolumeError{}
		}
		if f.Bool() {
			va.Status.DetachError = &storagev1.VolumeError{}
		}
		vas[pvName] = append(vas[pvName], va)
		fc.VAs++
	}

	var pdbs []*policyv1.PodDisruptionBudget
	for range f.Intn(3) {
		pdb := &policyv1.PodDisruptionBudget{}
		switch f.Intn(4) {
		case 0:
		case 1:
			pdb.Spec.Selector = &metav1.LabelSelector{}
		case 2:
			pdb.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": f.Pick("web", "x")}}
		default:
			pdb.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOperator(f.Pick("In", "Bogus")), Values: []string{f.Pick("web", "")}}}}
		}
		pdbs = append(pdbs, pdb)
	}

	defaultClass := f.Pick(fuzzClasses...)
	v := derive.NewView(zoneKeys, func() string { return defaultClass })
	if f.Intn(8) != 0 {
		v.Node = derive.NewLookup(v, "nodes", func(name string) *derive.Node { return nodes[name] })
		v.UsableNode = derive.NewUsableNodeLookup(v, "usable nodes", func() []*derive.Node { return slices.Collect(maps.Values(nodes)) })
		v.CordonedCandidate = derive.NewCordonedCandidateLookup(v, "cordoned candidates", func() []*derive.Node { return slices.Collect(maps.Values(nodes)) })
	}
	if f.Intn(8) != 0 {
		v.PVC = derive.NewLookup(v, "pvcs", func(key string) *derive.PVC {
			name, ok := strings.CutPrefix(key, "ns/")
			if !ok {
				return nil
			}
			return pvcs[name]
		})
		v.PV = derive.NewLookup(v, "pvs", func(name string) *derive.PV { return pvs[name] })
	}
	if f.Intn(8) != 0 {
		v.StorageClass = derive.NewLookup(v, "classes", func(name string) derive.StorageClass { return derive.StorageClassOf(classes[name]) })
	}
	if f.Bool() {
		v.Attachments = derive.NewListLookup(v, "attachments", func(pv string) []*storagev1.VolumeAttachment { return slices.Clone(vas[pv]) })
	}
	if f.Bool() {
		v.PDBs = derive.NewListLookup(v, "pdbs", func(string) []*policyv1.PodDisruptionBudget { return slices.Clone(pdbs) })
	}
	// Drawn last, so that the seed corpora written before keep their meaning.
	if f.Bool() {
		services := map[string]*derive.Service{}
		for range f.Intn(3) {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: f.Pick("ns", "other"), Name: f.Pick("svc", "")}}
			svc.Spec.ClusterIP = f.Pick(corev1.ClusterIPNone, "10.100.0.1", "")
			services[svc.Namespace+"/"+svc.Name] = derive.ServiceFrom(svc)
		}
		v.Services = derive.NewLookup(v, "services", func(key string) *derive.Service { return services[key] })
	}
	if f.Bool() {
		retention := []string{"Retain", "Delete", ""}
		fc.In.Set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenScaled:  appsv1.PersistentVolumeClaimRetentionPolicyType(f.Pick(retention...)),
			WhenDeleted: appsv1.PersistentVolumeClaimRetentionPolicyType(f.Pick(retention...)),
		}
	}
	fc.View = v

	// Volumes earlier claims left behind, read last so that the inputs above keep their
	// bytes.
	for i := range f.Intn(4) {
		pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-old-" + strconv.Itoa(i)}}
		if f.Intn(4) != 0 {
			pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: f.Pick("ns", "other"),
				Name: f.Pick("data", "wal") + "-" + setName + "-" + f.Ordinal(), UID: types.UID(f.Pick("", "old"))}
		}
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimPolicy(f.Pick("Retain", "Delete", "Recycle", ""))
		pv.Status.Phase = corev1.PersistentVolumePhase(f.Pick("Released", "Failed", "Bound"))
		fc.In.ReleasedVolumes = append(fc.In.ReleasedVolumes, CompactPV(pv))
	}
	return fc
}

var (
	fuzzContainerNames = []string{"main", "main", "sidecar"}
	fuzzTerminations   = []string{"OOMKilled", "Error", "Completed", "Evicted", "", "ContainerStatusUnknown"}
)

// CompactPV is the compact form of pv, keeping every label.
func CompactPV(pv *corev1.PersistentVolume) *derive.PV {
	return derive.PVFrom(pv, slices.Collect(maps.Keys(pv.Labels)))
}

// PVs returns the compact forms of volumes, keeping every label.
func PVs(volumes ...*corev1.PersistentVolume) []*derive.PV {
	out := make([]*derive.PV, len(volumes))
	for i, pv := range volumes {
		out[i] = CompactPV(pv)
	}
	return out
}

// PVCs returns the compact forms of claims.
func PVCs(claims ...*corev1.PersistentVolumeClaim) []*derive.PVC {
	out := make([]*derive.PVC, len(claims))
	for i, c := range claims {
		out[i] = derive.PVCFrom(c)
	}
	return out
}
