package simcluster

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/ebs"
)

// Node labels as EKS managed node groups set them.
const (
	LabelZone         = "topology.kubernetes.io/zone"
	LabelRegion       = "topology.kubernetes.io/region"
	LabelInstanceType = "node.kubernetes.io/instance-type"
	LabelNodeGroup    = "eks.amazonaws.com/nodegroup"
	LabelCapacityType = "eks.amazonaws.com/capacityType"
	LabelHostname     = "kubernetes.io/hostname"

	// annAttachDetach makes the attach-detach controller of kube-controller-manager
	// manage the node's volumes (kubelet sets it on real nodes).
	annAttachDetach = "volumes.kubernetes.io/controller-managed-attach-detach"
)

// NodeSpec describes one simulated EC2 worker.
type NodeSpec struct {
	// Name defaults to an EC2 private DNS name made from the index.
	Name string
	Zone string
	// WithoutCSI leaves out topology.ebs.csi.aws.com/zone: the EBS CSI node plugin
	// does not run there, so EBS volumes cannot be provisioned for or used on it.
	WithoutCSI bool
	// Taints are the node's taints, e.g. a dedicated node group's NoSchedule taint.
	Taints []corev1.Taint
}

// m6i.large: 2 vCPUs, 8 GiB, 29 pods with the VPC CNI; allocatable as EKS reserves it.
var (
	capacity = corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("2"),
		corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods:   resource.MustParse("29"),
	}
	allocatable = corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1930m"),
		corev1.ResourceMemory: resource.MustParse("7220Mi"),
		corev1.ResourcePods:   resource.MustParse("29"),
	}
)

// nodeObject is the Node a simulated kubelet registers, with the labels EKS and the EBS
// CSI node plugin give it; managed selects it for kwok.
func nodeObject(spec NodeSpec, region string, managed map[string]string) *corev1.Node {
	labels := map[string]string{
		LabelHostname:                            spec.Name,
		LabelZone:                                spec.Zone,
		LabelRegion:                              region,
		LabelInstanceType:                        "m6i.large",
		LabelNodeGroup:                           "stateful",
		LabelCapacityType:                        "ON_DEMAND",
		"kubernetes.io/os":                       "linux",
		"kubernetes.io/arch":                     "amd64",
		"failure-domain.beta.kubernetes.io/zone": spec.Zone,
	}
	if !spec.WithoutCSI {
		labels[ebs.ZoneLabel] = spec.Zone
	}
	annotations := map[string]string{annAttachDetach: "true"}
	for k, v := range managed {
		annotations[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Labels: labels, Annotations: annotations},
		Spec: corev1.NodeSpec{
			ProviderID: fmt.Sprintf("aws:///%s/i-%s", spec.Zone, instanceID(spec.Name)),
			Taints:     spec.Taints,
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: allocatable},
	}
}

// instanceID is a stable, made-up EC2 instance ID for a node name.
func instanceID(name string) string {
	var h uint64 = 14695981039346656037
	for i := range len(name) {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return fmt.Sprintf("%017x", h)[:17]
}
