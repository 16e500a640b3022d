// Package ebs simulates the parts of the AWS EBS CSI driver that the Kubernetes control
// plane talks to, for a local cluster whose kubelets are simulated (kwok):
//
//   - the external provisioner: a claim of a StorageClass whose provisioner is
//     ebs.csi.aws.com, once the scheduler has picked a node for its pod
//     (WaitForFirstConsumer), gets a PersistentVolume pinned to that node's zone
//     through topology.ebs.csi.aws.com/zone, as the real driver makes it; the
//     PersistentVolume controller of kube-controller-manager then binds them;
//   - the external attacher: VolumeAttachments the attach-detach controller creates
//     are attached, or fail the way AWS fails (an injected error, or VolumeInUse while
//     the volume is still attached to another node);
//   - the node plugin's registration: a CSINode per node that carries the driver's
//     topology label, and the CSIDriver object.
//
// Faults are injected through annotations, so that tests and the demo break things
// the way they break on EKS without writing any status the control plane owns.
package ebs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

const (
	// DriverName is the CSI driver's name, the StorageClass provisioner and the
	// VolumeAttachment attacher.
	DriverName = "ebs.csi.aws.com"
	// ZoneLabel is the topology key the node plugin reports and provisioned volumes
	// are pinned to.
	ZoneLabel = "topology.ebs.csi.aws.com/zone"

	// AnnAttachError on a PersistentVolume, or on a Node, makes every attachment of the
	// volume, or to the node, fail with the annotation's value as the error message,
	// until the annotation is removed.
	AnnAttachError = "simcluster.statefulset-exporter.io/attach-error"
	// AnnProvisionError on a StorageClass makes provisioning its claims fail with the
	// annotation's value as the message (an event on the claim), leaving them Pending.
	AnnProvisionError = "simcluster.statefulset-exporter.io/provision-error"

	annProvisionedBy     = "pv.kubernetes.io/provisioned-by"
	annSelectedNode      = "volume.kubernetes.io/selected-node"
	annStorageProvisoner = "volume.kubernetes.io/storage-provisioner"
	attacherFinalizer    = "external-attacher/ebs-csi-aws-com"
	// volumeInUse is the message of AWS's VolumeInUse error, which attaching a volume
	// that is attached to another instance returns.
	volumeInUse = "rpc error: code = Internal desc = Could not attach volume %q to node %q: VolumeInUse: %s is already attached to an instance"
)

// Driver is the simulated driver. Create it with New and run it with Run.
type Driver struct {
	client  kubernetes.Interface
	logf    func(string, ...any)
	factory informers.SharedInformerFactory

	pvcs     cache.Indexer
	pvs      cache.Indexer
	nodes    cache.Indexer
	classes  cache.Indexer
	vas      cache.Indexer
	csiNodes cache.Indexer

	events record.EventRecorder

	claims      workqueue.TypedRateLimitingInterface[string] // PVC namespace/name
	attachments workqueue.TypedRateLimitingInterface[string] // VolumeAttachment name
	nodeQueue   workqueue.TypedRateLimitingInterface[string] // node name, for CSINodes
	stopEvents  func()
}

// New makes a driver using client; logf (nil discards) receives what it does.
func New(client kubernetes.Interface, logf func(string, ...any)) *Driver {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	f := informers.NewSharedInformerFactory(client, 0)
	d := &Driver{
		client:      client,
		logf:        logf,
		factory:     f,
		claims:      newQueue("ebs-provisioner"),
		attachments: newQueue("ebs-attacher"),
		nodeQueue:   newQueue("ebs-node"),
	}
	// The recorder aggregates repeated events (count, lastTimestamp) as a real
	// provisioner's does.
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	d.events = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: DriverName + "_csi-provisioner"})
	d.stopEvents = broadcaster.Shutdown
	pvcInformer := f.Core().V1().PersistentVolumeClaims().Informer()
	pvInformer := f.Core().V1().PersistentVolumes().Informer()
	nodeInformer := f.Core().V1().Nodes().Informer()
	classInformer := f.Storage().V1().StorageClasses().Informer()
	vaInformer := f.Storage().V1().VolumeAttachments().Informer()
	csiNodeInformer := f.Storage().V1().CSINodes().Informer()
	d.pvcs, d.pvs, d.nodes = pvcInformer.GetIndexer(), pvInformer.GetIndexer(), nodeInformer.GetIndexer()
	d.classes, d.vas, d.csiNodes = classInformer.GetIndexer(), vaInformer.GetIndexer(), csiNodeInformer.GetIndexer()

	_, _ = pvcInformer.AddEventHandler(enqueueKey(d.claims, cache.MetaNamespaceKeyFunc))
	_, _ = vaInformer.AddEventHandler(enqueueKey(d.attachments, cache.MetaNamespaceKeyFunc))
	_, _ = nodeInformer.AddEventHandler(enqueueKey(d.nodeQueue, cache.MetaNamespaceKeyFunc))
	// An annotation change on a node may inject or clear an attach error.
	_, _ = nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			if node, ok := obj.(*corev1.Node); ok {
				d.requeueAttachments(func(va *storagev1.VolumeAttachment) bool { return va.Spec.NodeName == node.Name })
			}
		},
	})
	// A Released volume of ours is deleted (reclaim policy Delete); an annotation
	// change on a volume may clear an injected attach error.
	_, _ = pvInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.volumeChanged(obj) },
		UpdateFunc: func(_, obj any) { d.volumeChanged(obj) },
	})
	return d
}

// Run creates the CSIDriver object, then provisions, attaches and registers nodes until
// ctx is done.
func (d *Driver) Run(ctx context.Context) error {
	if err := d.ensureCSIDriver(ctx); err != nil {
		return err
	}
	d.factory.Start(ctx.Done())
	for typ, ok := range d.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("ebs: %v cache did not sync", typ)
		}
	}
	go d.work(ctx, d.claims, d.provision)
	go d.work(ctx, d.attachments, d.attach)
	go d.work(ctx, d.nodeQueue, d.registerNode)
	<-ctx.Done()
	d.claims.ShutDown()
	d.attachments.ShutDown()
	d.nodeQueue.ShutDown()
	d.factory.Shutdown()
	d.stopEvents()
	return nil
}

func (d *Driver) ensureCSIDriver(ctx context.Context) error {
	driver := &storagev1.CSIDriver{
		ObjectMeta: metav1.ObjectMeta{Name: DriverName},
		Spec: storagev1.CSIDriverSpec{
			AttachRequired:       ptr.To(true),
			PodInfoOnMount:       ptr.To(false),
			VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent},
			FSGroupPolicy:        ptr.To(storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy),
		},
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := d.client.StorageV1().CSIDrivers().Create(ctx, driver, metav1.CreateOptions{})
		return err == nil || apierrors.IsAlreadyExists(err), nil
	})
	if err != nil {
		return fmt.Errorf("ebs: creating the CSIDriver: %w", err)
	}
	return nil
}

// provision gives a Pending claim of ours whose node is chosen a volume in that node's
// zone.
func (d *Driver) provision(ctx context.Context, key string) error {
	obj, ok, err := d.pvcs.GetByKey(key)
	if err != nil || !ok {
		return err
	}
	pvc := obj.(*corev1.PersistentVolumeClaim)
	if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil ||
		pvc.Annotations[annStorageProvisoner] != DriverName {
		return nil
	}
	class := d.class(pvc)
	if class == nil || class.Provisioner != DriverName {
		return nil
	}
	if msg := class.Annotations[AnnProvisionError]; msg != "" {
		return d.provisionFailed(pvc, msg)
	}
	nodeName := pvc.Annotations[annSelectedNode]
	if nodeName == "" {
		if class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
			return nil // the scheduler has not picked a node yet
		}
		return d.provisionFailed(pvc, "Immediate binding is not supported by this simulation")
	}
	zone, err := d.nodeZone(nodeName)
	if err != nil {
		return d.provisionFailed(pvc, err.Error())
	}
	pvName := "pvc-" + string(pvc.UID)
	if _, exists, _ := d.pvs.GetByKey(pvName); exists {
		return nil
	}
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if size.IsZero() {
		size = resource.MustParse("1Gi")
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        pvName,
			Annotations: map[string]string{annProvisionedBy: DriverName},
			Finalizers:  []string{"kubernetes.io/pv-protection"},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: ptr.Deref(class.ReclaimPolicy, corev1.PersistentVolumeReclaimDelete),
			StorageClassName:              class.Name,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: DriverName, VolumeHandle: volumeID(string(pvc.UID)), FSType: "ext4",
				VolumeAttributes: map[string]string{"storage.kubernetes.io/csiProvisionerIdentity": "sim-" + DriverName},
			}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: ZoneLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}},
			}}}},
			MountOptions: class.MountOptions,
		},
	}
	if _, err := d.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %s: %w", pvName, err)
	}
	d.logf("ebs: provisioned %s in %s for %s", pvName, zone, key)
	return nil
}

// nodeZone returns the zone the node plugin reports for a node: its topology label.
func (d *Driver) nodeZone(name string) (string, error) {
	obj, ok, err := d.nodes.GetByKey(name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("node %q not found", name)
	}
	zone := obj.(*corev1.Node).Labels[ZoneLabel]
	if zone == "" {
		// What the external provisioner says when the node plugin never registered.
		return "", fmt.Errorf("error generating accessibility requirements: no topology key found on CSINode %s", name)
	}
	return zone, nil
}

func (d *Driver) class(pvc *corev1.PersistentVolumeClaim) *storagev1.StorageClass {
	name := ptr.Deref(pvc.Spec.StorageClassName, "")
	if name == "" {
		return nil
	}
	obj, ok, _ := d.classes.GetByKey(name)
	if !ok {
		return nil
	}
	return obj.(*storagev1.StorageClass)
}

func (d *Driver) provisionFailed(pvc *corev1.PersistentVolumeClaim, msg string) error {
	d.events.Event(pvc, corev1.EventTypeWarning, "ProvisioningFailed", "failed to provision volume with StorageClass: "+msg)
	return errRetry
}

// volumeChanged deletes our Released volumes and re-examines the attachments of a
// volume whose annotations may have changed.
func (d *Driver) volumeChanged(obj any) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok || pv.Annotations[annProvisionedBy] != DriverName {
		return
	}
	if pv.Status.Phase == corev1.VolumeReleased && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete && pv.DeletionTimestamp == nil {
		err := d.client.CoreV1().PersistentVolumes().Delete(context.Background(), pv.Name, metav1.DeleteOptions{})
		if err == nil {
			d.logf("ebs: deleted released volume %s", pv.Name)
		}
	}
	d.requeueAttachments(func(va *storagev1.VolumeAttachment) bool {
		return ptr.Deref(va.Spec.Source.PersistentVolumeName, "") == pv.Name
	})
}

// requeueAttachments examines again the VolumeAttachments match selects.
func (d *Driver) requeueAttachments(match func(*storagev1.VolumeAttachment) bool) {
	for _, o := range d.vas.List() {
		if va := o.(*storagev1.VolumeAttachment); match(va) {
			d.attachments.Add(va.Name)
		}
	}
}

// attach answers a VolumeAttachment of ours as the external attacher does.
func (d *Driver) attach(ctx context.Context, name string) error {
	obj, ok, err := d.vas.GetByKey(name)
	if err != nil || !ok {
		return err
	}
	va := obj.(*storagev1.VolumeAttachment)
	if va.Spec.Attacher != DriverName {
		return nil
	}
	if va.DeletionTimestamp != nil {
		return d.detach(ctx, va)
	}
	if !slices.Contains(va.Finalizers, attacherFinalizer) {
		va = va.DeepCopy()
		va.Finalizers = append(va.Finalizers, attacherFinalizer)
		_, err := d.client.StorageV1().VolumeAttachments().Update(ctx, va, metav1.UpdateOptions{})
		return err // the update comes back as an event
	}
	pvName := ptr.Deref(va.Spec.Source.PersistentVolumeName, "")
	status := storagev1.VolumeAttachmentStatus{Attached: true, AttachmentMetadata: map[string]string{"devicePath": "/dev/xvdba"}}
	if msg := d.attachError(va, pvName); msg != "" {
		status = storagev1.VolumeAttachmentStatus{AttachError: &storagev1.VolumeError{Time: metav1.Now(), Message: msg}}
	}
	if va.Status.Attached == status.Attached && (va.Status.AttachError == nil) == (status.AttachError == nil) &&
		(status.AttachError == nil || va.Status.AttachError.Message == status.AttachError.Message) {
		return nil
	}
	va = va.DeepCopy()
	va.Status = status
	if _, err := d.client.StorageV1().VolumeAttachments().UpdateStatus(ctx, va, metav1.UpdateOptions{}); err != nil {
		return err
	}
	if status.Attached {
		d.logf("ebs: attached %s to %s", pvName, va.Spec.NodeName)
		return nil
	}
	d.logf("ebs: attaching %s to %s failed: %s", pvName, va.Spec.NodeName, status.AttachError.Message)
	return errRetry // AWS is asked again with back-off, as the external attacher does
}

// attachError is why attaching the volume pvName to va's node fails, "" when it does not.
func (d *Driver) attachError(va *storagev1.VolumeAttachment, pvName string) string {
	if obj, ok, _ := d.nodes.GetByKey(va.Spec.NodeName); ok {
		if msg := obj.(*corev1.Node).Annotations[AnnAttachError]; msg != "" {
			return msg
		}
	}
	handle := pvName
	if obj, ok, _ := d.pvs.GetByKey(pvName); ok {
		pv := obj.(*corev1.PersistentVolume)
		if msg := pv.Annotations[AnnAttachError]; msg != "" {
			return msg
		}
		if pv.Spec.CSI != nil {
			handle = pv.Spec.CSI.VolumeHandle
		}
	}
	// An EBS volume (without Multi-Attach) is attached to one instance at a time.
	for _, o := range d.vas.List() {
		other := o.(*storagev1.VolumeAttachment)
		if other.Name != va.Name && other.Spec.Attacher == DriverName && other.Status.Attached &&
			ptr.Deref(other.Spec.Source.PersistentVolumeName, "") == pvName && other.Spec.NodeName != va.Spec.NodeName {
			return fmt.Sprintf(volumeInUse, handle, va.Spec.NodeName, handle)
		}
	}
	return ""
}

// detach lets a VolumeAttachment being deleted go, once the volume is detached.
func (d *Driver) detach(ctx context.Context, va *storagev1.VolumeAttachment) error {
	if !slices.Contains(va.Finalizers, attacherFinalizer) {
		return nil
	}
	va = va.DeepCopy()
	va.Finalizers = slices.DeleteFunc(va.Finalizers, func(f string) bool { return f == attacherFinalizer })
	if _, err := d.client.StorageV1().VolumeAttachments().Update(ctx, va, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	d.logf("ebs: detached %s from %s", ptr.Deref(va.Spec.Source.PersistentVolumeName, ""), va.Spec.NodeName)
	return nil
}

// registerNode keeps a CSINode for every node that carries the driver's topology label,
// as the node plugin (the ebs-csi-node DaemonSet) registers itself through kubelet. A
// node without the label has no running node plugin: no CSINode entry for the driver.
func (d *Driver) registerNode(ctx context.Context, name string) error {
	obj, ok, err := d.nodes.GetByKey(name)
	if err != nil || !ok {
		return err
	}
	node := obj.(*corev1.Node)
	if node.Labels[ZoneLabel] == "" {
		return nil
	}
	if _, exists, _ := d.csiNodes.GetByKey(name); exists {
		return nil
	}
	csiNode := &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: node.UID}},
		},
		Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{
			Name: DriverName, NodeID: name, TopologyKeys: []string{ZoneLabel},
			Allocatable: &storagev1.VolumeNodeResources{Count: ptr.To[int32](25)},
		}}},
	}
	if _, err := d.client.StorageV1().CSINodes().Create(ctx, csiNode, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// errRetry asks for the key to be processed again after a back-off.
var errRetry = errors.New("retry")

func (d *Driver) work(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], fn func(context.Context, string) error) {
	for {
		key, shutdown := q.Get()
		if shutdown {
			return
		}
		err := fn(ctx, key)
		switch {
		case err == nil:
			q.Forget(key)
		case errors.Is(err, errRetry):
			q.AddRateLimited(key)
		default:
			if ctx.Err() == nil {
				d.logf("ebs: %s: %v", key, err)
			}
			q.AddRateLimited(key)
		}
		q.Done(key)
	}
}

func newQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	// Retries from 200ms up to 10s: faults show quickly and clear quickly in tests.
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 10*time.Second)
	return workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

func enqueueKey(q workqueue.TypedRateLimitingInterface[string], key func(any) (string, error)) cache.ResourceEventHandler {
	add := func(obj any) {
		if k, err := key(obj); err == nil {
			q.Add(k)
		}
	}
	return cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, obj any) { add(obj) }}
}

// volumeID is the EBS volume ID of a claim, stable for its UID.
func volumeID(uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return "vol-" + hex.EncodeToString(sum[:])[:17]
}
