#!/usr/bin/env bash
# Install Debian's chromium for the dashboard's browser tests (tests/browser), idempotently.
# Playwright drives it through executable_path=/usr/bin/chromium: Playwright's own browser
# download does not work where only the PyPI, Debian and npm registries are reachable.
# Needs root (CI runs as root) or passwordless sudo; elsewhere it says what to run and exits 1.
#
# Usage: bash scripts/install-chromium.sh   ->  prints the chromium path
set -euo pipefail

CHROMIUM="${KRSTOCK_CHROMIUM:-/usr/bin/chromium}"

if [ -x "${CHROMIUM}" ]; then
  echo "${CHROMIUM}"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "install-chromium: ${CHROMIUM} is missing; run as root: apt-get install -y chromium" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# The package lists may be stale on a fresh machine: refresh them once if the install fails.
if ! ${SUDO} apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk >/dev/null; then
  ${SUDO} apt-get update -q >/dev/null
  ${SUDO} apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk >/dev/null
fi
[ -x "${CHROMIUM}" ] || { echo "install-chromium: ${CHROMIUM} is still missing" >&2; exit 1; }
echo "${CHROMIUM}"
