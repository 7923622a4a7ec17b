#!/usr/bin/env bash
# Fetch (once) and cache Argo CD's own Application CRD for the tests.
#
# The CRD ships in Argo CD's Go module (manifests/crds/application-crd.yaml), so
# it comes the way the control plane's sources come: `go mod download` of the
# release module from the Go module proxy into the Go module cache (GOMODCACHE
# is honoured), nothing built. The one file the tests need is then copied out,
# one directory per version, so a second run is instant:
#   ${ONDUTY_CACHE_DIR:-~/.cache/onduty}/argocd-v<version>/application-crd.yaml
#
# Prints the CRD's path on the last line of stdout; progress goes to stderr.
set -euo pipefail

# The newest release whose go.mod the installed Go (1.26) accepts: v3.6.x asks for Go 1.27.
ARGOCD_VERSION=${ARGOCD_VERSION:-3.5.7}
ARGOCD_VERSION=${ARGOCD_VERSION#v}
MAJOR=${ARGOCD_VERSION%%.*}
MODULE=github.com/argoproj/argo-cd
if [[ $MAJOR -ge 2 ]]; then MODULE=$MODULE/v$MAJOR; fi

CACHE=${ONDUTY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/onduty}
OUT=$CACHE/argocd-v$ARGOCD_VERSION/application-crd.yaml
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

log() { printf '[fetch-argocd-crd %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

main() {
  if [[ -s $OUT ]]; then
    echo "$OUT"
    return
  fi
  command -v go >/dev/null || die "no 'go' on PATH: Argo CD's CRD comes from its Go module ($MODULE@v$ARGOCD_VERSION)"
  local start=$SECONDS
  local src; src=$(go env GOMODCACHE)/$MODULE@v$ARGOCD_VERSION/manifests/crds/application-crd.yaml
  if [[ ! -s $src ]]; then
    log "$MODULE@v$ARGOCD_VERSION: downloading the module (a ~55 MB zip, once) from $(go env GOPROXY)"
    local work; work=$(mktemp -d)
    local json rc=0
    # Outside any module: the download needs no go.mod, and builds nothing.
    json=$(cd "$work" && timeout "${ARGOCD_FETCH_TIMEOUT:-600}" go mod download -json "$MODULE@v$ARGOCD_VERSION" 2>&1) || rc=$?
    rm -rf "$work"
    if [[ ! -s $src ]]; then
      local why; why=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' | sed 's/\\n\\t/: /g; s/\\n/ /g; s/\\"/"/g')
      [[ $rc == 124 ]] && why="timed out after ${ARGOCD_FETCH_TIMEOUT:-600}s"
      die "could not download $MODULE@v$ARGOCD_VERSION, which holds Argo CD's Application CRD for the
  integration tests, from the Go module proxy (GOPROXY=$(go env GOPROXY)):
  ${why:-$json}
  Check that the proxy is reachable; once fetched, the CRD is cached in $OUT and needs no network."
    fi
  fi
  grep -q '^  name: applications.argoproj.io$' "$src" || die "$src is not Argo CD's Application CRD"
  mkdir -p "$(dirname "$OUT")"
  # The module cache is read-only; the copy is ours. Atomic, so a half-written file is never used.
  cp "$src" "$OUT.tmp.$$"
  chmod 644 "$OUT.tmp.$$"
  mv "$OUT.tmp.$$" "$OUT"
  log "Argo CD v$ARGOCD_VERSION Application CRD ready in $OUT ($((SECONDS - start))s)"
  echo "$OUT"
}

main "$@"
