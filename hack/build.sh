#!/bin/sh
# Builds the static statefulset-exporter binary. This is the one place that holds the
# build flags: the Dockerfile's builder stage and hack/verify-image.sh both run it.
#
#   hack/build.sh OUTPUT
#
# Stamped into github.com/prometheus/common/version (shown by --version and
# statefulset_exporter_build_info), each taken from git or the machine when unset or empty:
#   VERSION REVISION BRANCH BUILD_USER BUILD_DATE
# GOOS and GOARCH cross-compile as usual. POSIX sh: it also runs in Alpine-based builders.
set -eu

out=${1:?usage: hack/build.sh OUTPUT}
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
cd "$(dirname "$0")/.."

: "${VERSION:=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)}"
: "${REVISION:=$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
: "${BRANCH:=$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)}"
: "${BUILD_USER:=$(id -un 2>/dev/null || echo unknown)@$(hostname 2>/dev/null || echo unknown)}"
: "${BUILD_DATE:=$(date -u +%Y%m%d-%H:%M:%S)}"

pkg=github.com/prometheus/common/version
ldflags="-s -w \
 -X '$pkg.Version=$VERSION' \
 -X '$pkg.Revision=$REVISION' \
 -X '$pkg.Branch=$BRANCH' \
 -X '$pkg.BuildUser=$BUILD_USER' \
 -X '$pkg.BuildDate=$BUILD_DATE'"

# Static: no cgo, so the binary runs on scratch. -trimpath and -buildvcs=false keep host
# paths and VCS state out of it (the revision is stamped above instead).
CGO_ENABLED=0 exec go build -trimpath -buildvcs=false -ldflags "$ldflags" \
  -o "$out" ./cmd/statefulset-exporter
