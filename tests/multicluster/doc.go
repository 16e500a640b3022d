// Package multicluster runs the multi-cluster path of docs/multicluster.md end to end,
// with real processes only:
//
//	two local clusters "a" and "b" (internal/localkube: etcd and kube-apiserver each)
//	  -> one statefulset-exporter binary per cluster (internal/exporterbin)
//	    -> one Prometheus in agent mode per cluster (--enable-feature=agent), scraping
//	       its exporter and remote-writing with the external label cluster
//	      -> a central Prometheus (--web.enable-remote-write-receiver) evaluating the
//	         rules generated with MultiCluster (pipeline.FastMixinConfig)
//	        -> Alertmanager with deploy/alertmanager/alertmanager.yaml (receivers and
//	           timers redirected by pipeline.AlertmanagerConfig)
//	          -> a webhook served by the test
//
// Both clusters hold the same StatefulSet healthy/healthy, whose status the test writes
// itself (internal/scenario: no controllers run). The test breaks cluster a three
// times, each time repairing it before the next: the StatefulSet's pods lose
// readiness, a's exporter stops, a's kube-apiserver stops. Each breakage must be
// notified with cluster="a" and resolve after the repair, and cluster b, whose series
// keep arriving, must raise no alert meanwhile, not even a pending one. Last, with a's
// kube-apiserver down again (its StatefulSet alerts inhibited), b's StatefulSet breaks
// and must still page: the shipped inhibitions stay within a cluster.
//
// It takes about a minute and a half. It needs the Debian packages prometheus (2.42 has
// agent mode and the remote-write receiver), prometheus-alertmanager and etcd-server,
// which hack/install-deps.sh installs; without Prometheus or Alertmanager it skips,
// unless CI=true, where it fails instead. Without the control plane's binaries it skips
// like the other localkube tests (set STATEFULSET_EXPORTER_REQUIRE_KUBE=1 to fail
// instead).
package multicluster
