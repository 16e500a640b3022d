package integration

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
)

// TestRestartsSurviveRecreate deletes a pod that restarted 5 times and recreates it with
// restartCount 0, then 1: statefulset_container_restarts_total goes 5 → 5 → 6, never
// down.
func TestRestartsSurviveRecreate(t *testing.T) {
	t.Parallel()
	f := env(t)
	const ns = "restarts"
	f.firstRun(t)
	f.apply(t, ns)
	families := []string{"statefulset_container_restarts_total", "statefulset_pods", "statefulset_replicas_ready"}
	state := func(running, restarts int) []string {
		phases := "" // no pod: no phase series
		if running > 0 {
			phases = fmt.Sprintf(`statefulset_pods{phase="Running"} %d`, running)
		}
		return expect(t, fmt.Sprintf(`
			%s
			statefulset_replicas_ready 1
			statefulset_container_restarts_total %d
		`, phases, restarts))
	}
	// Every scrape: the counter never goes down.
	highest := 0.0
	monotonic := func(s *scrape) error {
		v, ok := s.value("statefulset_container_restarts_total", "namespace", ns)
		if !ok {
			return nil
		}
		if v < highest {
			return fmt.Errorf("statefulset_container_restarts_total dropped from %v to %v", highest, v)
		}
		highest = v
		return nil
	}

	f.waitWorkloadWith(t, f.shared, ns, state(1, 5), monotonic, families...)

	if err := scenario.DeletePodNow(t.Context(), f.admin, ns, "restarts-0"); err != nil {
		t.Fatal(err)
	}
	f.waitWorkloadWith(t, f.shared, ns, state(0, 5), monotonic, families...)

	pod, err := scenario.CreatePod(t.Context(), f.admin, ns, ns, 0, scenario.Pod{Node: scenario.NodeA, Ready: true, Restarts: 0})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Status.Phase != corev1.PodRunning {
		t.Fatalf("recreated pod phase %s", pod.Status.Phase)
	}
	f.waitWorkloadWith(t, f.shared, ns, state(1, 5), monotonic, families...)

	if _, err := scenario.SetPodRestarts(t.Context(), f.admin, ns, "restarts-0", 1); err != nil {
		t.Fatal(err)
	}
	f.waitWorkloadWith(t, f.shared, ns, state(1, 6), monotonic, families...)
}
