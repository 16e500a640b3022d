#!/bin/sh
# Builds kube-state-metrics, pinned by the tool module tests/tools/ksm, into
# .cache/ksm/kube-state-metrics (or $STATEFULSET_EXPORTER_CACHE/ksm), for
# tests/bench/compare. The module proxy serves the exact version only (version lists
# are refused), and go.sum pins every hash, so no checksum database lookup is needed.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${STATEFULSET_EXPORTER_CACHE:-$root/.cache}
mkdir -p "$cache/ksm"
cd "$root/tests/tools/ksm"
GOWORK=off go build -o "$cache/ksm/kube-state-metrics" k8s.io/kube-state-metrics/v2
echo "$cache/ksm/kube-state-metrics"
