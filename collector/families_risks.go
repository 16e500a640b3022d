package collector

// riskOrder is the exposition order of the risk label.
var riskOrder = []string{riskSingleton, riskNoPDB, riskSingleZone, riskZeroGracePeriod, riskNoReadinessProbe}

var riskFamilies = []family{
	gauge("statefulset_ha_risk", "1 when the high-availability risk applies, else 0.", []string{"risk"},
		func(h *health, add func(float64, ...string)) {
			for _, risk := range riskOrder {
				if v, known := h.risks[risk]; known {
					add(boolFloat(v), risk)
				}
			}
		}),
}
