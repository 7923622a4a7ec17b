#!/usr/bin/env bash
# Install the real monitoring stack used by the end-to-end tests: Debian's
# Prometheus (2.42, /usr/bin/prometheus + promtool) and Alertmanager (0.25,
# /usr/bin/prometheus-alertmanager + amtool).
#
# Idempotent: does nothing when the binaries are already there. Otherwise runs
# `apt-get update` and a non-interactive `apt-get install --no-install-recommends`
# (about 33 MB, ~20 s). Needs root (or sudo). The packages start no service
# (there is no init system); hack/monitoring.py starts them on loopback.
#
# Usage:
#   hack/install-monitoring.sh
set -euo pipefail

case "${1:-}" in
    "") ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-monitoring: unknown argument '$1'" >&2; exit 2 ;;
esac

binaries=(/usr/bin/prometheus /usr/bin/promtool /usr/bin/prometheus-alertmanager /usr/bin/amtool)
missing=()
for b in "${binaries[@]}"; do
    [[ -x "$b" ]] || missing+=("$b")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-monitoring: prometheus, promtool, prometheus-alertmanager and amtool already installed; nothing to do"
    exit 0
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-monitoring: missing ${missing[*]} and not root (and no sudo) to apt-get install them" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-monitoring: missing ${missing[*]}"
echo "install-monitoring: apt-get update"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
echo "install-monitoring: apt-get install -y --no-install-recommends prometheus prometheus-alertmanager"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    prometheus prometheus-alertmanager

for b in "${binaries[@]}"; do
    if [[ ! -x "$b" ]]; then
        echo "install-monitoring: $b still missing after the install" >&2
        exit 1
    fi
done
echo "install-monitoring: installed $(/usr/bin/prometheus --version 2>&1 | head -n1)"
echo "install-monitoring: installed $(/usr/bin/prometheus-alertmanager --version 2>&1 | head -n1)"
