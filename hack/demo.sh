#!/usr/bin/env bash
# Starts a simulated EKS cluster on loopback (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok kubelets, a simulated EBS CSI driver), the exporter, a Prometheus with
# the shipped rules and an Alertmanager with the shipped routing; breaks StatefulSets and
# shows the alerts they raise until Ctrl-C. Extra arguments go to the demo (e.g. --once).
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh --demo
go run ./hack/prepare --demo
exec go run ./cmd/demo "$@"
