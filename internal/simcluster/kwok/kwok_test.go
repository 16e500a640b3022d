package kwok_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/kwok"
)

const (
	testNamespace = "kwok-test"
	nodeName      = "ip-10-1-2-3.eu-west-1.compute.internal"
	zone          = "eu-west-1a"
)

// TestKwok runs kwok with our stages against a local kube-apiserver and checks
// every behaviour: node readiness and heartbeats, the normal pod lifecycle,
// crash loops with kubelet's back-off, OOM kills, failing readiness, image
// pull failures and deletion. Pods are bound with spec.nodeName, so no
// scheduler is needed.
func TestKwok(t *testing.T) {
	cluster := startCluster(t)
	bin, err := localkube.EnsureBinary(t.Context(), localkube.Kwok, t.Logf)
	localkubetest.SkipOrFatal(t, "building kwok", err)

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig, false); err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := watchPods(t, client, testNamespace)

	started := time.Now()
	proc := startKwok(t, bin, dir, kubeconfig)

	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        nodeName,
			Annotations: map[string]string{kwok.NodeAnnotation: kwok.NodeAnnotationValue},
			Labels: map[string]string{
				kwok.NodeAnnotation:                kwok.NodeAnnotationValue,
				"topology.kubernetes.io/region":    "eu-west-1",
				"topology.kubernetes.io/zone":      zone,
				"node.kubernetes.io/instance-type": "m5.xlarge",
			},
		},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("4"),
			corev1.ResourceMemory: resource.MustParse("16Gi"),
			corev1.ResourcePods:   resource.MustParse("58"),
		}},
	}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A node kwok must leave alone.
	other := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "real-node"}}
	if _, err := client.CoreV1().Nodes().Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var readyNode *corev1.Node
	waitFor(t, 30*time.Second, "node Ready", func() (bool, string) {
		n, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		readyNode = n
		c := nodeCondition(n, corev1.NodeReady)
		return c != nil && c.Status == corev1.ConditionTrue, fmt.Sprintf("conditions %+v", n.Status.Conditions)
	})
	t.Logf("node Ready %s after kwok started", time.Since(started).Round(time.Millisecond))

	// Every pod is created at once: the checks below then read what the
	// watch recorded, so their waits overlap.
	podsCreated := time.Now()
	for _, pod := range []*corev1.Pod{
		newPod("web", nil, nil, withInitContainer, withSecondContainer),
		newPod("fin", nil, nil, func(p *corev1.Pod) { p.Finalizers = []string{kwok.Prefix + "test"} }),
		newPod("crash", map[string]string{kwok.BehaviorLabel: kwok.BehaviorCrashLoop},
			map[string]string{kwok.BackOffAnnotation: "1s", kwok.CrashAfterAnnotation: "1000ms"}),
		newPod("oom", map[string]string{kwok.BehaviorLabel: kwok.BehaviorOOMKilled}, nil),
		newPod("unready", map[string]string{kwok.BehaviorLabel: kwok.BehaviorNotReady}, nil),
		newPod("pull", map[string]string{kwok.BehaviorLabel: kwok.BehaviorImagePullError}, nil),
		newPod("elsewhere", nil, nil, func(p *corev1.Pod) { p.Spec.NodeName = other.Name }),
	} {
		if _, err := client.CoreV1().Pods(testNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("node", func(t *testing.T) {
		n := readyNode
		if got, want := n.Status.Allocatable, n.Status.Capacity; !resourceListsEqual(got, want) {
			t.Errorf("allocatable %v, want the capacity %v", got, want)
		}
		if got := n.Status.Capacity.Cpu().String(); got != "4" {
			t.Errorf("capacity cpu %s, want the 4 set at creation", got)
		}
		if n.Labels["topology.kubernetes.io/zone"] != zone {
			t.Errorf("zone label %q lost", n.Labels["topology.kubernetes.io/zone"])
		}
		if o, err := client.CoreV1().Nodes().Get(ctx, other.Name, metav1.GetOptions{}); err != nil {
			t.Error(err)
		} else if len(o.Status.Conditions) != 0 {
			t.Errorf("kwok touched the unannotated node: conditions %v", o.Status.Conditions)
		}
	})

	t.Run("running", func(t *testing.T) {
		p := pods.waitFor(t, "web", 10*time.Second, "Running and Ready", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && podReady(p) && allRunning(p)
		})
		t.Logf("web Running and Ready %s after creation", pods.firstTime("web", func(p *corev1.Pod) bool { return podReady(p) }).Sub(podsCreated).Round(time.Millisecond))
		_, cidr, _ := net.ParseCIDR(kwok.PodCIDR)
		if ip := net.ParseIP(p.Status.PodIP); ip == nil || !cidr.Contains(ip) {
			t.Errorf("podIP %q not in %s", p.Status.PodIP, kwok.PodCIDR)
		}
		if c := podCondition(p, corev1.ContainersReady); c == nil || c.Status != corev1.ConditionTrue {
			t.Errorf("ContainersReady %+v", c)
		}
		if len(p.Status.ContainerStatuses) != 2 || len(p.Status.InitContainerStatuses) != 1 {
			t.Fatalf("container statuses %+v, init container statuses %+v", p.Status.ContainerStatuses, p.Status.InitContainerStatuses)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if !cs.Ready || cs.Started == nil || !*cs.Started || cs.RestartCount != 0 || cs.ContainerID == "" {
				t.Errorf("container status %+v", cs)
			}
		}
		if s := p.Status.InitContainerStatuses[0].State.Terminated; s == nil || s.Reason != "Completed" {
			t.Errorf("init container state %+v", p.Status.InitContainerStatuses[0].State)
		}
		if pods.last("elsewhere").Status.Phase != corev1.PodPending || len(pods.last("elsewhere").Status.ContainerStatuses) != 0 {
			t.Errorf("kwok touched a pod of an unmanaged node: %+v", pods.last("elsewhere").Status)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := client.CoreV1().Pods(testNamespace).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		pods.waitGone(t, "web", 10*time.Second)
		t.Logf("web gone %s after its deletion", time.Since(deleted).Round(time.Millisecond))

		pods.waitFor(t, "fin", 10*time.Second, "Running and Ready", podReady)
		if err := client.CoreV1().Pods(testNamespace).Delete(ctx, "fin", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		pods.waitFor(t, "fin", 10*time.Second, "deleted with grace period 0", func(p *corev1.Pod) bool {
			return p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds == 0
		})
		time.Sleep(time.Second)
		if pods.gone("fin") {
			t.Fatal("the pod with a finalizer disappeared before its finalizer was removed")
		}
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		if _, err := client.CoreV1().Pods(testNamespace).Patch(ctx, "fin", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		pods.waitGone(t, "fin", 10*time.Second)
	})

	t.Run("not-ready", func(t *testing.T) {
		p := pods.waitFor(t, "unready", 10*time.Second, "Running with containers running", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && allRunning(p)
		})
		if podReady(p) {
			t.Errorf("pod Ready, want not ready")
		}
		if c := podCondition(p, corev1.ContainersReady); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotReady" {
			t.Errorf("ContainersReady %+v", c)
		}
		if pods.ever("unready", podReady) {
			t.Errorf("the pod was Ready at some point")
		}
		// Removing the label fixes the readiness "probe".
		patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:null}}}`, kwok.BehaviorLabel)
		if _, err := client.CoreV1().Pods(testNamespace).Patch(ctx, "unready", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		pods.waitFor(t, "unready", 10*time.Second, "Ready once unlabelled", func(p *corev1.Pod) bool {
			return podReady(p) && p.Status.ContainerStatuses[0].Ready
		})
	})

	t.Run("oom-killed", func(t *testing.T) {
		// Default timings: crash after 2s, restart at once, then back-off 10s.
		p := pods.waitFor(t, "oom", 15*time.Second, "restarted after an OOM kill", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 1 && cs[0].LastTerminationState.Terminated != nil
		})
		last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if last.Reason != "OOMKilled" || last.ExitCode != 137 {
			t.Errorf("lastState.terminated %+v, want OOMKilled with exit code 137", last)
		}
		if !pods.ever("oom", func(p *corev1.Pod) bool {
			s := p.Status.ContainerStatuses
			return len(s) == 1 && s[0].State.Terminated != nil && s[0].State.Terminated.Reason == "OOMKilled"
		}) {
			t.Errorf("never saw the container terminated with reason OOMKilled")
		}
		p = pods.waitFor(t, "oom", 15*time.Second, "in CrashLoopBackOff", func(p *corev1.Pod) bool {
			w := waiting(p)
			return w != nil && w.Reason == "CrashLoopBackOff"
		})
		want := fmt.Sprintf("back-off 10s restarting failed container=app pod=oom_%s(%s)", testNamespace, p.UID)
		if got := waiting(p).Message; got != want {
			t.Errorf("waiting message %q, want %q", got, want)
		}
		if p.Status.Phase != corev1.PodRunning || podReady(p) {
			t.Errorf("phase %s, Ready %v; want Running, not Ready", p.Status.Phase, podReady(p))
		}
	})

	t.Run("image-pull-error", func(t *testing.T) {
		// Default back-off: ErrImagePull at 0s, ImagePullBackOff from 1s,
		// ErrImagePull again at 10s.
		pods.waitFor(t, "pull", 25*time.Second, "a second pull attempt", func(*corev1.Pod) bool {
			return len(pods.reasons("pull")) >= 3
		})
		reasons := pods.reasons("pull")
		if want := []string{"ErrImagePull", "ImagePullBackOff", "ErrImagePull"}; !equalPrefix(reasons, want) {
			t.Errorf("waiting reasons %v, want %v...", reasons, want)
		}
		first := pods.firstTime("pull", func(p *corev1.Pod) bool { w := waiting(p); return w != nil && w.Reason == "ErrImagePull" })
		second := pods.nthTransition("pull", "ErrImagePull", 2)
		t.Logf("pull attempts %s apart (kubelet: 10s)", second.Sub(first).Round(time.Millisecond))
		if d := second.Sub(first); d < 9*time.Second || d > 12*time.Second {
			t.Errorf("second pull attempt %s after the first, want about 10s", d)
		}
		p := pods.last("pull")
		if p.Status.Phase != corev1.PodPending || p.Status.PodIP == "" || podReady(p) {
			t.Errorf("phase %s, podIP %q, Ready %v; want Pending with an IP, not Ready", p.Status.Phase, p.Status.PodIP, podReady(p))
		}
		if pods.ever("pull", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }) {
			t.Errorf("the pod ran")
		}
		if w := waiting(p); w != nil && w.Reason == "ImagePullBackOff" && !strings.HasPrefix(w.Message, `Back-off pulling image "registry.invalid/app:1.0": ErrImagePull: `) {
			t.Errorf("ImagePullBackOff message %q", w.Message)
		}
	})

	t.Run("crash-loop", func(t *testing.T) {
		// Back-off scaled to 1s, crash after 1s: restart #1 at once, then
		// back-offs of 1s, 2s, 4s, 8s.
		const restarts = 5
		pods.waitFor(t, "crash", 60*time.Second, fmt.Sprintf("%d restarts", restarts), func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= restarts && cs[0].State.Running != nil
		})
		checkCrashLoop(t, pods.history("crash"), restarts)
	})

	t.Run("heartbeats", func(t *testing.T) {
		lease := waitForValue(t, 10*time.Second, "node Lease", func() (*coordinationv1.Lease, string) {
			l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, nodeName, metav1.GetOptions{})
			if err != nil {
				return nil, err.Error()
			}
			return l, ""
		})
		if d := lease.Spec.LeaseDurationSeconds; d == nil || *d != kwok.NodeLeaseDurationSeconds {
			t.Errorf("leaseDurationSeconds %v, want %d", d, kwok.NodeLeaseDurationSeconds)
		}
		if h := lease.Spec.HolderIdentity; h == nil || *h == "" {
			t.Errorf("lease has no holder")
		}
		renewed := lease.Spec.RenewTime.Time
		waitFor(t, 10*time.Second, "Lease renewal", func() (bool, string) {
			l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, nodeName, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if l.Spec.RenewTime.After(renewed) {
				t.Logf("Lease renewed %s after the previous renewal", l.Spec.RenewTime.Sub(renewed).Round(time.Millisecond))
				return true, ""
			}
			return false, "renewTime " + l.Spec.RenewTime.String()
		})

		beat := nodeCondition(readyNode, corev1.NodeReady).LastHeartbeatTime.Time
		waitFor(t, 20*time.Second, "node status heartbeat", func() (bool, string) {
			n, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			c := nodeCondition(n, corev1.NodeReady)
			if c.LastHeartbeatTime.After(beat) {
				if !c.LastTransitionTime.Equal(&nodeCondition(readyNode, corev1.NodeReady).LastTransitionTime) {
					t.Errorf("heartbeat moved lastTransitionTime")
				}
				return c.Status == corev1.ConditionTrue, fmt.Sprintf("Ready %s", c.Status)
			}
			return false, "lastHeartbeatTime " + c.LastHeartbeatTime.String()
		})
	})

	t.Run("no listening sockets", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("reads /proc")
		}
		if ports := listeningPorts(t, proc.Process.Pid); len(ports) != 0 {
			t.Errorf("kwok listens on %v", ports)
		}
	})
}

// startCluster starts a local control plane (localkube turns kube-apiserver's
// WatchList feature off, without which kwok sees no watch events on Debian's
// etcd).
func startCluster(t *testing.T) *localkube.Cluster {
	t.Helper()
	return localkubetest.ForTest(t)
}

// checkCrashLoop checks a crash-looping pod's recorded history against
// kubelet's behaviour with a 1s back-off: restarts one at a time, restart #1
// right after the crash, restart #n (n >= 2) 2^(n-2) seconds after it, in
// CrashLoopBackOff in between.
func checkCrashLoop(t *testing.T, history []observation, restarts int32) {
	t.Helper()
	crashed := map[int32]time.Time{}   // restart count -> first seen terminated
	restarted := map[int32]time.Time{} // restart count -> first seen running
	backoff := map[int32]string{}      // restart count -> CrashLoopBackOff message
	var counts []int32
	for _, o := range history {
		if len(o.pod.Status.ContainerStatuses) != 1 {
			continue
		}
		cs := o.pod.Status.ContainerStatuses[0]
		if len(counts) == 0 || counts[len(counts)-1] != cs.RestartCount {
			counts = append(counts, cs.RestartCount)
		}
		switch {
		case cs.State.Terminated != nil:
			if _, ok := crashed[cs.RestartCount]; !ok {
				crashed[cs.RestartCount] = o.at
			}
			if s := cs.State.Terminated; s.Reason != "Error" || s.ExitCode != 1 {
				t.Errorf("terminated state %+v, want reason Error, exit code 1", s)
			}
			if podReady(o.pod) {
				t.Errorf("pod Ready while its container is terminated")
			}
		case cs.State.Running != nil:
			if _, ok := restarted[cs.RestartCount]; !ok {
				restarted[cs.RestartCount] = o.at
			}
			if cs.RestartCount > 0 {
				last := cs.LastTerminationState.Terminated
				if last == nil || last.Reason != "Error" || last.ExitCode != 1 {
					t.Errorf("restart %d: lastState %+v, want terminated with reason Error, exit code 1", cs.RestartCount, cs.LastTerminationState)
				}
			}
		case cs.State.Waiting != nil:
			if cs.State.Waiting.Reason != "CrashLoopBackOff" {
				t.Errorf("waiting reason %q", cs.State.Waiting.Reason)
			}
			backoff[cs.RestartCount] = cs.State.Waiting.Message
			if cs.LastTerminationState.Terminated == nil {
				t.Errorf("CrashLoopBackOff without lastState.terminated")
			}
		}
	}
	for i, c := range counts {
		if c != int32(i) {
			t.Fatalf("restart counts %v, want 0, 1, 2, ... one at a time", counts)
		}
	}

	var lines []string
	var previous time.Duration
	for n := int32(1); n <= restarts; n++ {
		crash, ok1 := crashed[n-1]
		start, ok2 := restarted[n]
		if !ok1 || !ok2 {
			t.Fatalf("restart %d: crash seen %v, restart seen %v", n, ok1, ok2)
		}
		got := start.Sub(crash)
		// Restart #1 follows the crash after the 0.5s that the terminated
		// state is shown; later ones wait the back-off.
		want := 500 * time.Millisecond
		if n >= 2 {
			want = time.Second << (n - 2)
			msg := fmt.Sprintf("back-off %s restarting failed container=app ", want)
			if !strings.HasPrefix(backoff[n-1], msg) {
				t.Errorf("restart %d: CrashLoopBackOff message %q, want it to start with %q", n, backoff[n-1], msg)
			}
		} else if _, ok := backoff[0]; ok {
			t.Errorf("CrashLoopBackOff before the first restart")
		}
		lines = append(lines, fmt.Sprintf("restart %d: %s after the crash (want %s)", n, got.Round(time.Millisecond), want))
		// Slack for a loaded machine: kwok's stage delays are measured from
		// when it processes the previous update.
		if got < want-200*time.Millisecond || got > want+2*time.Second {
			t.Errorf("restart %d came %s after the crash, want %s", n, got, want)
		}
		if n >= 3 && got <= previous {
			t.Errorf("restart %d: wait %s not longer than the previous %s", n, got, previous)
		}
		previous = got
	}
	t.Logf("crash loop (backoff 1s, crash-after 1s):\n%s", strings.Join(lines, "\n"))
}

// startKwok runs kwok with our configuration until the test ends, logging to
// dir/kwok.log, whose tail is logged if the test fails.
func startKwok(t *testing.T, bin, dir, kubeconfig string) *exec.Cmd {
	t.Helper()
	args, err := kwok.Args(dir, kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "kwok.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // kwok has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), kwok.Env(dir)...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
			t.Errorf("kwok exited early: %v", cmd.ProcessState)
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
			t.Logf("kwok %s\nlast lines of %s:\n%s", strings.Join(args, " "), logPath, strings.Join(lines[max(len(lines)-60, 0):], "\n"))
		}
	})
	return cmd
}

// newPod returns a pod bound to the kwok node, with one container "app".
func newPod(name string, labels, annotations map[string]string, opts ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			NodeName:   nodeName,
			Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1.0"}},
		},
	}
	for _, opt := range opts {
		opt(pod)
	}
	return pod
}

func withInitContainer(p *corev1.Pod) {
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "registry.invalid/init:1.0"}}
}

func withSecondContainer(p *corev1.Pod) {
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Image: "registry.invalid/sidecar:1.0"})
}

// observation is a pod as a watch event delivered it.
type observation struct {
	at      time.Time
	pod     *corev1.Pod
	deleted bool
}

// podRecorder records every watch event of the pods of a namespace.
type podRecorder struct {
	mu   sync.Mutex
	pods map[string][]observation
}

// watchPods records the pods of namespace until the test ends.
func watchPods(t *testing.T, client kubernetes.Interface, namespace string) *podRecorder {
	t.Helper()
	r := &podRecorder{pods: map[string][]observation{}}
	ctx, cancel := context.WithCancel(context.Background())
	list, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rv := list.ResourceVersion
		for ctx.Err() == nil {
			w, err := client.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				rv = pod.ResourceVersion
				r.mu.Lock()
				r.pods[pod.Name] = append(r.pods[pod.Name], observation{at: time.Now(), pod: pod, deleted: ev.Type == watch.Deleted})
				r.mu.Unlock()
			}
			w.Stop()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

func (r *podRecorder) history(name string) []observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]observation(nil), r.pods[name]...)
}

// last returns the latest recorded state of a pod, or an empty pod.
func (r *podRecorder) last(name string) *corev1.Pod {
	h := r.history(name)
	if len(h) == 0 {
		return &corev1.Pod{}
	}
	return h[len(h)-1].pod
}

func (r *podRecorder) gone(name string) bool {
	h := r.history(name)
	return len(h) > 0 && h[len(h)-1].deleted
}

// ever reports whether the pod was ever seen in a state that satisfies cond.
func (r *podRecorder) ever(name string, cond func(*corev1.Pod) bool) bool {
	return !r.firstTime(name, cond).IsZero()
}

// firstTime returns when the pod was first seen in a state satisfying cond.
func (r *podRecorder) firstTime(name string, cond func(*corev1.Pod) bool) time.Time {
	for _, o := range r.history(name) {
		if !o.deleted && cond(o.pod) {
			return o.at
		}
	}
	return time.Time{}
}

// reasons returns the successive distinct waiting reasons of the pod's first
// container.
func (r *podRecorder) reasons(name string) []string {
	var out []string
	for _, o := range r.history(name) {
		if w := waiting(o.pod); w != nil && (len(out) == 0 || out[len(out)-1] != w.Reason) {
			out = append(out, w.Reason)
		}
	}
	return out
}

// nthTransition returns when the first container's waiting reason became
// reason for the nth time.
func (r *podRecorder) nthTransition(name, reason string, n int) time.Time {
	prev := ""
	for _, o := range r.history(name) {
		cur := ""
		if w := waiting(o.pod); w != nil {
			cur = w.Reason
		}
		if cur == reason && prev != reason {
			if n--; n == 0 {
				return o.at
			}
		}
		prev = cur
	}
	return time.Time{}
}

// waitFor waits until the latest recorded state of the pod satisfies cond,
// and returns it.
func (r *podRecorder) waitFor(t *testing.T, name string, timeout time.Duration, desc string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(t, timeout, name+" "+desc, func() (bool, string) {
		pod = r.last(name)
		return cond(pod), fmt.Sprintf("phase %s, conditions %+v, container statuses %+v", pod.Status.Phase, pod.Status.Conditions, pod.Status.ContainerStatuses)
	})
	return pod
}

func (r *podRecorder) waitGone(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, name+" gone", func() (bool, string) {
		return r.gone(name), fmt.Sprintf("last seen %+v", r.last(name).ObjectMeta)
	})
}

// waitFor polls cond until it succeeds, failing the test after timeout with
// the last detail cond returned.
func waitFor(t *testing.T, timeout time.Duration, desc string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, desc, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitForValue polls get until it returns a non-nil value.
func waitForValue[T any](t *testing.T, timeout time.Duration, desc string, get func() (*T, string)) *T {
	t.Helper()
	var v *T
	waitFor(t, timeout, desc, func() (bool, string) {
		var detail string
		v, detail = get()
		return v != nil, detail
	})
	return v
}

func podCondition(p *corev1.Pod, typ corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == typ {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func nodeCondition(n *corev1.Node, typ corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == typ {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	c := podCondition(p, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func allRunning(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return len(p.Status.ContainerStatuses) == len(p.Spec.Containers)
}

// waiting returns the waiting state of the pod's first container, if any.
func waiting(p *corev1.Pod) *corev1.ContainerStateWaiting {
	if len(p.Status.ContainerStatuses) == 0 {
		return nil
	}
	return p.Status.ContainerStatuses[0].State.Waiting
}

func resourceListsEqual(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

func equalPrefix(got, want []string) bool {
	return len(got) >= len(want) && strings.Join(got[:len(want)], ",") == strings.Join(want, ",")
}

// listeningPorts returns the TCP ports that process pid listens on.
func listeningPorts(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var ports []string
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte("\n"))[1:] {
			f := strings.Fields(string(line))
			// local_address is field 1, st field 3 (0A: LISTEN), inode field 9.
			if len(f) > 9 && f[3] == "0A" && inodes[f[9]] {
				ports = append(ports, table+" "+f[1])
			}
		}
	}
	return ports
}
