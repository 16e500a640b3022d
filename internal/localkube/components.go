package localkube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Leader election of the controllers: shorter than the defaults (15s, 10s, 2s) so that
// a killed leader's Lease moves within seconds in tests, long enough not to flap on a
// loaded two-core machine.
const (
	leaseDuration = 8 * time.Second
	renewDeadline = 6 * time.Second
	retryPeriod   = time.Second

	// NodeMonitorGracePeriod is how long kube-controller-manager waits for a node's
	// heartbeat before it marks the node NotReady (the default is 50s). Simulated
	// kubelets renew their Leases every 5s and their status every 10-11s, and a
	// restart of kwok leaves the Leases to the old instance for their 20s duration:
	// 30s keeps nodes Ready through both on a busy two-core machine.
	NodeMonitorGracePeriod = 30 * time.Second

	componentStopGrace = 5 * time.Second
)

// ProcessSpec is a program run against the cluster once the control plane is up.
type ProcessSpec struct {
	// Name names the process in messages and logs, e.g. "kwok".
	Name string
	// Binary is built with EnsureBinary.
	Binary Binary
	// Args returns the command line, given a directory of the process's own and the
	// path of a kubeconfig file for AdminUser.
	Args func(dir, kubeconfig string) ([]string, error)
	// Env, when set, returns variables to add to the environment, given the same
	// directory.
	Env func(dir string) []string
}

// Component names of StopComponent and StartComponent.
const (
	ControllerManagerName = "kube-controller-manager"
	SchedulerName         = "kube-scheduler"
)

// componentPlan is a component to start once the API server is ready.
type componentPlan struct {
	name   string
	binary Binary
	path   string // of the built binary
	args   func(dir, kubeconfig string, creds *credentials) ([]string, error)
	env    func(dir string) []string
}

// planComponents builds the binaries of the controllers and extra processes of opts,
// before anything starts, so that a first build does not run against a live cluster.
func planComponents(ctx context.Context, opts Options, logf func(string, ...any)) ([]componentPlan, error) {
	var plans []componentPlan
	if opts.Controllers {
		plans = append(plans,
			componentPlan{name: ControllerManagerName, binary: ControllerManager,
				args: func(_, kubeconfig string, creds *credentials) ([]string, error) {
					return append(controllerManagerArgs(kubeconfig, creds), opts.ExtraControllerManagerArgs...), nil
				}},
			componentPlan{name: SchedulerName, binary: Scheduler,
				args: func(_, kubeconfig string, _ *credentials) ([]string, error) {
					return append(schedulerArgs(kubeconfig), opts.ExtraSchedulerArgs...), nil
				}})
	}
	for _, p := range opts.Processes {
		plans = append(plans, componentPlan{name: p.Name, binary: p.Binary, env: p.Env,
			args: func(dir, kubeconfig string, _ *credentials) ([]string, error) { return p.Args(dir, kubeconfig) }})
	}
	for i := range plans {
		path, err := EnsureBinary(ctx, plans[i].binary, logf)
		if err != nil {
			return nil, err
		}
		plans[i].path = path
	}
	return plans, nil
}

// startComponents starts the planned components, each with a directory of its own and
// a kubeconfig for AdminUser, and waits for the controllers' leases.
func (c *Cluster) startComponents(ctx context.Context, plans []componentPlan, controllers bool) error {
	if len(plans) == 0 {
		return nil
	}
	kubeconfig := filepath.Join(c.dir, "admin.kubeconfig")
	if err := c.WriteKubeconfig(kubeconfig, false); err != nil {
		return err
	}
	for _, p := range plans {
		dir := filepath.Join(c.dir, p.name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating %s directory: %w", p.name, err)
		}
		args, err := p.args(dir, kubeconfig, c.creds)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		proc := &process{name: p.name, path: p.path, args: args, logPath: filepath.Join(c.dir, p.name+".log")}
		if p.env != nil {
			proc.env = p.env(dir)
		}
		c.components = append(c.components, proc)
		if err := proc.start(); err != nil {
			return err
		}
	}
	if controllers {
		return c.waitForLeaders(ctx)
	}
	return nil
}

// waitForLeaders waits until kube-controller-manager and kube-scheduler hold their
// Leases, which they take only once they are serving.
func (c *Cluster) waitForLeaders(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		return err
	}
	for _, name := range []string{ControllerManagerName, SchedulerName} {
		p := c.component(name)
		err := p.waitReady(ctx, c.timeout, func(ctx context.Context) error {
			l, err := client.CoordinationV1().Leases(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
				return fmt.Errorf("lease %s has no holder", name)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	c.logf("localkube: kube-controller-manager and kube-scheduler hold their leases")
	return nil
}

// StopComponent kills the named component (ControllerManagerName, SchedulerName or the
// name of a ProcessSpec) with SIGKILL, as a crashed or lost instance, and waits for it
// to exit. Its Lease, if any, stays with it until it expires.
func (c *Cluster) StopComponent(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.component(name)
	if p == nil {
		return fmt.Errorf("no component %q", name)
	}
	return p.stop(0)
}

// ErrRunning is wrapped by the error of StartComponent for a component that runs.
var ErrRunning = errors.New("already running")

// StartComponent starts a component stopped by StopComponent (or exited) again, with
// the same command line.
func (c *Cluster) StartComponent(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("cluster is stopped")
	}
	p := c.component(name)
	if p == nil {
		return fmt.Errorf("no component %q", name)
	}
	return p.start()
}

// ComponentLogPath returns the path of the named component's log file. It is removed
// by Stop.
func (c *Cluster) ComponentLogPath(name string) string {
	if p := c.component(name); p != nil {
		return p.logPath
	}
	return ""
}

func (c *Cluster) component(name string) *process {
	i := slices.IndexFunc(c.components, func(p *process) bool { return p.name == name })
	if i < 0 {
		return nil
	}
	return c.components[i]
}

// controllerManagerArgs is kube-controller-manager's command line.
func controllerManagerArgs(kubeconfig string, creds *credentials) []string {
	return append([]string{
		"--kubeconfig=" + kubeconfig,
		// No serving: nothing scrapes it, and it needs no serving certificate.
		"--secure-port=0",
		"--service-account-private-key-file=" + creds.saKeyFile,
		"--root-ca-file=" + creds.certFile,
		"--use-service-account-credentials=false",
		"--node-monitor-grace-period=" + NodeMonitorGracePeriod.String(),
		"--node-monitor-period=2s",
		"--kube-api-qps=100",
		"--kube-api-burst=200",
	}, leaderElectionArgs()...)
}

// schedulerArgs is kube-scheduler's command line.
func schedulerArgs(kubeconfig string) []string {
	return append([]string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--secure-port=0",
		"--kube-api-qps=100",
		"--kube-api-burst=200",
	}, leaderElectionArgs()...)
}

func leaderElectionArgs() []string {
	return []string{
		"--leader-elect=true",
		"--leader-elect-lease-duration=" + leaseDuration.String(),
		"--leader-elect-renew-deadline=" + renewDeadline.String(),
		"--leader-elect-retry-period=" + retryPeriod.String(),
	}
}
