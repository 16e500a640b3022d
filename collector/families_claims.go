package collector

import "github.com/statefulset-exporter/statefulset-exporter/collector/derive"

var claimFamilies = []family[*derive.Health]{
	gauge("statefulset_pvc_problem_info",
		"A claim of the StatefulSet, or a volume an earlier claim of its name left behind, in a state that needs a human: reason ClaimLost, VolumeFailed, VolumeReleased, ResizeInfeasible or ResizeFailed; always 1.",
		[]string{"persistentvolumeclaim", "persistentvolume", "reason"},
		func(h *derive.Health, out *sampleOut) {
			for _, p := range h.ClaimProblems {
				out.add(1, p.PVC, p.PV, p.Reason)
			}
		}),
}
