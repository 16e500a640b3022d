#!/bin/sh
# Builds etcd, pinned by the tool module tests/tools/etcd, into .cache/etcd/etcd (or
# $STATEFULSET_EXPORTER_CACHE/etcd), for tests/bench/compare's -etcd: an etcd that reports
# watch progress, so that kube-apiserver can serve streaming lists (WatchList).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${STATEFULSET_EXPORTER_CACHE:-$root/.cache}
mkdir -p "$cache/etcd"
cd "$root/tests/tools/etcd"
GOWORK=off go build -o "$cache/etcd/etcd" go.etcd.io/etcd/server/v3
echo "$cache/etcd/etcd"
