#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kubectl, kube-controller-manager, kube-scheduler and
# kwok) from the Go module proxy into a cache directory outside the repo, keyed by version:
#   ${KREBOOT_CONTROLPLANE_DIR:-~/.cache/kreboot/controlplane/<k8s version>-etcd<etcd version>}/
# Each binary is built only when it is missing or was built from another version (its Go build info says which
# module version it came from), so adding a binary or bumping kwok does not rebuild the others. The harness
# (tests/harness/controlplane.ts) computes the same directory from versions.env, so bump versions there only.
#
#   bash tools/controlplane/build.sh           # build if missing
#   bash tools/controlplane/build.sh --force   # rebuild
#   bash tools/controlplane/build.sh --print-dir
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

out="${KREBOOT_CONTROLPLANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kreboot/controlplane/${K8S_VERSION}-etcd${ETCD_VERSION}}"
bins=(etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kwok)

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$out"
  exit 0
fi

fail() {
  echo "build.sh: FAILED: $*" >&2
  echo "build.sh: the e2e tests need these binaries; unit tests run without them: deno task test:unit" >&2
  exit 1
}

# The Go module a binary is built from and the version that must show in its build info.
origin() {
  case "$1" in
    etcd) echo "go.etcd.io/etcd/server/v3 ${ETCD_VERSION}" ;;
    kwok) echo "sigs.k8s.io/kwok ${KWOK_VERSION}" ;;
    *) echo "k8s.io/kubernetes ${K8S_VERSION}" ;;
  esac
}

# Present and built from the wanted version. Without Go the build info cannot be read: present is enough.
up_to_date() {
  [[ -x "$out/$1" ]] || return 1
  command -v go >/dev/null || return 0
  local module version
  read -r module version < <(origin "$1")
  go version -m "$out/$1" 2>/dev/null | grep -Eq "^[[:space:]]+(mod|dep)[[:space:]]+${module}[[:space:]]+${version}([[:space:]]|\$)"
}

todo=()
for b in "${bins[@]}"; do
  if [[ "${1:-}" == "--force" ]] || ! up_to_date "$b"; then todo+=("$b"); fi
done
if [[ ${#todo[@]} -eq 0 ]]; then
  echo "build.sh: control plane ${K8S_VERSION} / etcd ${ETCD_VERSION} / kwok ${KWOK_VERSION} already built in $out"
  exit 0
fi
wanted() { [[ " ${todo[*]} " == *" $1 "* ]]; }

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
requires kwok sigs.k8s.io/kwok "${KWOK_VERSION}" ||
  fail "tools/controlplane/kwok/go.mod does not require sigs.k8s.io/kwok ${KWOK_VERSION}"

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

# Each binary is built into a staging dir and moved into place once it is built and checked, so an
# interrupted build never leaves a half-written binary that up_to_date would accept, and keeps those done.
mkdir -p "$out"
tmp="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Prints what `$1 --version` must print (a regex), for the binaries that can say.
version_line() {
  case "$1" in
    kube-apiserver | kube-controller-manager | kube-scheduler) echo "^Kubernetes ${K8S_VERSION}\$" ;;
    kwok) echo "^kwok version ${KWOK_VERSION} " ;;
  esac
}

step() {
  local name="$1"
  shift
  local t0=$SECONDS want
  echo "build.sh: building $name ..."
  "$@" || fail "building $name (command: $*)"
  want="$(version_line "$name")"
  if [[ -n "$want" ]] && ! "$tmp/$name" --version | grep -Eq "$want"; then
    fail "$name --version does not match /$want/: $("$tmp/$name" --version)"
  fi
  mv -f "$tmp/$name" "$out/$name"
  echo "build.sh: built $name in $((SECONDS - t0))s"
}

t_start=$SECONDS
echo "build.sh: Go $(go env GOVERSION), output $out, building: ${todo[*]}"
# -pgo=off: a default.pgo next to main would slow compiles and stop the binaries sharing compiled packages.
k8s_build() {
  (cd "$here/k8s" && go build -trimpath -pgo=off -tags=notest,grpcnotrace -ldflags="$ldflags" \
    -o "$tmp/$1" "k8s.io/kubernetes/cmd/$1")
}
if wanted etcd; then
  step etcd bash -c "cd '$here/etcd' && go build -trimpath -pgo=off -ldflags='-s -w' -o '$tmp/etcd' go.etcd.io/etcd/server/v3"
fi
# One after the other with a shared GOCACHE: the controller-manager and the scheduler reuse most of the
# apiserver's compiled packages.
for b in kube-apiserver kubectl kube-controller-manager kube-scheduler; do
  if wanted "$b"; then step "$b" k8s_build "$b"; fi
done
# kwok has its own k8s.io/* versions (v0.36.x), so it shares little with the others.
if wanted kwok; then
  step kwok bash -c "cd '$here/kwok' && go build -trimpath -pgo=off -ldflags='-s -w' -o '$tmp/kwok' sigs.k8s.io/kwok/cmd/kwok"
fi

echo "build.sh: done in $((SECONDS - t_start))s:"
ls -l "${bins[@]/#/$out/}"
