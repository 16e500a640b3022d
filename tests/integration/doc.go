// Package integration runs the real statefulset-exporter binary against a real
// kube-apiserver (internal/localkube: etcd and kube-apiserver on loopback) holding
// StatefulSets in the failure states of internal/scenario, and asserts the exact samples
// the binary serves on /metrics.
//
// The tests are part of plain `go test ./...`. One control plane and one shared exporter
// serve the whole test binary; every scenario lives in its own namespace, so the tests
// run in parallel and stay independent. The tests skip when no control plane can be built
// (no etcd, no Go toolchain); set STATEFULSET_EXPORTER_REQUIRE_KUBE=1 to fail instead.
// The first run builds kube-apiserver into .cache/kube, which takes several minutes.
//
// The full set of samples expected for a StatefulSet is a golden file,
// testdata/scenarios/<name>.prom (format in golden_test.go). After a change to what the
// exporter serves, `go test ./tests/integration/ -run <test> -update` rewrites the
// golden files from the scrapes; review them with git diff.
package integration
