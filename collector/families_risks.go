package collector

import "github.com/statefulset-exporter/statefulset-exporter/collector/derive"

var riskFamilies = []family[*derive.Health]{
	gauge("statefulset_ha_risk_info", "1 for each high-availability risk that applies; no sample for the others.", []string{"risk"},
		func(h *derive.Health, out *sampleOut) {
			for _, risk := range derive.RiskNames {
				if h.Risks[risk] {
					out.add(1, risk)
				}
			}
		}),
}
