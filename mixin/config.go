// Package mixin holds the one configuration that feeds the alerting rules, the recording
// rules and the Grafana dashboards shipped with statefulset-exporter. The rule groups are
// built by package mixin/rules and the dashboards by package mixin/dashboards; the
// generator in cmd/mixin writes them to rules/ and dashboards/.
package mixin

import (
	"fmt"
	"strings"
	"time"
)

// Config selects the exporter's series and sets every threshold the rules use.
// DefaultConfig is what a user gets without configuring anything.
type Config struct {
	// Selector picks the exporter's series, for example `job="statefulset-exporter"`.
	Selector string
	// NamespaceSelector optionally restricts workload alerts and dashboards, for example
	// `namespace=~"prod-.*"`. Empty means all namespaces.
	NamespaceSelector string
	// ClusterLabel names the label that tells clusters apart in a multi-cluster setup.
	ClusterLabel string
	// MultiCluster adds ClusterLabel to aggregations, alert grouping and dashboard variables.
	MultiCluster bool
	// EKS tunes defaults for Amazon EKS (control-plane failover takes about a minute,
	// EBS volumes are pinned to one availability zone).
	EKS bool

	// RunbookURLPattern is formatted with the alert name to give its runbook_url.
	RunbookURLPattern string

	// Durations and thresholds. Names say which alert uses them.
	ReplicasNotReadyFor       time.Duration
	RolloutStalledFor         time.Duration
	GenerationMismatchFor     time.Duration
	CrashLoopingFor           time.Duration
	PodPendingFor             time.Duration
	PVCPendingThreshold       time.Duration // age of a Pending PVC before it alerts
	VolumeZoneMismatchFor     time.Duration
	VolumeZoneNoNodesFor      time.Duration
	VolumeAttachErrorFor      time.Duration
	StuckTerminatingFor       time.Duration
	RestartRateThreshold      float64 // restarts per second over 5m, per StatefulSet
	RestartRateFor            time.Duration
	LeaderChangesThreshold    int           // transitions within LeaderChangesWindow
	LeaderChangesWindow       time.Duration // window for LeaderChangesThreshold
	LeaseNotRenewedThreshold  time.Duration // age of renewTime before a lease counts as not renewed
	APIUnreachableFor         time.Duration // longer than a normal control-plane failover
	ExporterAbsentFor         time.Duration
	HAPostureFor              time.Duration
}

// DefaultConfig returns the configuration used for the committed rules/ and dashboards/.
func DefaultConfig() Config {
	return Config{
		Selector:                 `job="statefulset-exporter"`,
		ClusterLabel:             "cluster",
		RunbookURLPattern:        "https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#%s",
		ReplicasNotReadyFor:      15 * time.Minute,
		RolloutStalledFor:        5 * time.Minute,
		GenerationMismatchFor:    15 * time.Minute,
		CrashLoopingFor:          15 * time.Minute,
		PodPendingFor:            15 * time.Minute,
		PVCPendingThreshold:      15 * time.Minute,
		VolumeZoneMismatchFor:    5 * time.Minute,
		VolumeZoneNoNodesFor:     10 * time.Minute,
		VolumeAttachErrorFor:     10 * time.Minute,
		StuckTerminatingFor:      5 * time.Minute,
		RestartRateThreshold:     3.0 / 300, // more than 3 restarts in 5 minutes
		RestartRateFor:           15 * time.Minute,
		LeaderChangesThreshold:   3,
		LeaderChangesWindow:      15 * time.Minute,
		LeaseNotRenewedThreshold: 2 * time.Minute,
		APIUnreachableFor:        3 * time.Minute,
		ExporterAbsentFor:        15 * time.Minute,
		HAPostureFor:             1 * time.Hour,
	}
}

// RunbookURL returns the runbook address of an alert.
func (c Config) RunbookURL(alert string) string {
	return fmt.Sprintf(c.RunbookURLPattern, strings.ToLower(alert))
}

// Validate reports a configuration that cannot produce valid rules.
func (c Config) Validate() error {
	if c.Selector == "" {
		return fmt.Errorf("mixin: Selector must not be empty")
	}
	if c.MultiCluster && c.ClusterLabel == "" {
		return fmt.Errorf("mixin: MultiCluster needs ClusterLabel")
	}
	if !strings.Contains(c.RunbookURLPattern, "%s") {
		return fmt.Errorf("mixin: RunbookURLPattern %q has no %%s for the alert name", c.RunbookURLPattern)
	}
	return nil
}
