#!/usr/bin/env bash
# Build (once) and cache the binaries of a real local Kubernetes control plane:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok
# and helm, from their Go modules. No Docker, no prebuilt downloads: only the
# Go module proxy.
#
# Binaries are cached outside the repository, one directory per version, so a
# second run is instant and a version bump never mixes binaries:
#   ${ONDUTY_CACHE_DIR:-~/.cache/onduty}/bin/<component>-<version>/
#
# If KUBEBUILDER_ASSETS points at a directory that already holds etcd and
# kube-apiserver (the envtest convention), those two are used as they are.
#
# Prints the directory that holds every binary (a "bin" dir of symlinks) on the
# last line of stdout; progress goes to stderr.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.36.3}
ETCD_VERSION=${ETCD_VERSION:-3.6.8}      # what k8s 1.36.3's go.mod pins for its etcd client
KWOK_VERSION=${KWOK_VERSION:-0.7.0}
HELM_VERSION=${HELM_VERSION:-3.22.0}
K8S_MINOR=${K8S_VERSION#*.}; K8S_MINOR=${K8S_MINOR%%.*}

CACHE=${ONDUTY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/onduty}
BIN=$CACHE/bin
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod

log() { printf '[build-controlplane %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Run a long step with a heartbeat so a cold build (tens of minutes) never looks hung.
with_progress() {
  local what=$1; shift
  local start=$SECONDS
  "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30 &
    wait $! 2>/dev/null || true
    kill -0 "$pid" 2>/dev/null && log "$what: still building ($((SECONDS - start))s)"
  done
  wait "$pid"
  log "$what: done in $((SECONDS - start))s"
}

proxy() { echo "${GOPROXY:-https://proxy.golang.org}" | cut -d, -f1; }

build_kubernetes() {
  local out=$BIN/kubernetes-v$K8S_VERSION
  if [[ -x $out/kube-apiserver && -x $out/kube-controller-manager && -x $out/kube-scheduler && -x $out/kubectl ]]; then
    return
  fi
  log "kubernetes v$K8S_VERSION: cold build of kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (20-40 min on 2 cores)"
  local work; work=$(mktemp -d)
  local modfile; modfile=$(curl -fsSL "$(proxy)/k8s.io/kubernetes/@v/v$K8S_VERSION.mod")
  local minor=${K8S_VERSION#*.}
  local staging_version="v0.$minor"
  {
    echo "module onduty.dev/hack/k8sbuild"
    echo
    echo "$modfile" | grep -E '^go [0-9]'
    echo "$modfile" | grep -E '^godebug ' || true
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    echo "replace ("
    # Every staging module the release requires at v0.0.0, pinned to its published tag.
    echo "$modfile" | awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' | sort -u |
      while read -r m; do echo "	$m => $m $staging_version"; done
    echo ")"
  } >"$work/go.mod"
  local cmds="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"
  # Each path pinned: a bare `go get pkg` would move k8s.io/kubernetes to its newest release.
  local pinned=""
  for c in $cmds; do pinned="$pinned $c@v$K8S_VERSION"; done
  (cd "$work" && with_progress "kubernetes: module download" go get $pinned)
  local pkg=k8s.io/component-base/version
  local ldflags="-s -w -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor%%.*} -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=${minor%%.*}"
  mkdir -p "$out.tmp"
  (cd "$work" && with_progress "kubernetes: compile" go build -trimpath -ldflags "$ldflags" -o "$out.tmp/" $cmds)
  rm -rf "$out" && mv "$out.tmp" "$out"
  rm -rf "$work"
}

build_etcd() {
  local out=$BIN/etcd-v$ETCD_VERSION
  [[ -x $out/etcd ]] && return
  log "etcd v$ETCD_VERSION: building"
  local work; work=$(mktemp -d)
  printf 'module onduty.dev/hack/etcdbuild\n\ngo 1.24\n' >"$work/go.mod"
  local ldflags="-s -w"
  (cd "$work" && with_progress "etcd: module download" go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION")
  mkdir -p "$out.tmp"
  (cd "$work" && with_progress "etcd: compile" go build -trimpath -ldflags "$ldflags" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$out" && mv "$out.tmp" "$out"
  rm -rf "$work"
}

build_simple() { # name module-path version binary-package
  local name=$1 mod=$2 version=$3 pkg=$4
  local out=$BIN/$name-v$version
  [[ -x $out/$name ]] && return
  log "$name v$version: building"
  mkdir -p "$out.tmp"
  with_progress "$name" env GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" "$pkg@v$version"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_helm() {
  # Helm's release build stamps the Kubernetes version it assumes when no
  # cluster is asked (helm template/lint); without it, it assumes v1.20 and
  # charts with a kubeVersion constraint fail to render.
  local out=$BIN/helm-v$HELM_VERSION-k8s1.$K8S_MINOR
  [[ -x $out/helm ]] && return
  log "helm v$HELM_VERSION: building"
  local ldflags="-s -w"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$K8S_MINOR"
  done
  mkdir -p "$out.tmp"
  with_progress helm env GOBIN="$out.tmp" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

kwok_stages() {
  # kwok's Stage configuration ships in its module; copy it next to the binary.
  local out=$BIN/kwok-v$KWOK_VERSION
  [[ -d $out/stages ]] && return
  local src; src=$(go env GOMODCACHE)/sigs.k8s.io/kwok@v$KWOK_VERSION/kustomize/stage
  if [[ ! -d $src ]]; then
    (cd "$(mktemp -d)" && go mod download -x "sigs.k8s.io/kwok@v$KWOK_VERSION" >/dev/null 2>&1) || true
  fi
  mkdir -p "$out/stages"
  cp -r "$src"/. "$out/stages/"
  chmod -R u+w "$out/stages"
}

main() {
  mkdir -p "$BIN"
  local start=$SECONDS
  local use_assets=0
  if [[ -n ${KUBEBUILDER_ASSETS:-} && -x $KUBEBUILDER_ASSETS/etcd && -x $KUBEBUILDER_ASSETS/kube-apiserver ]]; then
    log "using etcd and kube-apiserver from KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    use_assets=1
  fi
  build_simple kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
  kwok_stages
  build_helm
  [[ $use_assets == 1 ]] || build_etcd
  build_kubernetes

  local links=$BIN/current-k8s-v$K8S_VERSION
  mkdir -p "$links"
  ln -sf "$BIN/kubernetes-v$K8S_VERSION"/* "$links/"
  if [[ $use_assets == 1 ]]; then
    ln -sf "$KUBEBUILDER_ASSETS/etcd" "$KUBEBUILDER_ASSETS/kube-apiserver" "$links/"
  else
    ln -sf "$BIN/etcd-v$ETCD_VERSION/etcd" "$links/"
  fi
  ln -sf "$BIN/kwok-v$KWOK_VERSION/kwok" "$BIN/helm-v$HELM_VERSION-k8s1.$K8S_MINOR/helm" "$links/"
  ln -sfn "$BIN/kwok-v$KWOK_VERSION/stages" "$links/kwok-stages"
  log "all binaries ready in $links ($((SECONDS - start))s)"
  echo "$links"
}

main "$@"
