#!/usr/bin/env bash
# Install Debian's `prometheus` package (promtool and the Prometheus server) for the monitoring
# tests: `promtool check/test rules`, `promtool check metrics` and a real Prometheus on 127.0.0.1.
# Idempotent: nothing to do when promtool and prometheus are already on PATH. The package's own
# service is not started (policy-rc.d) and not needed: the tests run their own server.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-prometheus: run as root or with sudo" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Keep the package's init script from starting a server on :9090 in containers without systemd.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
trap '[ -n "$created_policy" ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1
