// Package e2e runs the whole alerting pipeline end to end, with real processes only:
//
//	simulated EKS cluster (internal/simcluster): etcd, kube-apiserver,
//	kube-controller-manager, kube-scheduler, kwok's simulated kubelets on six nodes in
//	three zones, a simulated EBS CSI driver
//	  -> statefulset-exporter binary (internal/exporterbin)
//	    -> Prometheus, scraping it every second and evaluating the mixin's rules
//	      -> Alertmanager, with the shipped routing tree and inhibitions
//	        -> a webhook served by the test
//
// The pipeline (internal/pipeline) generates the rules from mixin.TestConfig with every
// duration divided by ten (seconds instead of minutes, pipeline.FastMixinConfig), and
// runs Alertmanager with deploy/alertmanager/alertmanager.yaml with only the receivers'
// base URL and the grouping timers replaced (pipeline.AlertmanagerConfig).
//
// The test takes the seeds of internal/simscenario: StatefulSets that the real
// controllers, scheduler, kwok and EBS simulation bring into each situation; no test
// writes a status. The quiet seeds (look-alikes of trouble) are set up and settled
// before the pipeline starts and must never raise an alert, not even a pending one. The
// broken seeds (crash loop, stuck rollout, no capacity, failed provisioning, failed
// attachment, lost node) are broken with the pipeline running: the test checks which
// notifications reach the webhook (labels, annotations, receiver), which alerts fire in
// Prometheus but are inhibited, repairs them the way an operator would, checks that the
// notifications resolve and nothing new is notified, and prints the detection latencies.
// Losing and reviving a node restarts kwok, which freezes every simulated kubelet until
// the new instance has taken the node Leases over (up to their 20s duration): that seed
// is broken and repaired first, alone, and the others once kwok runs every node again.
// The test takes about two minutes, most of it the lost node's grace period
// (localkube.NodeMonitorGracePeriod) and kwok's restarts.
//
// The test is part of plain `go test ./...`. It needs the Debian packages prometheus and
// prometheus-alertmanager (hack/install-deps.sh) and skips without them, unless CI=true,
// where it fails instead. Without the control plane's binaries (etcd, or no Go toolchain
// to build Kubernetes and kwok) it skips like the other localkube tests (set
// STATEFULSET_EXPORTER_REQUIRE_KUBE=1 to fail instead).
package e2e
