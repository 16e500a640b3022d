package simscenario

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/ebs"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/kwok"
)

// Seed is one situation a StatefulSet gets into, in its own namespace; the StatefulSet
// has the seed's name too.
type Seed struct {
	Name string
	// Description says what is wrong (or, for a quiet seed, what merely looks wrong).
	Description string
	// Quiet seeds are look-alikes of trouble that must raise no alert at all.
	Quiet bool
	// InfoOnly seeds break nothing that pages or opens a ticket: their breakage raises
	// an info alert (the daily digest), and that is what they are checked for.
	InfoOnly bool
	// Setup brings the StatefulSet to a healthy state; Break then breaks it. Setup, and
	// Break for a quiet seed, return once the StatefulSet has settled; Break for a broken
	// seed returns once it has made its changes, and the controllers take it from there.
	// Setup may be nil.
	//
	// Break the quiet seeds first and the others after they returned: breaking node-lost
	// restarts kwok (see simcluster.Cluster.LoseNode), during which no simulated kubelet
	// finishes a pod's termination, and a pod deleted meanwhile by a rollout or a scale
	// down lingers Terminating for a few seconds.
	Setup, Break func(ctx context.Context, c *simcluster.Cluster) error
	// Repair undoes the breakage the way an operator would; nil for quiet seeds.
	Repair func(ctx context.Context, c *simcluster.Cluster) error
}

// Timings of the seeds, scaled down from production so that each situation shows within
// seconds.
const (
	// CrashBackOff is the first back-off of a crash-looping container (kubelet: 10s).
	CrashBackOff = 2 * time.Second
	// EvictAfterSeconds is how long pods tolerate an unreachable node (default 300).
	EvictAfterSeconds = 2
	// readyTimeout bounds the wait for a StatefulSet to become Ready during Setup.
	readyTimeout = 2 * time.Minute
)

// BrokenStorageClass is a gp3 class whose volumes the simulated driver fails to create,
// as when the driver's IAM role lacks ec2:CreateVolume.
const BrokenStorageClass = "gp3-unprovisionable"

// Seeds returns the seed situations in a stable order: the quiet look-alikes first.
func Seeds() []Seed {
	return []Seed{
		{Name: "healthy", Quiet: true, Description: "3 Ready replicas over three zones, with a PodDisruptionBudget",
			Setup: func(ctx context.Context, c *simcluster.Cluster) error { return createReady(ctx, c, "healthy", 3) }},
		{Name: "canary", Quiet: true, Description: "partitioned rollout: only the canary replica updated, and Ready",
			Setup: func(ctx context.Context, c *simcluster.Cluster) error { return createReady(ctx, c, "canary", 3) },
			Break: func(ctx context.Context, c *simcluster.Cluster) error {
				if err := Patch(ctx, c.Client, "canary", "canary", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}},"template":{"metadata":{"annotations":{"release":"canary"}}}}}`); err != nil {
					return err
				}
				return WaitStatus(ctx, c.Client, "canary", "canary", readyTimeout, "updated up to the partition", func(sts *appsv1.StatefulSet) bool {
					return sts.Status.UpdatedReplicas == 1 && sts.Status.ReadyReplicas == 3
				})
			}},
		{Name: "scaled-to-zero", Quiet: true, Description: "scaled to 0 replicas; its claims stay Bound",
			Setup: func(ctx context.Context, c *simcluster.Cluster) error {
				return createReady(ctx, c, "scaled-to-zero", 2)
			},
			Break: func(ctx context.Context, c *simcluster.Cluster) error {
				if err := Scale(ctx, c.Client, "scaled-to-zero", "scaled-to-zero", 0); err != nil {
					return err
				}
				return WaitStatus(ctx, c.Client, "scaled-to-zero", "scaled-to-zero", readyTimeout, "scaled to 0", func(sts *appsv1.StatefulSet) bool {
					return sts.Status.Replicas == 0
				})
			}},

		{Name: "ondelete", InfoOnly: true, Description: "OnDelete strategy: pods outdated by an update, waiting for the operator to delete them",
			Setup: func(ctx context.Context, c *simcluster.Cluster) error {
				sts := Workload("ondelete", 3, nil, nil)
				sts.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
				return createReadyWith(ctx, c, sts)
			},
			Break: func(ctx context.Context, c *simcluster.Cluster) error {
				if err := PatchPodTemplateMetadata(ctx, c.Client, "ondelete", "ondelete", map[string]string{"release": "2"}, nil); err != nil {
					return err
				}
				return WaitStatus(ctx, c.Client, "ondelete", "ondelete", readyTimeout, "aware of the update", func(sts *appsv1.StatefulSet) bool {
					return sts.Status.UpdateRevision != sts.Status.CurrentRevision
				})
			},
			// The operator deletes the outdated pods; the controller recreates them on
			// the new revision.
			Repair: func(ctx context.Context, c *simcluster.Cluster) error {
				for _, pod := range []string{"ondelete-2", "ondelete-1", "ondelete-0"} {
					if err := deletePod(ctx, c.Client, "ondelete", pod); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "crashloop", Description: "its only replica crash-loops (CrashLoopBackOff, kubelet back-off)",
			Break: func(ctx context.Context, c *simcluster.Cluster) error {
				annotations, labels := CrashLooping(CrashBackOff)
				return Create(ctx, c.Client, "crashloop", Workload("crashloop", 1, annotations, labels))
			},
			Repair: func(ctx context.Context, c *simcluster.Cluster) error {
				return fixCrashLoop(ctx, c.Client, "crashloop", "crashloop-0")
			}},
		{Name: "rollout-stuck", Description: "an OrderedReady rolling update stuck behind its first new pod, which crash-loops",
			Setup: func(ctx context.Context, c *simcluster.Cluster) error { return createReady(ctx, c, "rollout-stuck", 3) },
			Break: func(ctx context.Context, c *simcluster.Cluster) error {
				annotations, labels := CrashLooping(CrashBackOff)
				return PatchPodTemplateMetadata(ctx, c.Client, "rollout-stuck", "rollout-stuck", annotations, labels)
			},
			Repair: func(ctx context.Context, c *simcluster.Cluster) error {
				return fixCrashLoop(ctx, c.Client, "rollout-stuck", "rollout-stuck-2")
			}},
		{Name: "no-capacity", Description: "its first pod asks for more CPU than any node has: unschedulable, its claim waiting",
			Break: func(ctx context.Context, c *simcluster.Cluster) error {
				sts := Workload("no-capacity", 2, nil, nil)
				sts.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("3")
				return Create(ctx, c.Client, "no-capacity", sts)
			},
			Repair: func(ctx context.Context, c *simcluster.Cluster) error {
				if err := Patch(ctx, c.Client, "no-capacity", "no-capacity", `{"spec":{"template":{"spec":{"containers":[{"name":"db","resources":{"requests":{"cpu":"100m"}}}]}}}}`); err != nil {
					return err
				}
				// The controller does not replace a pod that never became Ready.
				return deletePod(ctx, c.Client, "no-capacity", "no-capacity-0")
			}},
		{Name: "provision-error", Description: "the EBS driver fails to create its volume: claim Pending, pod waiting",
			Break: func(ctx context.Context, c *simcluster.Cluster) error {
				if err := createBrokenStorageClass(ctx, c.Client); err != nil {
					return err
				}
				sts := Workload("provision-error", 2, nil, nil)
				sts.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = ptr.To(BrokenStorageClass)
				return Create(ctx, c.Client, "provision-error", sts)
			},
			Repair: func(ctx context.Context, c *simcluster.Cluster) error {
				patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:null}}}`, ebs.AnnProvisionError)
				_, err := c.Client.StorageV1().StorageClasses().Patch(ctx, BrokenStorageClass, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
				return err
			}},
		{Name: "attach-error", Description: "the EBS driver cannot attach volumes to its node (attach error on the VolumeAttachment)",
			Break: func(ctx context.Context, c *simcluster.Cluster) error {
				node := dedicatedNodeName(c, 3, 97)
				if err := DedicatedNode(ctx, c, "attach-error", node, c.Region+"c"); err != nil {
					return err
				}
				if err := AnnotateNode(ctx, c.Client, node, ebs.AnnAttachError, "rpc error: code = Internal desc = Could not attach volume: UnauthorizedOperation: You are not authorized to perform this operation"); err != nil {
					return err
				}
				sts := Workload("attach-error", 2, nil, nil)
				Dedicate(sts, "attach-error", node)
				return Create(ctx, c.Client, "attach-error", sts)
			},
			Repair: func(ctx context.Context, c *simcluster.Cluster) error {
				return AnnotateNode(ctx, c.Client, dedicatedNodeName(c, 3, 97), ebs.AnnAttachError, "")
			}},
		{Name: "node-lost", Description: "the EC2 instance under a pod died: the pod is stuck Terminating on the unreachable node",
			Setup: func(ctx context.Context, c *simcluster.Cluster) error {
				node := dedicatedNodeName(c, 1, 98)
				if err := DedicatedNode(ctx, c, "node-lost", node, c.Region+"a"); err != nil {
					return err
				}
				sts := Workload("node-lost", 2, nil, nil)
				Dedicate(sts, "node-lost", node)
				EvictAfter(sts, EvictAfterSeconds)
				return createReadyWith(ctx, c, sts)
			},
			Break: func(ctx context.Context, c *simcluster.Cluster) error {
				return c.LoseNode(ctx, dedicatedNodeName(c, 1, 98))
			},
			// The instance comes back (or is replaced under the same name): its kubelet
			// confirms the deletion and the controller recreates the pod.
			Repair: func(ctx context.Context, c *simcluster.Cluster) error {
				return c.ReviveNode(ctx, dedicatedNodeName(c, 1, 98))
			}},
	}
}

// String returns the seed's name.
func (s Seed) String() string { return s.Name }

// Concurrently runs fn for every item at once and joins the errors, each prefixed with
// its item: the seeds of the demo and the end-to-end test are set up, broken and
// repaired side by side.
func Concurrently[T fmt.Stringer](items []T, fn func(T) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(items))
	for i, item := range items {
		wg.Go(func() {
			if err := fn(item); err != nil {
				errs[i] = fmt.Errorf("%s: %w", item, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ByName returns the seed called name.
func ByName(name string) (Seed, bool) {
	for _, s := range Seeds() {
		if s.Name == name {
			return s, true
		}
	}
	return Seed{}, false
}

// createReady creates a Workload of replicas with a PodDisruptionBudget and waits until
// it is Ready.
func createReady(ctx context.Context, c *simcluster.Cluster, name string, replicas int32) error {
	return createReadyWith(ctx, c, Workload(name, replicas, nil, nil))
}

func createReadyWith(ctx context.Context, c *simcluster.Cluster, sts *appsv1.StatefulSet) error {
	if err := Create(ctx, c.Client, sts.Name, sts); err != nil {
		return err
	}
	if err := CreatePDB(ctx, c.Client, sts.Name, sts.Name); err != nil {
		return err
	}
	return WaitReady(ctx, c.Client, sts.Name, sts.Name, readyTimeout)
}

// fixCrashLoop reverts the pod template to a container that starts, then deletes the
// crash-looping pod: the StatefulSet controller does not replace a pod that never
// became Ready (the "forced rollback" of the Kubernetes documentation).
func fixCrashLoop(ctx context.Context, client kubernetes.Interface, ns, pod string) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"labels":{%q:null},"annotations":{%q:null,%q:null}}}}}`,
		kwok.BehaviorLabel, kwok.BackOffAnnotation, kwok.CrashAfterAnnotation)
	if err := Patch(ctx, client, ns, ns, patch); err != nil {
		return err
	}
	return deletePod(ctx, client, ns, pod)
}

func deletePod(ctx context.Context, client kubernetes.Interface, ns, name string) error {
	if err := client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("deleting pod %s/%s: %w", ns, name, err)
	}
	return nil
}

func createBrokenStorageClass(ctx context.Context, client kubernetes.Interface) error {
	gp3, err := client.StorageV1().StorageClasses().Get(ctx, simcluster.StorageClassName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: BrokenStorageClass, Annotations: map[string]string{
			ebs.AnnProvisionError: "rpc error: code = Internal desc = Could not create volume: UnauthorizedOperation: You are not authorized to perform: ec2:CreateVolume",
		}},
		Provisioner: gp3.Provisioner, Parameters: gp3.Parameters, ReclaimPolicy: gp3.ReclaimPolicy,
		VolumeBindingMode: gp3.VolumeBindingMode, AllowVolumeExpansion: gp3.AllowVolumeExpansion,
	}
	_, err = client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	return err
}

// dedicatedNodeName names the dedicated node of a seed like an EC2 instance of subnet.
func dedicatedNodeName(c *simcluster.Cluster, subnet, host int) string {
	return fmt.Sprintf("ip-10-0-%d-%d.%s.compute.internal", subnet, host, c.Region)
}
