package collector

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestExpositionLint runs client_golang's metric lint (what `promtool check metrics`
// does) over everything the exporter serves, on a cluster where every family has
// samples.
func TestExpositionLint(t *testing.T) {
	env := richEnv(t)
	problems, err := testutil.CollectAndLint(env.collector)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
