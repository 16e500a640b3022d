package derive

// Internals for the external tests (package derive_test), which import derivetest.
var (
	KnownWaitingReasons = knownWaitingReasons
	PodOrdinal          = podOrdinal
	PendingReason       = pendingReason
	TermZoneValues      = termZoneValues
	PVCReasons          = []string{pvcWaitForFirstConsumer, pvcProvisioning, pvcNoStorageClass, pvcClassNotFound, pvcNoProvisioner, pvcOther}
)

const PVCNoStorageClass = pvcNoStorageClass

var PodWhyOf = podWhy

// ContainerCount is the number of container statuses of a pod, init containers included.
func ContainerCount(p *Pod) int { return len(p.allStates()) }

// ClassOf is the storage class name of a claim, and whether it names one ("" included).
func ClassOf(c *PVC) (string, bool) { return c.st().class, c.st().hasClass }
