// Package crd checks the Prometheus Operator manifests that ship with
// statefulset-exporter (rules/prometheusrule.yaml and
// deploy/prometheus-operator/servicemonitor.yaml) against the operator's real
// CustomResourceDefinitions on a real kube-apiserver: the API server's OpenAPI schema
// validation, with strict field validation, must accept them unchanged, and must reject
// deliberately broken variants (which proves that the validation is active).
//
// The CRDs are read from the prometheus-operator Go module (OperatorModule), downloaded
// with `go mod download` and verified against the checksum database and a pinned hash;
// nothing is copied into this repository. The module is not a requirement of this
// module, so it costs nothing to builds.
//
// The test is part of plain `go test ./...` and skips like the other localkube tests when
// no local control plane can run (set STATEFULSET_EXPORTER_REQUIRE_KUBE=1 to fail
// instead).
package crd
