package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/kwok"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simscenario"
)

// The churn: everything the soak does to the cluster, through real Kubernetes (pod
// labels that tell kwok's simulated kubelets what to do, StatefulSet specs, pod
// deletions) and through the processes of the control plane (kube-apiserver killed and
// started again, kube-controller-manager and kube-scheduler killed so that their Leases
// move).

// Namespaces (= StatefulSet names) of the soak's workloads.
const (
	nsFlapper = "flapper"        // healthy; pods turn unready or crash for short bursts
	nsChurn   = "churn"          // healthy; scaled up and down, pods deleted
	nsRollout = "rollout-broken" // a rollout stuck behind a crash-looping pod, then repaired
	nsStuck   = "stuck"          // a pod stuck Terminating (a finalizer nobody removes), for good
)

// stuckFinalizer keeps the stuck pod Terminating: no controller removes it.
const stuckFinalizer = "soak.statefulset-exporter.io/never-removed"

// counter is a thread-safe tally of the churn, for the report.
type counter struct {
	mu     sync.Mutex
	counts map[string]int
	errs   map[string]int
	notes  map[string][]string
}

func newCounter() *counter {
	return &counter{counts: map[string]int{}, errs: map[string]int{}, notes: map[string][]string{}}
}

func (c *counter) add(what string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs[what]++
		return
	}
	c.counts[what]++
}

func (c *counter) note(what, note string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notes[what] = append(c.notes[what], note)
}

// setupWorkloads creates the four StatefulSets, three replicas each with a
// PodDisruptionBudget over three zones, and waits until they are Ready.
func setupWorkloads(ctx context.Context, c *simcluster.Cluster) error {
	var wg sync.WaitGroup
	names := []string{nsFlapper, nsChurn, nsRollout, nsStuck}
	errs := make([]error, len(names))
	for i, name := range names {
		wg.Go(func() {
			errs[i] = createReady(ctx, c.Client, name)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func createReady(ctx context.Context, client kubernetes.Interface, name string) error {
	if err := simscenario.Create(ctx, client, name, simscenario.Workload(name, 3, nil, nil)); err != nil {
		return err
	}
	if err := simscenario.CreatePDB(ctx, client, name, name); err != nil {
		return err
	}
	return simscenario.WaitReady(ctx, client, name, name, 3*time.Minute)
}

// breakRollout starts a rollout to a crash-looping container: the StatefulSet
// controller replaces pod -2 first and waits for it forever.
func breakRollout(ctx context.Context, client kubernetes.Interface) error {
	annotations, labels := simscenario.CrashLooping(simscenario.CrashBackOff)
	return simscenario.PatchPodTemplateMetadata(ctx, client, nsRollout, nsRollout, annotations, labels)
}

// repairRollout reverts the template and deletes the crash-looping pod, as an operator
// does (the controller does not replace a pod that never became Ready).
func repairRollout(ctx context.Context, client kubernetes.Interface) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"labels":{%q:null},"annotations":{%q:null,%q:null}}}}}`,
		kwok.BehaviorLabel, kwok.BackOffAnnotation, kwok.CrashAfterAnnotation)
	if err := simscenario.Patch(ctx, client, nsRollout, nsRollout, patch); err != nil {
		return err
	}
	return client.CoreV1().Pods(nsRollout).Delete(ctx, nsRollout+"-2", metav1.DeleteOptions{})
}

// breakStuck gives pod stuck-1 a finalizer and deletes it: it stays Terminating past
// its grace period, and the StatefulSet controller waits for it to go.
func breakStuck(ctx context.Context, client kubernetes.Interface) error {
	pod := nsStuck + "-1"
	patch := fmt.Sprintf(`{"metadata":{"finalizers":[%q]}}`, stuckFinalizer)
	if _, err := client.CoreV1().Pods(nsStuck).Patch(ctx, pod, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("adding a finalizer to %s/%s: %w", nsStuck, pod, err)
	}
	return client.CoreV1().Pods(nsStuck).Delete(ctx, pod, metav1.DeleteOptions{})
}

// flapper makes the flapper's pods unready (kwok's not-ready behaviour: a failing
// readiness probe) for flapFor, one pod at a time, every flapEvery; every third burst is
// a crash instead (the container exits once and starts again), as long as the pod has
// crashed fewer than maxCrashes times within crashWindow: StatefulSetContainerRestarting
// counts terminations per container over its window, and more would be a real
// restart loop, which it must report.
type flapper struct {
	client      kubernetes.Interface
	count       *counter
	logf        func(string, ...any)
	flapFor     time.Duration
	maxCrashes  int
	crashWindow time.Duration
	crashes     map[string][]time.Time
}

func (f *flapper) run(ctx context.Context, every time.Duration) {
	f.crashes = map[string][]time.Time{}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		pod := fmt.Sprintf("%s-%d", nsFlapper, i%3)
		if i%3 == 2 && f.mayCrash(pod) {
			err := f.crash(ctx, pod)
			f.count.add("crash bursts", err)
			if err != nil {
				f.logf("crash burst on %s: %v", pod, err)
			}
			continue
		}
		err := f.unready(ctx, pod)
		f.count.add("readiness bursts", err)
		if err != nil {
			f.logf("readiness burst on %s: %v", pod, err)
		}
	}
}

func (f *flapper) mayCrash(pod string) bool {
	recent := 0
	for _, t := range f.crashes[pod] {
		if time.Since(t) < f.crashWindow {
			recent++
		}
	}
	return recent < f.maxCrashes
}

// unready makes the pod unready for flapFor. The label is removed whatever happened
// (retried through API server restarts): a pod left unready would be a real problem.
func (f *flapper) unready(ctx context.Context, pod string) error {
	if err := f.setBehavior(ctx, pod, kwok.BehaviorNotReady, nil); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(f.flapFor):
	}
	return f.restore(ctx, pod)
}

// crash makes the pod's container crash once: kwok's crash-loop behaviour until the
// container's restart count rises, then back to normal, so that the restarted
// container runs for good.
func (f *flapper) crash(ctx context.Context, pod string) error {
	before, err := f.restarts(ctx, pod)
	if err != nil {
		return err
	}
	annotations := map[string]any{kwok.CrashAfterAnnotation: "1s", kwok.BackOffAnnotation: "2s"}
	if err := f.setBehavior(ctx, pod, kwok.BehaviorCrashLoop, annotations); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	var waitErr error
	for {
		n, err := f.restarts(ctx, pod)
		if err == nil && n > before {
			f.crashes[pod] = append(f.crashes[pod], time.Now())
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			waitErr = fmt.Errorf("%s did not restart within a minute", pod)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return errors.Join(waitErr, f.restore(ctx, pod))
}

func (f *flapper) restarts(ctx context.Context, pod string) (int32, error) {
	p, err := f.client.CoreV1().Pods(nsFlapper).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n, nil
}

// restore removes the behaviour label and annotations, retrying for up to two minutes.
func (f *flapper) restore(ctx context.Context, pod string) error {
	annotations := map[string]any{kwok.CrashAfterAnnotation: nil, kwok.BackOffAnnotation: nil}
	var err error
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		if err = f.setBehavior(context.WithoutCancel(ctx), pod, "", annotations); err == nil {
			return nil
		}
	}
	return fmt.Errorf("restoring %s: %w", pod, err)
}

func (f *flapper) setBehavior(ctx context.Context, pod, behavior string, annotations map[string]any) error {
	var label any = behavior
	if behavior == "" {
		label = nil
	}
	meta := map[string]any{"labels": map[string]any{kwok.BehaviorLabel: label}}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	patch := simscenario.MustJSON(map[string]any{"metadata": meta})
	_, err := f.client.CoreV1().Pods(nsFlapper).Patch(ctx, pod, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// scaler scales the churn StatefulSet between 3 and 4 replicas every interval.
func scaler(ctx context.Context, client kubernetes.Interface, count *counter, logf func(string, ...any), every time.Duration) {
	replicas := int32(3)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		next := 7 - replicas
		err := retry(ctx, func() error { return simscenario.Scale(ctx, client, nsChurn, nsChurn, next) })
		count.add("scalings", err)
		if err != nil {
			logf("scaling %s to %d: %v", nsChurn, next, err)
			continue
		}
		replicas = next
	}
}

// deleter deletes a random pod of the churn StatefulSet every interval.
func deleter(ctx context.Context, client kubernetes.Interface, count *counter, logf func(string, ...any), every time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		err := retry(ctx, func() error {
			pods, err := client.CoreV1().Pods(nsChurn).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			if len(pods.Items) == 0 {
				return errors.New("no pods")
			}
			name := pods.Items[rand.N(len(pods.Items))].Name
			return client.CoreV1().Pods(nsChurn).Delete(ctx, name, metav1.DeleteOptions{})
		})
		count.add("pod deletions", err)
		if err != nil {
			logf("deleting a pod of %s: %v", nsChurn, err)
		}
	}
}

// controlPlane is the churn of the control plane's processes.
type controlPlane struct {
	c     *simcluster.Cluster
	count *counter
	logf  func(string, ...any)
	down  time.Duration // how long kube-apiserver stays killed before it is started again
	mu    sync.Mutex    // one operation at a time
}

// restartAPIServer kills kube-apiserver, starts it again on the same port after down,
// and waits until kube-controller-manager and kube-scheduler lead again, starting any
// that exited (they exit when they cannot renew their Lease within their renew
// deadline, and kubelet would restart their static pods). It returns how long the API
// server did not answer.
func (cp *controlPlane) restartAPIServer(ctx context.Context) (time.Duration, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	stopped := time.Now()
	if err := cp.c.StopAPIServer(); err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(cp.down):
	}
	if err := cp.c.StartAPIServer(context.WithoutCancel(ctx)); err != nil {
		return 0, err
	}
	back := time.Now()
	outage := back.Sub(stopped)
	var restarted []string
	err := waitUntil(ctx, time.Minute, func(ctx context.Context) (bool, string) {
		started, err := cp.c.RestartExited(localkube.ControllerManagerName, localkube.SchedulerName, "kwok")
		restarted = append(restarted, started...)
		if err != nil {
			return false, err.Error()
		}
		return cp.leading(ctx, back)
	})
	note := fmt.Sprintf("down %s", outage.Round(100*time.Millisecond))
	if len(restarted) > 0 {
		note += fmt.Sprintf(", restarted %s", strings.Join(restarted, "+"))
	}
	cp.count.note("API server restarts", note)
	return outage, err
}

// supervise plays kubelet for the control plane's static pods: every second it starts
// again kube-controller-manager, kube-scheduler or kwok if it exited. They exit when
// they fail to renew their Lease within their renew deadline, which can happen after
// kube-apiserver is back, once restartAPIServer has stopped looking: a renewal that
// reaches the server just after the deadline is lost for the client, which exits, while
// the Lease shows it renewed.
func (cp *controlPlane) supervise(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		cp.mu.Lock()
		started, err := cp.c.RestartExited(localkube.ControllerManagerName, localkube.SchedulerName, "kwok")
		cp.mu.Unlock()
		for _, name := range started {
			cp.count.add("exited and restarted", nil)
			cp.count.note("exited and restarted", fmt.Sprintf("%s at %s", name, time.Now().UTC().Format(time.TimeOnly)))
		}
		if err != nil && ctx.Err() == nil {
			cp.logf("restarting exited components: %v", err)
		}
	}
}

// failover kills a controller and starts it again: its Lease moves to the new
// instance once it has expired.
func (cp *controlPlane) failover(ctx context.Context, name string) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	killed := time.Now()
	if err := cp.c.StopComponent(name); err != nil {
		return err
	}
	if err := cp.c.StartComponent(name); err != nil {
		return err
	}
	return waitUntil(ctx, time.Minute, func(ctx context.Context) (bool, string) { return cp.leading(ctx, killed) })
}

// leading reports whether both controllers' Leases were renewed after since.
func (cp *controlPlane) leading(ctx context.Context, since time.Time) (bool, string) {
	var state []string
	ok := true
	for _, name := range []string{localkube.ControllerManagerName, localkube.SchedulerName} {
		l, err := cp.c.Client.CoordinationV1().Leases(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		renewed := l.Spec.RenewTime != nil && l.Spec.RenewTime.After(since)
		ok = ok && renewed
		state = append(state, fmt.Sprintf("%s renewed: %t", name, renewed))
	}
	return ok, strings.Join(state, ", ")
}

// leaseWatcher records every change of holder of the controllers' Leases, read from
// the API server every second: the soak's own account of the leader changes, against
// which ControlPlaneLeaderFlapping is judged.
// It also records how long each Lease went without a live holder (no holder, or
// renewTime + leaseDurationSeconds past), against which ControlPlaneNoLeader is judged.
type leaseWatcher struct {
	mu          sync.Mutex
	holders     map[string]string
	transitions map[string][]time.Time
	deadSince   map[string]time.Time     // when the Lease was first seen without a live holder
	longestDead map[string]time.Duration // the longest such stretch
}

func watchLeases(ctx context.Context, client kubernetes.Interface) *leaseWatcher {
	w := &leaseWatcher{holders: map[string]string{}, transitions: map[string][]time.Time{},
		deadSince: map[string]time.Time{}, longestDead: map[string]time.Duration{}}
	go func() {
		for {
			for _, name := range []string{localkube.ControllerManagerName, localkube.SchedulerName} {
				l, err := client.CoordinationV1().Leases(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					continue
				}
				now := time.Now()
				holder := ptr.Deref(l.Spec.HolderIdentity, "")
				live := holder != "" && l.Spec.RenewTime != nil && l.Spec.LeaseDurationSeconds != nil &&
					now.Before(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second))
				w.mu.Lock()
				if since, dead := w.deadSince[name]; dead && live {
					w.longestDead[name] = max(w.longestDead[name], now.Sub(since))
					delete(w.deadSince, name)
				} else if !dead && !live {
					w.deadSince[name] = now
				}
				if prev, ok := w.holders[name]; ok && holder != "" && prev != holder {
					w.transitions[name] = append(w.transitions[name], now)
				}
				if holder != "" {
					w.holders[name] = holder
				}
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return w
}

// LongestDead returns, for each Lease, the longest stretch without a live holder seen
// so far, one still going included.
func (w *leaseWatcher) LongestDead() map[string]time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := maps.Clone(w.longestDead)
	for name, since := range w.deadSince {
		out[name] = max(out[name], time.Since(since))
	}
	return out
}

func (w *leaseWatcher) Transitions() map[string][]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string][]time.Time{}
	for k, v := range w.transitions {
		out[k] = append([]time.Time(nil), v...)
	}
	return out
}

// retry calls fn every two seconds until it succeeds, for up to a minute: a change that
// falls into a kube-apiserver restart is made once the server is back.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for deadline := time.Now().Add(time.Minute); ; {
		if err = fn(); err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
}
