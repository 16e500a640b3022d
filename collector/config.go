package collector

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// DefaultZoneLabels are the node and PersistentVolume label keys that carry an
// availability zone, most specific first.
var DefaultZoneLabels = []string{
	"topology.kubernetes.io/zone",
	"failure-domain.beta.kubernetes.io/zone",
	"topology.ebs.csi.aws.com/zone",
}

// Config holds everything that changes what the collector watches and derives.
type Config struct {
	// Namespaces restricts the watched namespaces; empty means all.
	Namespaces []string
	// ExcludeNamespaces are never watched.
	ExcludeNamespaces []string
	// StatefulSetSelector is a label selector applied to StatefulSets by the API server.
	StatefulSetSelector string
	// ZoneLabels are the label keys read for zones, in order of preference.
	ZoneLabels []string
	// RolloutStallAfter is how long an in-progress rollout may go without progress.
	RolloutStallAfter time.Duration
	// TerminatingStuckAfter is the time past a pod's grace period after which a
	// terminating pod counts as stuck.
	TerminatingStuckAfter time.Duration
	// LeaseNamespace is where control-plane Leases are read.
	LeaseNamespace string
	// LeaseNames restricts the Leases; empty means every Lease in LeaseNamespace.
	LeaseNames []string
	// LeaseSelector is a label selector applied to Leases by the API server.
	LeaseSelector string
	// ListPageSize is how many objects one page of an initial list (and of every
	// relist) holds, at least; lists of more than 25 pages take larger pages, up to 8
	// times as many objects (listpages.go). 0 lists each kind in one response.
	ListPageSize int64
	// APIProbeInterval is how often the API server's /version is probed.
	APIProbeInterval time.Duration
	// BindDurationHistogram turns on statefulset_pvc_bind_duration_seconds, 12 series
	// per StatefulSet that no shipped alert reads.
	BindDurationHistogram bool
	// RestartsRecentWindow is how long after a container's last termination finished
	// statefulset_container_last_terminated_timestamp_seconds is exported for it.
	RestartsRecentWindow time.Duration
}

// DefaultConfig returns the defaults of the command-line flags.
func DefaultConfig() Config {
	return Config{
		ZoneLabels:            append([]string(nil), DefaultZoneLabels...),
		RolloutStallAfter:     10 * time.Minute,
		TerminatingStuckAfter: 5 * time.Minute,
		LeaseNamespace:        "kube-system",
		// kube-apiserver's identity Leases (one per API server instance, renamed on
		// every restart) are not leader elections.
		LeaseSelector:        "!apiserver.kubernetes.io/identity",
		APIProbeInterval:     10 * time.Second,
		RestartsRecentWindow: time.Hour,
		ListPageSize:         250,
	}
}

// RegisterFlags adds the collector's flags to app, writing into c. Call Validate after
// parsing.
func (c *Config) RegisterFlags(app *kingpin.Application) {
	d := DefaultConfig()
	app.Flag("namespaces", "Comma-separated namespaces to watch. Empty watches all namespaces.").
		Default("").StringsVar(&c.Namespaces)
	app.Flag("namespaces-exclude", "Comma-separated namespaces never to watch.").
		Default("").StringsVar(&c.ExcludeNamespaces)
	app.Flag("statefulset.selector", "Label selector restricting the StatefulSets watched, e.g. 'tier=db'.").
		Default("").StringVar(&c.StatefulSetSelector)
	app.Flag("zone.label", "Label key that carries a node's or a volume's zone. Repeat for several keys, most specific first.").
		Default(d.ZoneLabels...).StringsVar(&c.ZoneLabels)
	app.Flag("rollout.stall-after", "How long a rollout in progress may go without progress before it counts as stalled.").
		Default(d.RolloutStallAfter.String()).DurationVar(&c.RolloutStallAfter)
	app.Flag("terminating.stuck-after", "Time past a pod's termination grace period after which a terminating pod counts as stuck.").
		Default(d.TerminatingStuckAfter.String()).DurationVar(&c.TerminatingStuckAfter)
	app.Flag("lease.namespace", "Namespace of the control-plane Leases (kube-scheduler, kube-controller-manager).").
		Default(d.LeaseNamespace).StringVar(&c.LeaseNamespace)
	app.Flag("lease.name", "Name of a Lease to watch. Repeat for several. Empty watches every Lease in --lease.namespace.").
		StringsVar(&c.LeaseNames)
	app.Flag("lease.selector", "Label selector restricting the Leases watched. The default leaves out kube-apiserver's identity Leases.").
		Default(d.LeaseSelector).StringVar(&c.LeaseSelector)
	app.Flag("api.probe-interval", "How often the API server's /version is probed to tell whether it is reachable.").
		Default(d.APIProbeInterval.String()).DurationVar(&c.APIProbeInterval)
	app.Flag("kube.list-page-size", "Objects per page of the initial lists and relists; a list of more than 25 pages takes larger pages, up to 8 times this size. Larger pages sync faster on large clusters and hold more memory while syncing; 0 lists each kind in one response. Unused when the API server streams lists (WatchList).").
		Default(strconv.FormatInt(d.ListPageSize, 10)).Int64Var(&c.ListPageSize)
	app.Flag("restarts.recent-window", "How long after a container's last termination finished statefulset_container_last_terminated_timestamp_seconds is exported for it (0 turns the family off). At least the window of the restart alert (1h by default), so that the alert sees each termination of a crash-looping container.").
		Default(d.RestartsRecentWindow.String()).DurationVar(&c.RestartsRecentWindow)
	app.Flag("pvc.bind-duration-histogram", "Export statefulset_pvc_bind_duration_seconds, the Pending to Bound durations of each StatefulSet's claims (12 series per StatefulSet; the storage dashboard's bind-duration panel needs it).").
		BoolVar(&c.BindDurationHistogram)
}

// Validate normalises list flags (comma-separated values, blanks) and reports values
// that cannot work.
func (c *Config) Validate() error {
	c.Namespaces = splitList(c.Namespaces)
	c.ExcludeNamespaces = splitList(c.ExcludeNamespaces)
	c.ZoneLabels = splitList(c.ZoneLabels)
	c.LeaseNames = splitList(c.LeaseNames)
	if len(c.ZoneLabels) == 0 {
		return fmt.Errorf("--zone.label: at least one label key is needed")
	}
	for _, ns := range c.Namespaces {
		for _, ex := range c.ExcludeNamespaces {
			if ns == ex {
				return fmt.Errorf("namespace %q is both watched (--namespaces) and excluded (--namespaces-exclude)", ns)
			}
		}
	}
	if c.StatefulSetSelector != "" {
		if _, err := labels.Parse(c.StatefulSetSelector); err != nil {
			return fmt.Errorf("--statefulset.selector: %w", err)
		}
	}
	if c.LeaseSelector != "" {
		if _, err := labels.Parse(c.LeaseSelector); err != nil {
			return fmt.Errorf("--lease.selector: %w", err)
		}
	}
	if c.RolloutStallAfter <= 0 {
		return fmt.Errorf("--rollout.stall-after must be positive, got %s", c.RolloutStallAfter)
	}
	if c.TerminatingStuckAfter < 0 {
		return fmt.Errorf("--terminating.stuck-after must not be negative, got %s", c.TerminatingStuckAfter)
	}
	if c.RestartsRecentWindow < 0 {
		return fmt.Errorf("--restarts.recent-window must not be negative, got %s", c.RestartsRecentWindow)
	}
	if c.APIProbeInterval < 100*time.Millisecond {
		return fmt.Errorf("--api.probe-interval must be at least 100ms, got %s", c.APIProbeInterval)
	}
	if c.ListPageSize < 0 {
		return fmt.Errorf("--kube.list-page-size must not be negative, got %d", c.ListPageSize)
	}
	if c.LeaseNamespace == "" {
		return fmt.Errorf("--lease.namespace must not be empty")
	}
	return nil
}

// thresholds are the durations the derivations compare against.
func (c *Config) thresholds() derive.Thresholds {
	return derive.Thresholds{RolloutStallAfter: c.RolloutStallAfter, TerminatingStuckAfter: c.TerminatingStuckAfter,
		RecentTerminationWindow: c.RestartsRecentWindow}
}

// watchesNamespace tells whether objects of namespace ns are in scope.
func (c *Config) watchesNamespace(ns string) bool {
	for _, ex := range c.ExcludeNamespaces {
		if ns == ex {
			return false
		}
	}
	if len(c.Namespaces) == 0 {
		return true
	}
	for _, in := range c.Namespaces {
		if ns == in {
			return true
		}
	}
	return false
}

func splitList(values []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part != "" && !seen[part] {
				seen[part] = true
				out = append(out, part)
			}
		}
	}
	return out
}
