# statefulset-exporter: a static binary on scratch, running as nobody (65534:65534).
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION="$(git describe --tags)" \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg BRANCH="$(git rev-parse --abbrev-ref HEAD)" \
#     -t ghcr.io/statefulset-exporter/statefulset-exporter:TAG .
#
# The build flags live in hack/build.sh. hack/verify-image.sh builds the final stage below
# (unchanged) and checks the image without pulling the Go image.

ARG GO_IMAGE=golang:1.26

# The builder runs on the build machine's platform and cross-compiles for the target.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS builder
ARG TARGETOS
ARG TARGETARCH
# Build arguments are in the environment of RUN, where hack/build.sh reads them; empty
# ones fall back to git or the machine.
ARG VERSION=
ARG REVISION=
ARG BRANCH=
ARG BUILD_USER=
ARG BUILD_DATE=
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH}" hack/build.sh /out/statefulset-exporter

FROM scratch
ARG VERSION=
ARG REVISION=
LABEL org.opencontainers.image.title="statefulset-exporter" \
      org.opencontainers.image.description="Prometheus exporter for the health of Kubernetes StatefulSets" \
      org.opencontainers.image.source="https://github.com/statefulset-exporter/statefulset-exporter" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# CA bundle for TLS to anything but the API server (whose CA comes with the token).
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/statefulset-exporter /statefulset-exporter
USER 65534:65534
EXPOSE 9817
ENTRYPOINT ["/statefulset-exporter"]
