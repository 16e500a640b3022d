#!/usr/bin/env bash
# Builds and checks the container image where no base image can be pulled.
#
# 1. Builds the static binary with hack/build.sh, which is exactly what the Dockerfile's
#    builder stage runs (checked below).
# 2. Builds the Dockerfile's final stage, taken verbatim from the repo Dockerfile, with
#    buildah. Its builder stage is replaced by a `FROM scratch AS builder` stage that holds
#    the binary from step 1 and the host's CA bundle at the paths the final stage copies.
# 3. Runs `/statefulset-exporter --version` in the image as 65534:65534 and checks the
#    stamped build info, and checks the image config (User, ExposedPorts, Entrypoint) and
#    that the image holds nothing but the binary and the CA bundle.
#
# Needs root (buildah with chroot isolation and the vfs storage driver, no daemon); skips
# with exit 0 otherwise or when SKIP_IMAGE_VERIFY=1. Installs buildah with apt if missing.
# Uses its own buildah storage in a temporary directory and removes it at the end.
#
# Environment:
#   VERSION REVISION BRANCH BUILD_USER BUILD_DATE  build info to stamp (default: from git)
#   IMAGE_ARCHIVE=PATH  also write the image as an OCI archive (e.g. to load elsewhere)
#   HTTP_CHECK=1        also start the exporter in the image as 65534 (with a kubeconfig
#                       pointing at a closed port) and check /healthz and /metrics
set -euo pipefail

log() { printf 'verify-image: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

if [[ ${SKIP_IMAGE_VERIFY:-} == 1 ]]; then
  log "SKIP (SKIP_IMAGE_VERIFY=1)"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  log "SKIP (needs root: buildah runs here with chroot isolation and vfs storage)"
  exit 0
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dockerfile=$repo/Dockerfile
start=$SECONDS

if ! command -v buildah >/dev/null; then
  log "installing buildah"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq buildah >/dev/null
fi
log "$(buildah --version)"

work=$(mktemp -d "${TMPDIR:-/tmp}/verify-image.XXXXXX")
image=localhost/statefulset-exporter:verify
ctr=
http_pid=
# buildah without a daemon: chroot isolation (no runc/user namespaces needed) and vfs
# storage (no overlay mounts needed), in storage of our own.
export BUILDAH_ISOLATION=chroot
bh_opts=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
bh() { buildah "${bh_opts[@]}" "$@"; }
cleanup() {
  if [[ -n $http_pid ]]; then kill "$http_pid" 2>/dev/null || true; wait "$http_pid" 2>/dev/null || true; fi
  if [[ -n $ctr ]]; then bh umount "$ctr" >/dev/null 2>&1 || true; bh rm "$ctr" >/dev/null 2>&1 || true; fi
  bh rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- The Dockerfile's stages -----------------------------------------------------------
# Lines before the first FROM (global ARGs), the builder stage, and the final stage (from
# the last FROM to the end).
awk 'toupper($1) == "FROM" { exit } { print }' "$dockerfile" >"$work/header"
awk 'toupper($1) == "FROM" { n++ } n == 1 { print }' "$dockerfile" >"$work/builder-stage"
last_from=$(grep -inE '^[[:space:]]*FROM[[:space:]]' "$dockerfile" | tail -n1 | cut -d: -f1)
tail -n +"$last_from" "$dockerfile" >"$work/final-stage"
grep -qiE '^[[:space:]]*FROM[[:space:]].*[[:space:]]AS[[:space:]]+builder[[:space:]]*$' "$work/builder-stage" ||
  die "the Dockerfile's first stage is not named builder"
[[ $(grep -ciE '^[[:space:]]*FROM[[:space:]]' "$dockerfile") -eq 2 ]] ||
  die "expected exactly two stages (builder and final) in $dockerfile"

# Map every `COPY --from=builder SRC DST` of the final stage to a file we provide.
binary_src=
mkdir -p "$work/context/rootfs"
while read -r src; do
  case $src in
    */statefulset-exporter) binary_src=$src ;;
    /etc/ssl/certs/ca-certificates.crt)
      if [[ ! -s /etc/ssl/certs/ca-certificates.crt ]]; then
        log "installing ca-certificates"
        apt-get install -y -qq ca-certificates >/dev/null
      fi
      install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$work/context/rootfs$src"
      ;;
    *) die "the final stage copies $src from the builder; teach hack/verify-image.sh about it" ;;
  esac
done < <(awk 'toupper($1) == "COPY" && tolower($0) ~ /--from=builder/ { print $(NF-1) }' "$work/final-stage")
[[ -n $binary_src ]] || die "the final stage does not copy the binary from the builder"

# The builder stage must build that binary with hack/build.sh, as this script does.
grep -qE "hack/build\.sh[[:space:]]+$binary_src([[:space:]]|\$)" "$work/builder-stage" ||
  die "the builder stage does not run 'hack/build.sh $binary_src'"

# --- 1. The binary, as the builder stage builds it ---------------------------------------
export VERSION=${VERSION:-$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || echo 0.0.0-verify)}
export REVISION=${REVISION:-$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)}
export BRANCH=${BRANCH:-$(git -C "$repo" rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)}
export BUILD_USER=${BUILD_USER:-verify-image@$(hostname)}
export BUILD_DATE=${BUILD_DATE:-$(date -u +%Y%m%d-%H:%M:%S)}
export GOOS=linux GOARCH=${GOARCH:-$(go env GOARCH)}
t=$SECONDS
"$repo/hack/build.sh" "$work/context/rootfs$binary_src"
log "built $binary_src (VERSION=$VERSION, $GOOS/$GOARCH) in $((SECONDS - t))s"

# --- 2. The final stage with buildah ---------------------------------------------------
{
  cat "$work/header"
  echo "FROM scratch AS builder"
  echo "COPY rootfs/ /"
  echo
  cat "$work/final-stage"
} >"$work/context/Dockerfile"

t=$SECONDS
bh build --isolation chroot --quiet \
  --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" \
  --build-arg BRANCH="$BRANCH" --build-arg BUILD_USER="$BUILD_USER" \
  --build-arg BUILD_DATE="$BUILD_DATE" \
  -f "$work/context/Dockerfile" -t "$image" "$work/context" >/dev/null
log "built $image in $((SECONDS - t))s"

# --- 3. Checks -------------------------------------------------------------------------
cfg() { bh inspect --type image --format "$1" "$image"; }
user=$(cfg '{{.OCIv1.Config.User}}')
# shellcheck disable=SC2016 # a Go template, not shell
ports=$(cfg '{{range $p, $v := .OCIv1.Config.ExposedPorts}}{{$p}} {{end}}')
entrypoint=$(cfg '{{range .OCIv1.Config.Entrypoint}}[{{.}}]{{end}}')
cmd=$(cfg '{{range .OCIv1.Config.Cmd}}[{{.}}]{{end}}')
[[ $user == 65534:65534 ]] || die "User is '$user', want 65534:65534"
[[ $ports == "9817/tcp " ]] || die "ExposedPorts are '$ports', want 9817/tcp"
[[ $entrypoint == "[/statefulset-exporter]" ]] || die "Entrypoint is $entrypoint, want [/statefulset-exporter]"
[[ -z $cmd ]] || die "Cmd is $cmd, want none"
log "config: User=$user ExposedPorts=$ports Entrypoint=$entrypoint"

ctr=$(bh from --pull-never "$image")
mnt=$(bh mount "$ctr")
files=$(cd "$mnt" && find . -mindepth 1 \( -type f -o -type l \) -printf '%p %m %U:%G\n' | sort)
expected=$(printf '%s\n' "./etc/ssl/certs/ca-certificates.crt 644 0:0" "./statefulset-exporter 755 0:0" | sort)
[[ $files == "$expected" ]] || die "image files:"$'\n'"$files"$'\n'"want:"$'\n'"$expected"
bh umount "$ctr" >/dev/null
log "files: only /statefulset-exporter (0755, root-owned) and the CA bundle"

out=$(bh run --isolation chroot --user 65534:65534 "$ctr" -- /statefulset-exporter --version 2>&1) ||
  die "/statefulset-exporter --version failed as 65534:65534: $out"
printf '%s\n' "$out" | sed 's/^/  | /' >&2
grep -qF "version $VERSION (branch: $BRANCH, revision: $REVISION)" <<<"$out" || die "--version lacks the stamped version/branch/revision"
grep -qE "build user: +$BUILD_USER\$" <<<"$out" || die "--version lacks build user $BUILD_USER"
grep -qE "build date: +$BUILD_DATE\$" <<<"$out" || die "--version lacks build date $BUILD_DATE"
grep -qE "platform: +$GOOS/$GOARCH\$" <<<"$out" || die "--version lacks platform $GOOS/$GOARCH"
log "--version as 65534:65534 shows the stamped build info"

if [[ ${HTTP_CHECK:-} == 1 ]]; then
  # chroot isolation shares the host's network namespace: listen on loopback only.
  port=${HTTP_CHECK_PORT:-19817}
  cat >"$work/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
KUBECONFIG
  chmod 0644 "$work/kubeconfig"
  # Not through bh(): $! must be buildah itself, which passes SIGTERM on to the exporter.
  buildah "${bh_opts[@]}" run --isolation chroot --user 65534:65534 \
    --volume "$work/kubeconfig:/kubeconfig:ro" "$ctr" -- \
    /statefulset-exporter --kubeconfig=/kubeconfig --web.listen-address="127.0.0.1:$port" \
    >"$work/http.log" 2>&1 &
  http_pid=$!
  ok=
  for _ in $(seq 1 50); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then ok=1; break; fi
    kill -0 "$http_pid" 2>/dev/null || break
    sleep 0.2
  done
  [[ -n $ok ]] || die "/healthz did not answer on 127.0.0.1:$port; log:"$'\n'"$(cat "$work/http.log")"
  curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics" || die "/metrics failed"
  grep -q '^statefulset_exporter_build_info{' "$work/metrics" || die "/metrics lacks statefulset_exporter_build_info"
  kill "$http_pid"
  wait "$http_pid" 2>/dev/null || true
  http_pid=
  ! curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 || die "the exporter still runs after SIGTERM"
  log "HTTP: /healthz and /metrics answer as 65534:65534 with the API server unreachable"
fi

if [[ -n ${IMAGE_ARCHIVE:-} ]]; then
  bh push --quiet "$image" "oci-archive:$IMAGE_ARCHIVE:statefulset-exporter:$VERSION"
  log "wrote $IMAGE_ARCHIVE"
fi

log "OK in $((SECONDS - start))s"
