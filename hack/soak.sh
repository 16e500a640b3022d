#!/usr/bin/env bash
# Runs statefulset-exporter for an hour (--duration) on the simulated EKS cluster of the
# demo under churn (pods flapping, pods deleted, a StatefulSet scaled, kube-apiserver
# restarted every 10 minutes, kube-controller-manager and kube-scheduler failovers) with
# Prometheus (the shipped rules) and Alertmanager, then prints a markdown report and exits
# non-zero when an alert was missed or fired for nothing, or the exporter's goroutines or
# memory grew past their bound. Not part of go test or CI. Extra arguments go to
# cmd/soak (go run ./cmd/soak --help), e.g. --duration=12m --apiserver-restart-every=3m.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh --demo
go run ./hack/prepare --demo
exec go run ./cmd/soak "$@"
