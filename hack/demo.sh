#!/usr/bin/env bash
# Starts a local kube-apiserver + etcd holding StatefulSets in failure states and runs
# the exporter against it until Ctrl-C. Extra arguments go to the demo (e.g. --once).
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh --demo
go run ./hack/prepare --demo
exec go run ./cmd/demo "$@"
