package derive

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Which StatefulSet a claim belongs to, and what is wrong with a StatefulSet's claims
// and their volumes.

// Reasons of a claim problem (the reason label of statefulset_pvc_problem_info).
const (
	// ProblemClaimLost: the claim is in phase Lost, its PersistentVolume is gone.
	ProblemClaimLost = "ClaimLost"
	// ProblemVolumeFailed: a PersistentVolume of the claim's name is in phase Failed
	// (its reclaim failed).
	ProblemVolumeFailed = "VolumeFailed"
	// ProblemVolumeReleased: a Retain PersistentVolume of an earlier claim of the same
	// name is Released: its data is kept aside while the pod runs on another volume.
	ProblemVolumeReleased = "VolumeReleased"
	// ProblemResizeInfeasible: the driver or the node reported the expansion infeasible.
	ProblemResizeInfeasible = "ResizeInfeasible"
	// ProblemResizeFailed: the expansion failed in the controller or on the node.
	ProblemResizeFailed = "ResizeFailed"
)

// ClaimProblems lists the values of the reason label of claim problems.
var ClaimProblems = []string{ProblemClaimLost, ProblemVolumeFailed, ProblemVolumeReleased, ProblemResizeInfeasible, ProblemResizeFailed}

// ClaimProblem is a problem of one of the StatefulSet's claims, or of a volume that an
// earlier claim of that name left behind; PV is "" when the claim names none.
type ClaimProblem struct{ PVC, PV, Reason string }

// ClaimOwner returns which of sets a claim named name belongs to. sets are the
// StatefulSets whose volume claim templates produce the name (<template>-<set>-<ordinal>;
// two StatefulSets can produce the same name, e.g. a with template x-b and b-a with
// template x both make x-b-a-0), claim is the claim when it exists, and podsOf returns
// the pods a StatefulSet controls. In this order, the claim belongs to:
//
//  1. the StatefulSet whose pod mounts it (spec.volumes[].persistentVolumeClaim);
//  2. among those left, the StatefulSet named in the claim's owner references, or
//     owning the pod named there (the claim retention policy sets them);
//  3. among those left, the StatefulSet created first (the controller that created the
//     claim; the other found it and used it), the first by name when created in the
//     same second.
//
// It returns nil only when sets is empty.
func ClaimOwner(name string, claim *PVC, sets []*StatefulSet, podsOf func(*StatefulSet) []*Pod) *StatefulSet {
	if len(sets) <= 1 {
		if len(sets) == 0 {
			return nil
		}
		return sets[0]
	}
	candidates := narrow(sets, func(s *StatefulSet) bool {
		return slices.ContainsFunc(podsOf(s), func(p *Pod) bool { return mounts(p, name) })
	})
	if claim != nil {
		candidates = narrow(candidates, func(s *StatefulSet) bool { return ownedBy(claim, s, podsOf(s)) })
	}
	return slices.MinFunc(candidates, func(a, b *StatefulSet) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// ClaimOfSet tells whether a claim name is one the StatefulSet's volume claim templates
// produce.
func ClaimOfSet(set *StatefulSet, name string) bool {
	base, ok := ClaimBase(name)
	if !ok {
		return false
	}
	return slices.ContainsFunc(set.Spec.VolumeClaimTemplates, func(t string) bool {
		return base == t+"-"+set.Name
	})
}

// deriveClaimProblems finds the problems of the claims of ordinals in the replica range
// (a claim kept after a scale-down is a cost, never a broken claim) and of the volumes
// earlier claims of those names left behind.
func deriveClaimProblems(h *Health, in Inputs) {
	set := in.Set
	var problems []ClaimProblem
	current := in.claims
	for _, c := range in.PVCs {
		if claimRetained(set, c.name) {
			continue
		}
		st := c.st()
		if st.phase == corev1.ClaimLost {
			problems = append(problems, ClaimProblem{c.name, c.volume, ProblemClaimLost})
		}
		if st.resizeInfeasible {
			problems = append(problems, ClaimProblem{c.name, c.volume, ProblemResizeInfeasible})
		}
		if st.resizeFailed {
			problems = append(problems, ClaimProblem{c.name, c.volume, ProblemResizeFailed})
		}
	}
	for _, pv := range in.ReleasedVolumes {
		ns, name, uid, ok := pv.ClaimRef()
		if !ok || ns != set.Namespace || !ClaimOfSet(set, name) || claimRetained(set, name) {
			continue
		}
		switch st := pv.status.Value(); st.phase {
		case corev1.VolumeFailed:
			problems = append(problems, ClaimProblem{name, pv.name, ProblemVolumeFailed})
		case corev1.VolumeReleased:
			// Delete and Recycle volumes are on their way out (or end Failed); only a
			// Retain volume keeps the data for a human to recover. A claim of the same
			// UID means the controller has not caught up.
			if c := current[name]; st.policy == corev1.PersistentVolumeReclaimRetain && (c == nil || c.uid != uid) {
				problems = append(problems, ClaimProblem{name, pv.name, ProblemVolumeReleased})
			}
		}
	}
	slices.SortFunc(problems, func(a, b ClaimProblem) int {
		return strings.Compare(a.PVC+"\x00"+a.PV+"\x00"+a.Reason, b.PVC+"\x00"+b.PV+"\x00"+b.Reason)
	})
	h.ClaimProblems = slices.Compact(problems)
}

// narrow returns the sets that keep says to keep, or all of them when it keeps none.
func narrow(sets []*StatefulSet, keep func(*StatefulSet) bool) []*StatefulSet {
	kept := make([]*StatefulSet, 0, len(sets))
	for _, s := range sets {
		if keep(s) {
			kept = append(kept, s)
		}
	}
	if len(kept) == 0 {
		return sets
	}
	return kept
}

// mounts tells whether the pod mounts the claim named name.
func mounts(p *Pod, name string) bool {
	found := false
	p.claimNames(func(claim string) bool {
		found = claim == name
		return !found
	})
	return found
}

// ownedBy tells whether the claim's owner references name the StatefulSet (retention
// policy WhenDeleted: Delete) or one of its pods (WhenScaled: Delete).
func ownedBy(claim *PVC, s *StatefulSet, pods []*Pod) bool {
	for _, ref := range claim.ownerRefs() {
		switch ref.kind {
		case "StatefulSet":
			if ref.name == s.Name && (ref.uid == "" || s.UID == "" || ref.uid == s.UID) {
				return true
			}
		case "Pod":
			if slices.ContainsFunc(pods, func(p *Pod) bool {
				return p.name == ref.name && (ref.uid == "" || p.uid.IsZero() || UIDOf(ref.uid) == p.uid)
			}) {
				return true
			}
		}
	}
	return false
}
