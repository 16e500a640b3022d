// Package replicas proves on the simulated EKS cluster that the two exporter replicas
// of deploy/ and the Helm chart lose no alert and raise no false one when one of them
// is cut from the API server or dies with its node:
//
//	simulated EKS cluster (internal/simcluster)
//	  -> fault proxy a -> exporter replica a, "on" a dedicated node in zone a
//	  -> fault proxy b -> exporter replica b, "on" a node in zone b
//	    -> Prometheus, scraping both as one job with honor_labels and the target labels
//	       the shipped ServiceMonitor gives (instance, namespace, pod, ...), evaluating
//	       the mixin's rules (pipeline.FastMixinConfig)
//	      -> Alertmanager with the shipped routing -> a webhook served by the test
//
// The exporters run as processes on loopback, so "replica a's node is lost" is two
// things at once: the node's kubelet stops (simcluster.Cluster.LoseNode: the node
// lifecycle controller marks it unreachable and evicts its pods, which stay stuck
// Terminating) and replica a dies without a goodbye (SIGKILL, its proxy closed). A
// StatefulSet of two replicas runs on that node too (the node-lost seed of
// internal/simscenario), so the loss has consequences the rules must report.
//
// The test takes about two and a half minutes once the cluster's binaries are built,
// most of it the node lifecycle controller's grace period after the loss
// (localkube.NodeMonitorGracePeriod) and the watch that follows it. It needs
// Prometheus and Alertmanager (hack/install-deps.sh) and skips without them, unless
// CI=true, where it fails instead; without the control plane's binaries it skips like
// the other localkube tests (STATEFULSET_EXPORTER_REQUIRE_KUBE=1 fails instead).
package replicas
