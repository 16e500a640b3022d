package collector

import "github.com/statefulset-exporter/statefulset-exporter/collector/derive"

var riskFamilies = []family[*derive.Health]{
	gauge("statefulset_ha_risk", "1 when the high-availability risk applies, else 0.", []string{"risk"},
		func(h *derive.Health, out *sampleOut) {
			for _, risk := range derive.RiskNames {
				if v, known := h.Risks[risk]; known {
					out.add(boolFloat(v), risk)
				}
			}
		}),
}
