package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
)

// TestDemoOnce runs the README's demo in --once mode and checks it shows each failure
// state it promises.
func TestDemoOnce(t *testing.T) {
	if _, err := localkube.FindEtcd(); err != nil && os.Getenv(localkubetest.RequireEnv) == "" {
		t.Skipf("skipping: %v", err)
	}
	port, err := exporterbin.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err = demo(ctx, log.New(&out, "demo: ", 0), fmt.Sprintf("127.0.0.1:%d", port), true, &out)
	if errors.Is(err, localkube.ErrUnavailable) && os.Getenv(localkubetest.RequireEnv) == "" {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`statefulset_pods_waiting{namespace="crashloop",reason="CrashLoopBackOff",statefulset="crashloop"} 1`,
		`statefulset_pods_unschedulable{namespace="unschedulable",statefulset="unschedulable"} 1`,
		`persistentvolumeclaim="data-pvc-wffc-0",reason="wait_for_first_consumer",statefulset="pvc-wffc"}`,
		`statefulset_pod_volume_zone_mismatch{namespace="zone-mismatch",node_zone="eu-west-1b",persistentvolumeclaim="data-zone-mismatch-0",pod="zone-mismatch-0",statefulset="zone-mismatch",volume_zone="eu-west-1a"} 1`,
		`statefulset_pod_volume_zone_without_nodes{namespace="zone-no-nodes",persistentvolumeclaim="data-zone-no-nodes-0",pod="zone-no-nodes-0",statefulset="zone-no-nodes",volume_zone="eu-west-1c"} 1`,
		`statefulset_volume_attachment_error{namespace="attach-error",node="node-a",operation="attach",persistentvolumeclaim="data-attach-error-0",statefulset="attach-error"} 1`,
		`statefulset_rollout_blocking_pod_info{namespace="rollout-stalled",pod="rollout-stalled-2",reason="CrashLoopBackOff",statefulset="rollout-stalled"} 1`,
		`statefulset_pod_stuck_terminating{namespace="terminating",node="node-lost",node_status="unreachable",pod="terminating-1",statefulset="terminating"} 1`,
		`statefulset_ready_ratio{namespace="scaled-to-zero",statefulset="scaled-to-zero"} 1`,
		`control_plane_lease_holder_info{holder="ip-10-0-2-20.ec2.internal",lease="kube-scheduler",namespace="kube-system"} 1`,
		"statefulset_exporter_api_reachable 1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %s", want)
		}
	}
	for _, quiet := range []string{`namespace="healthy"`, `namespace="ondelete"`, `namespace="partition-done"`} {
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.Contains(line, quiet) && !strings.HasPrefix(line, "statefulset_ready_ratio") &&
				!strings.HasPrefix(line, "statefulset_pods_unschedulable") && !strings.HasSuffix(line, " 0") {
				t.Errorf("healthy look-alike reported a problem: %s", line)
			}
		}
	}
	if t.Failed() {
		t.Log(out.String())
	}
}
