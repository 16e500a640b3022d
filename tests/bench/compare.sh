#!/bin/sh
# Runs statefulset-exporter and kube-state-metrics side by side against the local
# kube-apiserver (see tests/bench/compare and docs/benchmarks.md). Arguments go to the
# compare program, e.g.:
#
#	tests/bench/compare.sh -pods 10000 -out /tmp/compare-10k.md
#
# etcd keeps its data in /dev/shm when it exists, so that the disk does not slow the load.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
ksm=$("$root/tests/bench/build-ksm.sh")
dir=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	dir=/dev/shm
fi
cd "$root"
exec go run ./tests/bench/compare -ksm "$ksm" ${dir:+-dir "$dir"} "$@"
