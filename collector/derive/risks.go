package derive

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// HA posture risks (the risk label).
const (
	riskSingleton        = "singleton"
	riskNoPDB            = "no_pdb"
	riskSingleZone       = "single_zone"
	riskZeroGracePeriod  = "zero_grace_period"
	riskNoReadinessProbe = "no_readiness_probe"
)

// RiskNames lists every risk, in exposition order.
var RiskNames = []string{riskSingleton, riskNoPDB, riskSingleZone, riskZeroGracePeriod, riskNoReadinessProbe}

func deriveRisks(h *Health, in Inputs, view *View) {
	set := in.Set
	h.Risks = map[string]bool{}
	if r := set.Spec.Replicas; r != nil {
		h.Risks[riskSingleton] = *r == 1
		if len(h.ReadyPerZone) > 0 {
			h.Risks[riskSingleZone] = *r > 1 && len(h.ReadyPerZone) == 1
		}
	}
	if g := set.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		h.Risks[riskZeroGracePeriod] = *g == 0
	} else {
		h.Risks[riskZeroGracePeriod] = false
	}
	if containers := set.Spec.Template.Spec.Containers; len(containers) > 0 {
		missing := false
		for _, c := range containers {
			missing = missing || c.ReadinessProbe == nil
		}
		h.Risks[riskNoReadinessProbe] = missing
	}
	if view.PDBs != nil {
		covered := false
		podLabels := labels.Set(set.Spec.Template.Labels)
		for _, pdb := range view.PDBs.Get(set.Namespace) {
			// In policy/v1 a nil selector selects no pods and an empty one selects all.
			if pdb.Spec.Selector == nil {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err == nil && sel.Matches(podLabels) {
				covered = true
				break
			}
		}
		// With no replica there is nothing a disruption could take down.
		scaledToZero := set.Spec.Replicas != nil && *set.Spec.Replicas == 0
		h.Risks[riskNoPDB] = !covered && !scaledToZero
	}
}
