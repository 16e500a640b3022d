// Package mixin holds the one configuration that feeds the alerting rules, the recording
// rules and the Grafana dashboards shipped with statefulset-exporter. The rule groups are
// built by package mixin/rules and the dashboards by package mixin/dashboards; the
// generator in cmd/mixin writes them to rules/ and dashboards/.
//
// After changing the configuration, the rules or the dashboards, regenerate the committed
// files from the repository root with `go generate ./mixin` (or `go run ./cmd/mixin`).
package mixin

//go:generate go run ../cmd/mixin --output-dir=..

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

	// RunbookURLPattern is formatted with the alert name to give its runbook_url.
	RunbookURLPattern string

	// LeaseSelector restricts the control-plane alerts to the leader-election Leases of
	// control-plane components, for example `lease=~"kube-scheduler|kube-controller-manager"`.
	// Other Leases in the lease namespace are left out on purpose: API server identity
	// Leases (apiserver-…) stop being renewed whenever an API server instance is replaced,
	// and Leases of uninstalled add-ons are never renewed again. Empty means every Lease
	// the exporter exports.
	LeaseSelector string

	// Durations and thresholds. Names say which alert uses them.
	ReplicasNotReadyFor time.Duration
	NoReplicasReadyFor  time.Duration // not a single replica Ready: the workload is down
	// BootstrapGrace: StatefulSetNoReplicasReady leaves out a StatefulSet that did not
	// exist, or was scaled to 0, this long ago. It is bootstrapping its first pods, not
	// down; the pod alerts (Pending, Unschedulable, CrashLooping) say why it is slow.
	BootstrapGrace         time.Duration
	RolloutStalledFor      time.Duration
	GenerationMismatchFor  time.Duration
	CrashLoopingFor        time.Duration
	PodPendingFor          time.Duration
	PVCPendingThreshold    time.Duration // "for" of a claim Pending with its pod scheduled (not WaitForFirstConsumer)
	VolumeZoneMismatchFor  time.Duration
	VolumeNoUsableNodeFor  time.Duration
	VolumeAttachErrorFor   time.Duration
	VolumeLostFor          time.Duration // a Lost claim or a Failed volume: data unavailable
	VolumeReleasedFor      time.Duration
	VolumeResizeFailedFor  time.Duration
	StuckTerminatingFor    time.Duration
	InitContainerStuckFor  time.Duration // a regular init container still running
	OnDeleteOutdatedFor    time.Duration // OnDelete pods left on an old revision (nobody deleted them)
	RestartsThreshold      int           // restarts of one container within RestartsWindow
	RestartsWindow         time.Duration // at most the exporter's --restarts.recent-window
	RestartsFor            time.Duration
	LeaderChangesThreshold int           // transitions within LeaderChangesWindow
	LeaderChangesWindow    time.Duration // window for LeaderChangesThreshold
	NoLeaderFor            time.Duration // a control-plane lease without a live holder; longer than a failover
	APIUnreachableFor      time.Duration // longer than a normal control-plane failover
	ExporterAbsentFor      time.Duration
	// ExporterAbsentLookback is how long a cluster whose exporter was scraped is
	// remembered by StatefulSetExporterAbsent in a multi-cluster setup: a cluster whose
	// exporter has been gone for longer drops out of the alert.
	ExporterAbsentLookback time.Duration
	ResourceFailingFor     time.Duration // a required kind's list/watch failing while the API answers
	ResourceDisabledFor    time.Duration // an optional kind switched off (RBAC, not served)
	HAPostureFor           time.Duration
	// ReplicaStaleAfter: an exporter replica (a scrape target, told apart by its instance
	// label) whose statefulset_exporter_api_reachable has not read 1 in a scrape this
	// recent is stale, and the rules leave its series out while another replica is fresh
	// (see mixin/rules/builder.go). Longer than the scrape interval (30s in the shipped
	// ServiceMonitor), shorter than Prometheus' 5m lookback, during which the series of a
	// replica that died without staleness markers still answer queries.
	ReplicaStaleAfter time.Duration
	// KeepFiringFor keeps the critical alerts derived from the exporter's data firing
	// that long after their series disappear, so that an exporter restart (its series
	// go stale for a minute or two) neither resolves a page nor sends a new one. It also
	// delays their resolution after a repair by as much. 0 leaves it out.
	KeepFiringFor time.Duration
}

// DefaultConfig returns the configuration used for the committed rules/ and dashboards/.
func DefaultConfig() Config {
	return Config{
		Selector:               `job="statefulset-exporter"`,
		ClusterLabel:           "cluster",
		RunbookURLPattern:      "https://github.com/statefulset-exporter/statefulset-exporter/blob/main/docs/runbooks.md#%s",
		LeaseSelector:          `lease=~"kube-scheduler|kube-controller-manager|cloud-controller-manager"`,
		ReplicasNotReadyFor:    15 * time.Minute,
		NoReplicasReadyFor:     5 * time.Minute,
		BootstrapGrace:         15 * time.Minute,
		RolloutStalledFor:      5 * time.Minute,
		GenerationMismatchFor:  15 * time.Minute,
		CrashLoopingFor:        15 * time.Minute,
		PodPendingFor:          15 * time.Minute,
		PVCPendingThreshold:    15 * time.Minute,
		VolumeZoneMismatchFor:  5 * time.Minute,
		VolumeNoUsableNodeFor:  10 * time.Minute,
		VolumeAttachErrorFor:   10 * time.Minute,
		VolumeLostFor:          5 * time.Minute,
		VolumeReleasedFor:      15 * time.Minute,
		VolumeResizeFailedFor:  30 * time.Minute,
		StuckTerminatingFor:    5 * time.Minute,
		InitContainerStuckFor:  30 * time.Minute,
		OnDeleteOutdatedFor:    72 * time.Hour,
		RestartsThreshold:      3, // kubelet's back-off allows 12 an hour; an OOM every 20m makes 3
		RestartsWindow:         1 * time.Hour,
		RestartsFor:            5 * time.Minute,
		LeaderChangesThreshold: 3,
		LeaderChangesWindow:    15 * time.Minute,
		NoLeaderFor:            2 * time.Minute,
		APIUnreachableFor:      3 * time.Minute,
		ExporterAbsentFor:      15 * time.Minute,
		ExporterAbsentLookback: 24 * time.Hour,
		ResourceFailingFor:     5 * time.Minute,
		ResourceDisabledFor:    15 * time.Minute,
		HAPostureFor:           1 * time.Hour,
		ReplicaStaleAfter:      2 * time.Minute,
		KeepFiringFor:          5 * time.Minute,
	}
}

// TestConfig returns DefaultConfig with every duration shortened so that end-to-end tests
// against a real Prometheus see alerts fire within a minute or two. Run the exporter
// under test with matching short flags (for example --rollout.stall-after=30s
// --terminating.stuck-after=30s). The generator writes it with --test-config; it is never
// committed.
func TestConfig() Config {
	c := DefaultConfig()
	c.ReplicasNotReadyFor = 1 * time.Minute
	c.NoReplicasReadyFor = 30 * time.Second
	c.BootstrapGrace = 30 * time.Second
	c.RolloutStalledFor = 30 * time.Second
	c.GenerationMismatchFor = 1 * time.Minute
	c.CrashLoopingFor = 1 * time.Minute
	c.PodPendingFor = 1 * time.Minute
	c.PVCPendingThreshold = 1 * time.Minute
	c.VolumeZoneMismatchFor = 30 * time.Second
	c.VolumeNoUsableNodeFor = 30 * time.Second
	c.VolumeAttachErrorFor = 30 * time.Second
	c.VolumeLostFor = 30 * time.Second
	c.VolumeReleasedFor = 30 * time.Second
	c.VolumeResizeFailedFor = 30 * time.Second
	c.StuckTerminatingFor = 30 * time.Second
	c.InitContainerStuckFor = 1 * time.Minute
	c.OnDeleteOutdatedFor = 1 * time.Minute
	// RestartsWindow stays: it must hold several restarts at the back-off cap (kubelet
	// 5m; the simulated kubelets' 1m, whose window FastMixinConfig makes 6m).
	c.RestartsFor = 1 * time.Minute
	c.LeaderChangesWindow = 5 * time.Minute
	c.NoLeaderFor = 30 * time.Second
	c.APIUnreachableFor = 1 * time.Minute
	c.ExporterAbsentFor = 1 * time.Minute
	c.ExporterAbsentLookback = 1 * time.Hour
	c.ResourceFailingFor = 1 * time.Minute
	c.ResourceDisabledFor = 1 * time.Minute
	c.HAPostureFor = 1 * time.Minute
	c.KeepFiringFor = 0 // end-to-end tests time the resolved notifications
	return c
}

// Names of the recording rules in rules/, for dashboards and alerts that read them.
const (
	// RecordContainerRestartsRate5m is the per-second container restart rate of each
	// StatefulSet over 5 minutes, deduplicated across exporter replicas.
	RecordContainerRestartsRate5m = "namespace_statefulset:statefulset_container_restarts:rate5m"
)

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
	if c.RestartsThreshold < 2 {
		return fmt.Errorf("mixin: RestartsThreshold must be at least 2 (one restart is not a loop)")
	}
	if c.RestartsWindow < time.Minute {
		return fmt.Errorf("mixin: RestartsWindow must be at least 1m")
	}
	if c.LeaderChangesThreshold < 1 {
		return fmt.Errorf("mixin: LeaderChangesThreshold must be at least 1")
	}
	if c.LeaderChangesWindow <= 0 || c.PVCPendingThreshold <= 0 || c.NoLeaderFor <= 0 {
		return fmt.Errorf("mixin: LeaderChangesWindow, PVCPendingThreshold and NoLeaderFor must be positive")
	}
	if c.MultiCluster && c.ExporterAbsentLookback <= c.ExporterAbsentFor {
		return fmt.Errorf("mixin: ExporterAbsentLookback must be longer than ExporterAbsentFor")
	}
	if c.ReplicaStaleAfter <= 0 || c.ReplicaStaleAfter >= 5*time.Minute {
		return fmt.Errorf("mixin: ReplicaStaleAfter must be longer than the scrape interval and shorter than the 5m lookback")
	}
	if c.KeepFiringFor < 0 {
		return fmt.Errorf("mixin: KeepFiringFor must not be negative")
	}
	return c.checkMatcherLists()
}
