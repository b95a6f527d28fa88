#!/usr/bin/env bash
# Builds integration/cnitool/cnitool from the Go sources next to this script,
# against Debian's golang-github-appc-cni-dev (libcni) in GOPATH mode.
# Needs no network: GO111MODULE=off, a throwaway GOCACHE and GOPATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
system_gopath="${CNITOOL_SYSTEM_GOPATH:-/usr/share/gocode}"

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: 'go' not found (install golang-go)" >&2
    exit 1
fi
if [ ! -d "$system_gopath/src/github.com/containernetworking/cni/libcni" ]; then
    echo "build.sh: libcni not found under $system_gopath (install golang-github-appc-cni-dev)" >&2
    exit 1
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/cnitool-build.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

cd "$here"
env GO111MODULE=off \
    GOPATH="$system_gopath:$scratch/gopath" \
    GOCACHE="$scratch/cache" \
    GOFLAGS= GOPROXY=off CGO_ENABLED=0 \
    go build -o "$here/cnitool" .
echo "built $here/cnitool"
