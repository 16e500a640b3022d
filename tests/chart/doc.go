// Package chart tests the Helm chart charts/statefulset-exporter with the Helm SDK
// (helm.sh/helm/v3): helm lint, rendering with the default values and with every toggle
// on (charts/statefulset-exporter/ci/all-on-values.yaml), the labels kube-prometheus-stack
// selects, and a real `helm install` into a local kube-apiserver (internal/localkube)
// that serves the Prometheus Operator CRDs, after a strict server-side dry-run of every
// rendered object.
//
// It also checks the chart's copies of the generated files (the PrometheusRule spec of
// rules/prometheusrule.yaml, dashboards/*.json), which `go run ./cmd/mixin` writes with
// the rest: a Helm chart cannot read files outside its directory.
//
// This is a module of its own so that the Helm SDK's dependencies (it requires newer
// client_golang and grpc) do not change the exporter's build. Run it from this
// directory: `cd tests/chart && go test .` (`go test ./...` at the root skips it).
package chart
