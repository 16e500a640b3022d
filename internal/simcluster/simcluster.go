// Package simcluster runs a small simulated EKS cluster on loopback, for the tests and
// the demo: the real control plane of the pinned Kubernetes release (etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler with leader election, from
// internal/localkube), kubelets simulated by kwok on nodes spread over three zones and
// labelled as EKS labels them, and a simulated EBS CSI driver (package ebs) that
// provisions zonal volumes for a gp3 StorageClass and attaches them.
//
// Nothing in it writes a status that Kubernetes itself owns: the StatefulSet controller
// makes pods and claims, the scheduler places pods and picks the volume's node, the
// PersistentVolume controller binds, the attach-detach controller asks for attachments,
// kwok runs the pods (crash loops and failing probes included, see package kwok) and
// the node lifecycle controller taints a node whose kubelet stopped.
package simcluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/ebs"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/kwok"
)

// StorageClassName is the default StorageClass, gp3 on EBS, WaitForFirstConsumer as
// EKS users define it.
const StorageClassName = "gp3"

// Options configure Start. The zero value is ready to use.
type Options struct {
	// Region defaults to eu-west-1.
	Region string
	// Nodes are the workers; empty means two in each of <region>a, b and c.
	Nodes []NodeSpec
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
	// Dir is the parent of the cluster's temporary directory (see localkube.Options).
	Dir string
}

// Cluster is a running simulated cluster. Stop it when done.
type Cluster struct {
	*localkube.Cluster
	// Client is an admin client.
	Client kubernetes.Interface
	// Nodes are the workers, in the order of Options.Nodes.
	Nodes []NodeSpec
	// Region is the AWS region of the zones.
	Region string

	stopEBS context.CancelFunc
	ebsDone chan struct{}
	kwokMu  sync.Mutex // serialises restarts of kwok
}

// Start starts the control plane, kwok and the EBS simulation, registers the nodes and
// the gp3 StorageClass, and waits until every node is Ready. ctx bounds start-up only.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	region := cmp.Or(opts.Region, "eu-west-1")
	nodes := opts.Nodes
	if len(nodes) == 0 {
		for i, zone := range []string{"a", "b", "c", "a", "b", "c"} {
			nodes = append(nodes, NodeSpec{Zone: region + zone, Name: fmt.Sprintf("ip-10-0-%d-%d.%s.compute.internal", i%3+1, 10+i, region)})
		}
	}
	for i := range nodes {
		if nodes[i].Name == "" {
			nodes[i].Name = fmt.Sprintf("ip-10-0-9-%d.%s.compute.internal", 10+i, region)
		}
	}

	lc, err := localkube.Start(ctx, localkube.Options{
		Dir:         opts.Dir,
		Logf:        logf,
		Controllers: true,
		Processes:   []localkube.ProcessSpec{{Name: kwokName, Binary: localkube.Kwok, Args: kwok.Args, Env: kwok.Env}},
	})
	if err != nil {
		return nil, err
	}
	c := &Cluster{Cluster: lc, Nodes: nodes, Region: region, ebsDone: make(chan struct{})}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if c.Client, err = kubernetes.NewForConfig(lc.AdminConfig()); err != nil {
		return nil, err
	}

	ebsCtx, stopEBS := context.WithCancel(context.Background())
	c.stopEBS = stopEBS
	driver := ebs.New(c.Client, logf)
	go func() {
		defer close(c.ebsDone)
		if err := driver.Run(ebsCtx); err != nil {
			logf("simcluster: %v", err)
		}
	}()

	if err := c.createStorageClass(ctx); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if err := c.AddNode(ctx, n); err != nil {
			return nil, err
		}
	}
	started := time.Now()
	for _, n := range nodes {
		if err := c.WaitForNode(ctx, n.Name, corev1.ConditionTrue, time.Minute); err != nil {
			return nil, err
		}
	}
	logf("simcluster: %d nodes Ready in %s", len(nodes), time.Since(started).Round(time.Millisecond))
	return c, nil
}

// Stop stops the EBS simulation and the cluster.
func (c *Cluster) Stop() {
	if c.stopEBS != nil {
		c.stopEBS()
		<-c.ebsDone
		c.stopEBS = nil
	}
	c.Cluster.Stop()
}

func (c *Cluster) createStorageClass(ctx context.Context) error {
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:          ebs.DriverName,
		Parameters:           map[string]string{"type": "gp3"},
		ReclaimPolicy:        ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode:    ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
		AllowVolumeExpansion: ptr.To(true),
	}
	if _, err := c.Client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating StorageClass %s: %w", StorageClassName, err)
	}
	return nil
}

// AddNode registers a node that kwok runs.
func (c *Cluster) AddNode(ctx context.Context, spec NodeSpec) error {
	node := nodeObject(spec, c.Region, map[string]string{kwok.NodeAnnotation: kwok.NodeAnnotationValue})
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating node %s: %w", spec.Name, err)
	}
	return nil
}

// LoseNode makes a node's kubelet stop, as when its EC2 instance dies: kwok stops
// heartbeating it and stops acting on its pods; after localkube.NodeMonitorGracePeriod
// the node lifecycle controller marks it NotReady and taints it unreachable.
//
// kwok keeps managing a node it manages when the node's annotation changes, so the
// annotation is changed and kwok restarted, which pauses the other simulated kubelets
// for about a second (see setKubelet).
func (c *Cluster) LoseNode(ctx context.Context, name string) error {
	return c.setKubelet(ctx, name, lostNodeValue)
}

// ReviveNode lets kwok run a lost node again.
func (c *Cluster) ReviveNode(ctx context.Context, name string) error {
	return c.setKubelet(ctx, name, kwok.NodeAnnotationValue)
}

// lostNodeValue is the kwok annotation's value on a lost node, which kwok's selector
// does not match.
const lostNodeValue = "lost"

func (c *Cluster) setKubelet(ctx context.Context, name, value string) error {
	c.kwokMu.Lock()
	defer c.kwokMu.Unlock()
	if err := c.patchNode(ctx, name, map[string]string{kwok.NodeAnnotation: value}); err != nil {
		return err
	}
	if err := c.StopComponent(kwokName); err != nil {
		return err
	}
	// Each kwok process has a new identity, and it acts for a node only once it holds
	// the node's Lease: without this, the new process would wait for the old one's
	// Leases to expire (NodeLeaseDurationSeconds), with every kubelet frozen meanwhile.
	// kwok starts again whatever happens: a failure here must not freeze every node.
	released := c.releaseNodeLeases(context.WithoutCancel(ctx))
	return errors.Join(released, c.StartComponent(kwokName))
}

// kwokName is the name of kwok's process among the cluster's components.
const kwokName = "kwok"

// releaseNodeLeases deletes the Leases of the nodes kwok is to manage, which the stopped
// kwok held; a lost node's Lease stays and ages like a dead kubelet's.
func (c *Cluster) releaseNodeLeases(ctx context.Context) error {
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	leases := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	for _, n := range nodes.Items {
		if n.Annotations[kwok.NodeAnnotation] != kwok.NodeAnnotationValue {
			continue
		}
		if err := leases.Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting node lease %s: %w", n.Name, err)
		}
	}
	return nil
}

func (c *Cluster) patchNode(ctx context.Context, name string, annotations map[string]string) error {
	return retryConflicts(ctx, func() error {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for k, v := range annotations {
			node.Annotations[k] = v
		}
		_, err = c.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

// WaitForNode waits until the node's Ready condition has status want.
func (c *Cluster) WaitForNode(ctx context.Context, name string, want corev1.ConditionStatus, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				last = fmt.Sprintf("Ready=%s (%s)", cond.Status, cond.Reason)
				return cond.Status == want, nil
			}
		}
		last = "no Ready condition"
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready=%s within %s (last: %s): %w\n%s", name, want, timeout, last, err, c.Logs())
	}
	return nil
}

// NodesIn returns the names of the nodes in zone.
func (c *Cluster) NodesIn(zone string) []string {
	var names []string
	for _, n := range c.Nodes {
		if n.Zone == zone {
			names = append(names, n.Name)
		}
	}
	return names
}

func retryConflicts(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if !apierrors.IsConflict(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
