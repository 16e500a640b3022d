package tests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
	"github.com/statefulset-exporter/statefulset-exporter/mixin/rules"
)

// multiClusterUnitTests runs against rules generated with MultiCluster and a
// NamespaceSelector: every aggregation and join must keep clusters apart, the annotation
// lookups must pin the cluster, and namespaces outside the selector must stay quiet.
const multiClusterUnitTests = `
rule_files:
  - rules.yaml
evaluation_interval: 1m
group_eval_order:
  - statefulset-recording
  - statefulset-workload
tests:
  - name: the same StatefulSet in two clusters, and one outside the namespace selector
    interval: 1m
    input_series:
      - series: 'statefulset_ready_ratio{job="statefulset-exporter", cluster="eu-west-1", namespace="prod-data", statefulset="postgres"}'
        values: '0.5x20'
      - series: 'statefulset_ready_ratio{job="statefulset-exporter", cluster="us-east-1", namespace="prod-data", statefulset="postgres"}'
        values: '0.5x20'
      - series: 'statefulset_ready_ratio{job="statefulset-exporter", cluster="eu-west-1", namespace="dev-data", statefulset="postgres"}'
        values: '0.5x20'
      # A rollout progressing in us-east-1 only.
      - series: 'statefulset_rollout_in_progress{job="statefulset-exporter", cluster="us-east-1", namespace="prod-data", statefulset="postgres"}'
        values: '1x20'
      - series: 'statefulset_rollout_stalled{job="statefulset-exporter", cluster="us-east-1", namespace="prod-data", statefulset="postgres"}'
        values: '0x20'
    alert_rule_test:
      - eval_time: 15m
        alertname: StatefulSetReplicasNotReady
        exp_alerts:
          - exp_labels:
              severity: warning
              cluster: eu-west-1
              namespace: prod-data
              statefulset: postgres
            exp_annotations:
              summary: StatefulSet has replicas that are not Ready.
              description: StatefulSet prod-data/postgres in cluster eu-west-1 has had only 50% of its desired replicas Ready for more than 15m, outside of a rollout.
              runbook_url: https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#statefulsetreplicasnotready

  - name: stalled rollouts in two clusters name their own blocking pod's reason
    interval: 1m
    input_series:
      - series: 'statefulset_rollout_stalled{job="statefulset-exporter", cluster="eu-west-1", namespace="prod-data", statefulset="kafka"}'
        values: '1x10'
      - series: 'statefulset_rollout_stalled{job="statefulset-exporter", cluster="us-east-1", namespace="prod-data", statefulset="kafka"}'
        values: '1x10'
      - series: 'statefulset_rollout_last_progress_timestamp_seconds{job="statefulset-exporter", cluster="eu-west-1", namespace="prod-data", statefulset="kafka"}'
        values: '0x10'
      - series: 'statefulset_rollout_last_progress_timestamp_seconds{job="statefulset-exporter", cluster="us-east-1", namespace="prod-data", statefulset="kafka"}'
        values: '-600x10'
      - series: 'statefulset_rollout_blocking_pod_info{job="statefulset-exporter", cluster="eu-west-1", namespace="prod-data", statefulset="kafka", pod="kafka-2", reason="CrashLoopBackOff"}'
        values: '1x10'
      - series: 'statefulset_rollout_blocking_pod_info{job="statefulset-exporter", cluster="us-east-1", namespace="prod-data", statefulset="kafka", pod="kafka-2", reason="ImagePullBackOff"}'
        values: '1x10'
    alert_rule_test:
      - eval_time: 5m
        alertname: StatefulSetRolloutStalled
        exp_alerts:
          - exp_labels:
              severity: warning
              cluster: eu-west-1
              namespace: prod-data
              statefulset: kafka
              pod: kafka-2
            exp_annotations:
              summary: StatefulSet rollout is stalled.
              description: The rollout of StatefulSet prod-data/kafka in cluster eu-west-1 has made no progress for 5m 0s. It is waiting for pod kafka-2 (CrashLoopBackOff).
              runbook_url: https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#statefulsetrolloutstalled
          - exp_labels:
              severity: warning
              cluster: us-east-1
              namespace: prod-data
              statefulset: kafka
              pod: kafka-2
            exp_annotations:
              summary: StatefulSet rollout is stalled.
              description: The rollout of StatefulSet prod-data/kafka in cluster us-east-1 has made no progress for 15m 0s. It is waiting for pod kafka-2 (ImagePullBackOff).
              runbook_url: https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#statefulsetrolloutstalled

  - name: a lease without a leader counts only while its own cluster's exporter reaches the API server
    interval: 1m
    input_series:
      # eu-west-1: the exporter is fine and kube-scheduler has had no live holder since 0.
      - series: 'statefulset_exporter_api_last_success_timestamp_seconds{job="statefulset-exporter", cluster="eu-west-1"}'
        values: '0+60x10'
      - series: 'statefulset_control_plane_lease_held{job="statefulset-exporter", cluster="eu-west-1", namespace="kube-system", lease="kube-scheduler"}'
        values: '0x10'
      - series: 'statefulset_control_plane_lease_holder_info{job="statefulset-exporter", cluster="eu-west-1", namespace="kube-system", lease="kube-scheduler", holder="ip-10-0-1-2.eu-west-1.compute.internal"}'
        values: '1x10'
      # us-east-1: the exporter lost the API server at 0, so its frozen lease reads 0 too.
      - series: 'statefulset_exporter_api_last_success_timestamp_seconds{job="statefulset-exporter", cluster="us-east-1"}'
        values: '0x10'
      - series: 'statefulset_control_plane_lease_held{job="statefulset-exporter", cluster="us-east-1", namespace="kube-system", lease="kube-scheduler"}'
        values: '0x10'
      - series: 'statefulset_control_plane_lease_holder_info{job="statefulset-exporter", cluster="us-east-1", namespace="kube-system", lease="kube-scheduler", holder="ip-10-9-1-2.us-east-1.compute.internal"}'
        values: '1x10'
      - series: 'statefulset_exporter_api_reachable{job="statefulset-exporter", cluster="eu-west-1"}'
        values: '1x10'
      - series: 'statefulset_exporter_api_reachable{job="statefulset-exporter", cluster="us-east-1"}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 4m
        alertname: ControlPlaneNoLeader
        exp_alerts:
          - exp_labels:
              severity: critical
              cluster: eu-west-1
              namespace: kube-system
              lease: kube-scheduler
            exp_annotations:
              summary: Control-plane component has no leader.
              description: 'Leader-election lease kube-system/kube-scheduler in cluster eu-west-1 has had no live holder for 2m: it has no holder, or its holder has not renewed it within its duration; its last holder was ip-10-0-1-2.eu-west-1.compute.internal. No instance of the component is leading and no standby took over: nothing it does happens until someone restores it.'
              runbook_url: https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#controlplanenoleader
      - eval_time: 4m
        alertname: StatefulSetExporterAPIUnreachable
        exp_alerts:
          - exp_labels:
              severity: critical
              cluster: us-east-1
              job: statefulset-exporter
            exp_annotations:
              summary: statefulset-exporter cannot reach the Kubernetes API server.
              description: statefulset-exporter (job statefulset-exporter) in cluster us-east-1 has not reached the Kubernetes API server for more than 3m; its last successful call was 4m 0s ago. The StatefulSet metrics it serves are stale and the alerts derived from them are inhibited.
              runbook_url: https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#statefulsetexporterapiunreachable

  - name: the exporter of one cluster disappears while the other's stays up
    interval: 1m
    input_series:
      # eu-west-1's exporter target leaves service discovery at 6m and is back at 25m.
      - series: 'up{job="statefulset-exporter", cluster="eu-west-1", instance="10.0.12.4:9817"}'
        values: '1x5 stale _x18 1x10'
      - series: 'up{job="statefulset-exporter", cluster="us-east-1", instance="10.9.12.4:9817"}'
        values: '1x35'
      # ap-south-1's exporter is scraped but down from 6m (crash loop) until 25m.
      - series: 'up{job="statefulset-exporter", cluster="ap-south-1", instance="10.5.12.4:9817"}'
        values: '1x5 0x18 1x10'
      # Another job down in us-east-1 is not the exporter.
      - series: 'up{job="kube-state-metrics", cluster="us-east-1", instance="10.9.7.1:8080"}'
        values: '0x35'
    alert_rule_test:
      - eval_time: 20m
        alertname: StatefulSetExporterAbsent
        exp_alerts: []
      - eval_time: 21m
        alertname: StatefulSetExporterAbsent
        exp_alerts:
          - exp_labels:
              severity: critical
              cluster: ap-south-1
            exp_annotations:
              summary: statefulset-exporter is not being scraped.
              description: No statefulset-exporter target matching {job="statefulset-exporter"} in cluster ap-south-1 has been up for 15m. No StatefulSet or control-plane alert can fire while it is gone.
              runbook_url: https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#statefulsetexporterabsent
          - exp_labels:
              severity: critical
              cluster: eu-west-1
            exp_annotations:
              summary: statefulset-exporter is not being scraped.
              description: No statefulset-exporter target matching {job="statefulset-exporter"} in cluster eu-west-1 has been up for 15m. No StatefulSet or control-plane alert can fire while it is gone.
              runbook_url: https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#statefulsetexporterabsent
      # Both are back at 25m: resolved.
      - eval_time: 25m
        alertname: StatefulSetExporterAbsent
        exp_alerts: []

  - name: a fresh install whose exporter was never scraped in any cluster
    interval: 1m
    input_series:
      - series: 'up{job="kube-state-metrics", cluster="eu-west-1", instance="10.0.7.1:8080"}'
        values: '1x20'
    alert_rule_test:
      - eval_time: 14m
        alertname: StatefulSetExporterAbsent
        exp_alerts: []
      - eval_time: 15m
        alertname: StatefulSetExporterAbsent
        exp_alerts:
          - exp_labels:
              severity: critical
              job: statefulset-exporter
            exp_annotations:
              summary: statefulset-exporter is not being scraped.
              description: No statefulset-exporter target matching {job="statefulset-exporter"} has been up for 15m. No StatefulSet or control-plane alert can fire while it is gone.
              runbook_url: https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#statefulsetexporterabsent

  - name: a resource failing in one cluster, an optional kind switched off in another
    interval: 1m
    input_series:
      - series: 'statefulset_exporter_api_reachable{job="statefulset-exporter", cluster="eu-west-1"}'
        values: '1x10'
      - series: 'statefulset_exporter_api_reachable{job="statefulset-exporter", cluster="us-east-1"}'
        values: '1x10'
      - series: 'statefulset_exporter_resource_failing{job="statefulset-exporter", cluster="eu-west-1", resource="pods"}'
        values: '1x10'
      - series: 'statefulset_exporter_resource_failing{job="statefulset-exporter", cluster="us-east-1", resource="pods"}'
        values: '0x10'
      - series: 'statefulset_exporter_api_errors_total{job="statefulset-exporter", cluster="eu-west-1", resource="pods", reason="Forbidden"}'
        values: '0+1x10'
      - series: 'statefulset_exporter_api_errors_total{job="statefulset-exporter", cluster="us-east-1", resource="pods", reason="Timeout"}'
        values: '0+1x10'
      - series: 'statefulset_exporter_resource_enabled{job="statefulset-exporter", cluster="eu-west-1", resource="leases"}'
        values: '1x20'
      - series: 'statefulset_exporter_resource_enabled{job="statefulset-exporter", cluster="us-east-1", resource="leases"}'
        values: '0x20'
    alert_rule_test:
      - eval_time: 5m
        alertname: StatefulSetExporterResourceFailing
        exp_alerts:
          - exp_labels:
              severity: critical
              cluster: eu-west-1
              resource: pods
            exp_annotations:
              summary: statefulset-exporter cannot keep a resource's cache up to date.
              description: 'statefulset-exporter in cluster eu-west-1 has been failing to list or watch pods for more than 5m while the API server answers its probe: its cache of pods is not kept up to date; errors in the last 10 minutes: Forbidden. These alerts cannot fire, or fire on stale data: StatefulSetRolloutStalled, StatefulSetPodsCrashLooping, StatefulSetPodsUnschedulable, StatefulSetPodsPending, StatefulSetPodStuckTerminating, StatefulSetContainerRestarting, StatefulSetVolumeZoneMismatch, StatefulSetVolumeNoUsableNode, StatefulSetVolumeAttachedElsewhere, StatefulSetSingleZone, StatefulSetInitContainerStuck, StatefulSetOnDeletePodsOutdated.'
              runbook_url: https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#statefulsetexporterresourcefailing
      - eval_time: 15m
        alertname: StatefulSetExporterResourceDisabled
        exp_alerts:
          - exp_labels:
              severity: warning
              cluster: us-east-1
              resource: leases
            exp_annotations:
              summary: statefulset-exporter has switched off an optional resource.
              description: 'statefulset-exporter in cluster us-east-1 has not watched leases for more than 15m: RBAC forbids listing it or the API server does not serve it. These alerts cannot fire: ControlPlaneLeaderFlapping, ControlPlaneNoLeader.'
              runbook_url: https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#statefulsetexporterresourcedisabled
`

// TestMultiClusterRules generates the rules of a multi-cluster configuration and runs
// promtool unit tests against them.
func TestMultiClusterRules(t *testing.T) {
	cfg := mixin.DefaultConfig()
	cfg.MultiCluster = true
	cfg.ClusterLabel = "cluster"
	cfg.NamespaceSelector = `namespace=~"prod-.*"`
	ruleFile, err := rules.RuleFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"rules.yaml":      ruleFile,
		"unit_tests.yaml": []byte(multiClusterUnitTests),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := runTool(t, dir, "promtool", "check", "rules", "--lint=all", "--lint-fatal", "rules.yaml"); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := runTool(t, dir, "promtool", "test", "rules", "unit_tests.yaml"); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
