#!/usr/bin/env bash
# Build, install and test the CNI plugins.
#   ./build.sh                 build every plugin in cmd/ with NativeAOT into bin/
#   ./build.sh install [DIR]   build, then copy the plugins to DIR (default /opt/cni/bin)
#   ./build.sh test            install test prerequisites, build, run every test (unit, kernel,
#                              integration); ends with one line "N passed, N failed[, N skipped]"
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
BIN=$ROOT/bin
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { echo "build.sh: $*" >&2; }

# Installs the Debian packages named when any is missing (needs root; apt-get update once).
apt_ensure() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then log "missing packages (run as root to install): ${missing[*]}"; return 1; fi
  log "installing ${missing[*]}"
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

build_deps() {
  command -v dotnet >/dev/null || { log "the .NET SDK (dotnet) is required"; exit 1; }
  # libssl-dev and cmake: cluster-ipam links OpenSSL statically (StaticOpenSslLinking builds the .NET shim against libssl.a).
  apt_ensure gcc zlib1g-dev libssl-dev cmake
}

# The toolchain a build uses: the SDK global.json selects, its runtime, and the C compiler that links.
toolchain() {
  echo "sdk $(dotnet --version)"
  dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" {print "runtime " $2}' | sort -V | tail -1
  echo "cc $(gcc -dumpfullversion 2>/dev/null || echo none)"
}

test_deps() {
  build_deps
  apt_ensure kmod iproute2 nftables conntrack strace busybox-static golang-go jq bc iputils-ping python3 \
    podman runc containerd uidmap etcd-server etcd-client openssl dnsmasq-base \
    containernetworking-plugins golang-github-containernetworking-plugins-dev golang-github-appc-cni-dev
}

# One ELF build ID for every plugin of a build, derived from the sources: a plugin runs the IPAM plugin
# in-process only when the one on CNI_PATH carries its own build ID (see src/Cni.Spec/IpamDelegate.cs).
# The toolchain's versions and the lock files (the exact NativeAOT compiler package) are part of it.
suite_id() {
  {
    find src cmd Directory.Build.props global.json -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.targets' \
      -o -name '*.c' -o -name 'packages.lock.json' -o -name 'global.json' \) \
      -not -path '*/obj/*' -not -path '*/bin/*' | LC_ALL=C sort | xargs sha1sum
    toolchain
  } | sha1sum | cut -c1-40
}

build_plugins() {
  build_deps
  log "toolchain: $(toolchain | paste -sd, | sed 's/,/, /g')"
  mkdir -p "$BIN"
  local id; id=$(suite_id)
  if [ "$(cat "$BIN/.suite-id" 2>/dev/null)" != "$id" ]; then
    # A new ID must reach every binary: make the native link step run again.
    rm -f cmd/*/bin/Release/*/linux-x64/native/* "$BIN/.suite-id"
  fi
  for proj in cmd/*/; do
    name=$(basename "$proj")
    log "publishing $name (NativeAOT)"
    dotnet publish "$proj" -c Release -o "$BIN" -p:CopyOutputSymbolsToPublishDirectory=false -p:DebugType=none \
      -p:SuiteBuildId="$id" -nologo -v quiet | { grep -E "error|warn" || true; }
    [ -x "$BIN/$name" ] || { log "$name was not built"; exit 1; }
  done
  echo "$id" > "$BIN/.suite-id"
}

install_plugins() {
  local dir=${1:-/opt/cni/bin}
  [ -d "$BIN" ] && [ -n "$(ls -A "$BIN" 2>/dev/null)" ] || build_plugins
  mkdir -p "$dir"
  for proj in cmd/*/; do
    name=$(basename "$proj")
    install -m 0755 "$BIN/$name" "$dir/$name"
  done
  log "installed into $dir: $(cd cmd && echo */ | tr -d /)"
}

# The first ifb device created anywhere (the bandwidth plugin's) loads the ifb module, which by default also makes
# ifb0 and ifb1 in the root namespace (numifbs=2). Loaded here with none, before any test looks at the root namespace;
# a no-op when the module is loaded already or built into the kernel.
load_ifb_module() {
  if command -v modprobe >/dev/null 2>&1; then modprobe ifb numifbs=0 2>/dev/null || true; fi
}

run_tests() {
  test_deps
  load_ifb_module
  build_plugins
  bash integration/cnitool/build.sh >&2
  local passed=0 failed=0 skipped=0 out rc=0
  out=$(mktemp)
  # Unit and kernel tests (xunit). Kernel tests create their own namespaces and need root.
  dotnet test Cni.sln -nologo 2>&1 | tee "$out" >&2 || rc=1
  while read -r f p s; do
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  done < <(sed -nE 's/.*Failed: +([0-9]+), Passed: +([0-9]+), Skipped: +([0-9]+),.*/\1 \2 \3/p' "$out")
  if [ $rc -ne 0 ] && ! grep -qE "Failed: +[1-9]" "$out"; then
    log "dotnet test failed before running tests"; failed=$((failed + 1))
  fi
  # Integration scenarios through the cnitool, across namespaces.
  # pipefail: rc is run.sh's exit status (tee does not fail).
  rc=0
  CNI_BIN_DIR=$BIN bash integration/run.sh 2>&1 | tee "$out" >&2 || rc=$?
  read -r p f s < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/p' "$out" | tail -1) || true
  if [ -z "${p:-}" ]; then
    log "integration run printed no summary (exit $rc)"; failed=$((failed + 1))
  elif [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
    log "integration run exited $rc but counted no failure"; failed=$((failed + 1))
  fi
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
  rm -f "$out"
  if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
  [ "$failed" -eq 0 ]
}

case "${1:-build}" in
  build) build_plugins ;;
  install) shift; install_plugins "${1:-}" ;;
  test) run_tests ;;
  *) echo "usage: $0 [build|install [DIR]|test]" >&2; exit 2 ;;
esac
