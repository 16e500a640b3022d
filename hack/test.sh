#!/usr/bin/env bash
# Runs every test: unit, fuzz seed corpora, promtool/amtool rule and routing tests,
# integration tests against a real local kube-apiserver + etcd, the end-to-end pipeline
# with a real Prometheus and Alertmanager, and the container image check.
# Works on a fresh Debian machine with Go: missing packages are installed first, and
# kube-apiserver is built from the Go module proxy on first use (cached in .cache/).
set -euo pipefail
cd "$(dirname "$0")/.."

hack/install-deps.sh

echo "== build the binaries the tests start" >&2
go run ./hack/prepare

echo "== go vet" >&2
go vet ./...
echo "== go test" >&2
go test -count=1 -timeout 45m ./...
echo "== Helm chart (tests/chart, a module of its own)" >&2
(cd tests/chart && go vet ./... && go test -count=1 -timeout 10m ./...)
echo "== container image" >&2
hack/verify-image.sh
