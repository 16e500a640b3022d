// Package localkube runs a real Kubernetes API server on loopback for tests
// and demos: a single etcd (Debian's etcd-server package is enough) and a
// kube-apiserver built from source with the Go toolchain, because envtest's
// binary downloads are not available to us.
//
// The Kubernetes and kwok releases are pinned by the tool module in tests/tools/kube;
// EnsureBinary builds kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok on first use into <repo>/.cache/kube (or
// $STATEFULSET_EXPORTER_CACHE/kube); the first builds take several minutes, which
// `go run ./hack/prepare` does ahead of the tests.
//
// By default only the API server runs, no controllers: objects are stored and
// validated but never reconciled, so tests write status subresources themselves.
// Options.Controllers adds kube-controller-manager and kube-scheduler with leader
// election, and Options.Processes programs such as kwok (package
// internal/simcluster puts them together into a simulated EKS cluster). See
// Cluster for the users and their permissions.
//
// # Tests
//
// Use localkubetest.ForTest, which registers Cluster.Stop with t.Cleanup and
// skips the test when the binaries are unavailable:
//
//	cluster := localkubetest.ForTest(t)
//	client := kubernetes.NewForConfigOrDie(cluster.AdminConfig())
//
// # Demos and other long-running programs
//
// The cluster runs in child processes and a temporary directory that only
// Cluster.Stop removes, so stop it on SIGINT and SIGTERM: derive a context
// with signal.NotifyContext, wait for it, and let a deferred Stop run (see
// the package example). The children are placed in their own process group,
// so a Ctrl-C in the terminal reaches only the program, which then stops
// kube-apiserver before etcd. If the program dies without calling Stop, Linux
// kills the children, but the temporary directory is left behind.
package localkube
