#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo use, when they are missing:
#   etcd-server             etcd for the local kube-apiserver (tests, demo)
#   prometheus              a real Prometheus (end-to-end pipeline test, demo)
#   prometheus-alertmanager a real Alertmanager (end-to-end pipeline test, demo)
#   buildah                 daemonless image builds (hack/verify-image.sh)
# The Kubernetes components and kwok are built from the Go module proxy by hack/prepare.
# Usage: hack/install-deps.sh [--demo]   (--demo installs only what the demo needs)
set -euo pipefail

want=(etcd:etcd-server prometheus:prometheus prometheus-alertmanager:prometheus-alertmanager)
if [[ "${1:-}" != "--demo" ]]; then
  want+=(buildah:buildah)
fi

missing=()
for pair in "${want[@]}"; do
  cmd=${pair%%:*} pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && [[ ! -x /usr/bin/$cmd ]]; then
    missing+=("$pkg")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi
echo "install-deps: installing ${missing[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps package scripts from starting the services: the tests start their own.
$SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
