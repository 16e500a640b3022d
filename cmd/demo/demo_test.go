package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/pipeline"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simscenario"
)

// TestDemoOnce runs the README's demo in --once mode: the simulated cluster, the
// exporter, Prometheus with the shipped rules and Alertmanager with the shipped routing.
// Every broken StatefulSet must show a firing alert, routed, with the pod and reason its
// labels carry, and the healthy look-alikes none.
func TestDemoOnce(t *testing.T) {
	port, err := exporterbin.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// Start-up (about a minute), the setup of the healthy StatefulSets, then at most
	// onceTimeout for the alerts.
	ctx, cancel := context.WithTimeout(t.Context(), onceTimeout+5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err = demo(ctx, log.New(&out, "demo: ", 0), options{listen: fmt.Sprintf("127.0.0.1:%d", port), once: true}, &out)
	if errors.Is(err, pipeline.ErrUnavailable) && os.Getenv("CI") != "true" {
		t.Skipf("skipping: %v", err)
	}
	localkubetest.SkipOrFatal(t, "running the demo", err)
	text := out.String()
	t.Log(text)

	for _, s := range simscenario.Seeds() {
		row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(s.Name+"/"+s.Name) + `\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s+(.+)$`)
		rows := row.FindAllStringSubmatch(text, -1)
		if s.Quiet {
			if len(rows) > 0 {
				t.Errorf("%s is healthy but shows %q", s.Name, rows)
			}
			continue
		}
		if len(rows) == 0 {
			t.Errorf("%s: no firing alert shown", s.Name)
		}
		for _, r := range rows {
			if strings.TrimSpace(r[5]) == routeWaiting {
				t.Errorf("%s: %s shown before Alertmanager routed it", s.Name, r[1])
			}
		}
	}
	// Alerts that name the pod and why, routed as the shipped configuration says.
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^crashloop/crashloop\s+StatefulSetNoReplicasReady\s+critical\s+crashloop-0\s+(CrashLoopBackOff|ContainerTerminated|ReadinessFailing)\s+\S+\s+pager\n.*Pods not Ready: crashloop-0 \(\w+, container db, last terminated: Error\)`),
		regexp.MustCompile(`(?m)^rollout-stuck/rollout-stuck\s+StatefulSetRolloutStalled\s+warning\s+rollout-stuck-2\s+(CrashLoopBackOff|ContainerTerminated|ReadinessFailing)\s+.*\bticket\n.*waiting for pod rollout-stuck-2 \(`),
		regexp.MustCompile(`(?m)^node-lost/node-lost\s+StatefulSetPodStuckTerminating\s+critical\s+node-lost-[01]\s+Terminating\s+.*\bpager\n.*\(node status: unreachable\)`),
		regexp.MustCompile(`(?m)^no-capacity/no-capacity\s+StatefulSetNoReplicasReady\s+critical\s+no-capacity-0\s+InsufficientCPU\s+.*\bpager\n.*Pods not Ready: no-capacity-0 \(InsufficientCPU\)\.`),
		regexp.MustCompile(`(?m)^provision-error/provision-error\s+StatefulSetPVCPending\s+warning\s+-\s+Provisioning\s+.*\bticket$`),
		regexp.MustCompile(`(?m)^ondelete/ondelete\s+StatefulSetOnDeletePodsOutdated\s+info\s+.*\blow-priority$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("the demo's view lacks %s", want)
		}
	}
}

// TestRender checks the layout of the view on a fixed snapshot.
func TestRender(t *testing.T) {
	s := snapshot{
		firing: []row{
			{namespace: "db", statefulset: "pg", alert: "StatefulSetRolloutStalled", severity: "warning", pod: "pg-2", firingFor: 12 * time.Second, route: "ticket",
				description: "The rollout of StatefulSet db/pg has made no progress for 1m.   It is waiting for pod pg-2 (CrashLoopBackOff)."},
			{namespace: "", alert: "StatefulSetExporterAPIUnreachable", severity: "critical", firingFor: time.Second, route: routeInhibited},
		},
		pending: 3,
	}
	got := render(s)
	want := `2 alert(s) firing, 3 pending

STATEFULSET  ALERT                              SEVERITY  POD   REASON  FIRING  ROUTED TO
db/pg        StatefulSetRolloutStalled          warning   pg-2  -       12s     ticket
    The rollout of StatefulSet db/pg has made no progress for 1m. It is waiting for pod pg-2 (CrashLoopBackOff).
(cluster)    StatefulSetExporterAPIUnreachable  critical  -     -       1s      inhibited
`
	if got != want {
		t.Errorf("render:\n%s\nwant:\n%s", got, want)
	}
	if got := render(snapshot{pending: 1}); got != "0 alert(s) firing, 1 pending\n\n" {
		t.Errorf("empty view: %q", got)
	}
	// The pods the exporter reports not Ready explain an alert that names none.
	r := row{namespace: "db", statefulset: "pg", alert: "StatefulSetNoReplicasReady", severity: "critical"}
	explain(&r, map[string]string{}, []podReason{{"pg-0", "InsufficientCPU"}, {"pg-1", "Pending"}})
	if r.pod != "pg-0(+1)" || r.reason != "InsufficientCPU" {
		t.Errorf("explain: pod %q, reason %q", r.pod, r.reason)
	}
	r = row{namespace: "db", statefulset: "pg", alert: "StatefulSetRolloutStalled", severity: "warning", pod: "pg-1"}
	explain(&r, map[string]string{"pod": "pg-1"}, []podReason{{"pg-0", "InsufficientCPU"}, {"pg-1", "CrashLoopBackOff"}})
	if r.pod != "pg-1" || r.reason != "CrashLoopBackOff" {
		t.Errorf("explain of a pod's alert: pod %q, reason %q", r.pod, r.reason)
	}
	r = row{namespace: "db", statefulset: "pg", alert: "StatefulSetPVCPending", severity: "warning", reason: "Provisioning"}
	explain(&r, map[string]string{"persistentvolumeclaim": "data-pg-0"}, []podReason{{"pg-0", "ClaimPending"}})
	if r.pod != "" || r.reason != "Provisioning" {
		t.Errorf("explain of a claim's alert: pod %q, reason %q", r.pod, r.reason)
	}
	if got := render(snapshot{quietAlerts: []string{"pending X{}"}, firing: s.firing[:1]}); !strings.Contains(got, "unexpected alerts of healthy look-alikes: pending X{}") {
		t.Errorf("quiet alerts not shown:\n%s", got)
	}
}
