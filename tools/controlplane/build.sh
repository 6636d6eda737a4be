#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kubectl, etcd) from the Go module proxy into a cache
# directory outside the repo, keyed by version:
#   ${KREBOOT_CONTROLPLANE_DIR:-~/.cache/kreboot/controlplane/<k8s version>-etcd<etcd version>}/
# Nothing is built when all three binaries are already there. The harness (tests/harness/controlplane.ts)
# computes the same directory from versions.env, so bump versions there only.
#
#   bash tools/controlplane/build.sh           # build if missing
#   bash tools/controlplane/build.sh --force   # rebuild
#   bash tools/controlplane/build.sh --print-dir
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

out="${KREBOOT_CONTROLPLANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kreboot/controlplane/${K8S_VERSION}-etcd${ETCD_VERSION}}"
bins=(kube-apiserver kubectl etcd)

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$out"
  exit 0
fi

fail() {
  echo "build.sh: FAILED: $*" >&2
  echo "build.sh: the e2e tests need these binaries; unit tests run without them: deno task test:unit" >&2
  exit 1
}

have_all() {
  local b
  for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || return 1; done
}

if [[ "${1:-}" != "--force" ]] && have_all; then
  echo "build.sh: control plane ${K8S_VERSION} / etcd ${ETCD_VERSION} already built in $out"
  exit 0
fi

command -v go >/dev/null || fail "Go is not installed (need Go >= 1.26 for k8s ${K8S_VERSION})"

# A too-new go directive must fail here instead of silently downloading a toolchain; static binaries like
# upstream release builds; the committed go.sum is the source of truth.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

# The k8s go.mod replace block must match K8S_VERSION; catch a half-done bump before a 15-minute build.
staging="v0.${K8S_VERSION#v1.}"
requires() { grep -Eq "^[[:space:]]*(require )?$2 $3( |\$)" "$here/$1/go.mod"; }
requires k8s k8s.io/kubernetes "${K8S_VERSION}" ||
  fail "tools/controlplane/k8s/go.mod does not require k8s.io/kubernetes ${K8S_VERSION} (see versions.env)"
if grep -E '=> k8s\.io/[a-z0-9-]+ v' "$here/k8s/go.mod" | grep -vq " ${staging}\$"; then
  fail "tools/controlplane/k8s/go.mod replaces a staging module with a version other than ${staging}"
fi
requires etcd go.etcd.io/etcd/server/v3 "${ETCD_VERSION}" ||
  fail "tools/controlplane/etcd/go.mod does not require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}"

minor="${K8S_VERSION#v1.}"
minor="${minor%%.*}"
# component-base/version defaults to v0.0.0-master for ad-hoc builds; stamp the real version so /version and
# `kubectl version` report it.
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=${minor} \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION} \
 -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=${minor}"

# Build into a staging dir and move into place at the end, so an interrupted build never leaves a
# half-written binary that have_all would accept.
mkdir -p "$out"
tmp="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

step() {
  local name="$1"
  shift
  local t0=$SECONDS
  echo "build.sh: building $name ..."
  "$@" || fail "building $name (command: $*)"
  echo "build.sh: built $name in $((SECONDS - t0))s"
}

t_start=$SECONDS
echo "build.sh: Go $(go env GOVERSION), output $out"
# -pgo=off: a default.pgo next to main would slow compiles and stop the binaries sharing compiled packages.
step etcd bash -c "cd '$here/etcd' && go build -trimpath -pgo=off -ldflags='-s -w' -o '$tmp/etcd' go.etcd.io/etcd/server/v3"
step kube-apiserver bash -c "cd '$here/k8s' && go build -trimpath -pgo=off -tags=notest,grpcnotrace \
  -ldflags='$ldflags' -o '$tmp/kube-apiserver' k8s.io/kubernetes/cmd/kube-apiserver"
step kubectl bash -c "cd '$here/k8s' && go build -trimpath -pgo=off -tags=notest,grpcnotrace \
  -ldflags='$ldflags' -o '$tmp/kubectl' k8s.io/kubernetes/cmd/kubectl"

"$tmp/kube-apiserver" --version | grep -q "Kubernetes ${K8S_VERSION}\$" ||
  fail "kube-apiserver --version does not report ${K8S_VERSION}: $("$tmp/kube-apiserver" --version)"

for b in "${bins[@]}"; do mv -f "$tmp/$b" "$out/$b"; done
echo "build.sh: done in $((SECONDS - t_start))s:"
ls -l "${bins[@]/#/$out/}"
