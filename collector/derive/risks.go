package derive

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// HA posture risks (the risk label).
const (
	riskSingleton                   = "singleton"
	riskNoPDB                       = "no_pdb"
	riskSingleZone                  = "single_zone"
	riskZeroGracePeriod             = "zero_grace_period"
	riskNoReadinessProbe            = "no_readiness_probe"
	riskNoGoverningService          = "no_governing_service"
	riskGoverningServiceNotHeadless = "governing_service_not_headless"
	riskClaimsDeletedOnScaleDown    = "claims_deleted_on_scale_down"
	riskClaimsDeletedWithSet        = "claims_deleted_with_statefulset"
)

// RiskNames lists every risk, in exposition order.
var RiskNames = []string{riskSingleton, riskNoPDB, riskSingleZone, riskZeroGracePeriod, riskNoReadinessProbe,
	riskNoGoverningService, riskGoverningServiceNotHeadless, riskClaimsDeletedOnScaleDown, riskClaimsDeletedWithSet}

// deriveRisks sets h.Risks: true for a risk that applies, false for one known not to,
// and no entry when it cannot be told (a nil field, a kind that is not watched).
func deriveRisks(h *Health, in Inputs, view *View) {
	set := in.Set
	h.Risks = map[string]bool{}
	if r := set.Spec.Replicas; r != nil {
		h.Risks[riskSingleton] = *r == 1
		if len(h.ReadyPerZone) > 0 {
			h.Risks[riskSingleZone] = *r > 1 && len(h.ReadyPerZone) == 1
		}
	}
	if g := set.Spec.TerminationGracePeriodSeconds; g != nil {
		h.Risks[riskZeroGracePeriod] = *g == 0
	} else {
		h.Risks[riskZeroGracePeriod] = false
	}
	if probes := set.Spec.ReadinessProbes; len(probes) > 0 {
		h.Risks[riskNoReadinessProbe] = slices.Contains(probes, false)
	}
	// With no replica there is nothing a disruption could take down and no pod whose
	// name must resolve.
	scaledToZero := set.Spec.Replicas != nil && *set.Spec.Replicas == 0
	if view.PDBs != nil {
		covered := false
		podLabels := labels.Set(set.Spec.PodLabels)
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
		h.Risks[riskNoPDB] = !covered && !scaledToZero
	}
	if view.Services != nil {
		// The pods' DNS names <pod>.<serviceName>.<namespace>.svc exist only while a
		// headless Service of that name exists in the namespace.
		var svc *Service
		if set.Spec.ServiceName != "" {
			svc = view.Services.Get(set.Namespace + "/" + set.Spec.ServiceName)
		}
		h.Risks[riskNoGoverningService] = svc == nil && !scaledToZero
		h.Risks[riskGoverningServiceNotHeadless] = svc != nil && !svc.Headless() && !scaledToZero
	}
	// A nil policy is Retain/Retain (the API server defaults it).
	if p := set.Spec.PersistentVolumeClaimRetentionPolicy; len(set.Spec.VolumeClaimTemplates) > 0 {
		h.Risks[riskClaimsDeletedOnScaleDown] = p != nil && p.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
		h.Risks[riskClaimsDeletedWithSet] = p != nil && p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
}
