#!/usr/bin/env bash
# Install Debian's chromium for the dashboard's browser tests (tests/browser), idempotently.
# Playwright drives it through executable_path=/usr/bin/chromium: Playwright's own browser
# download does not work where only the PyPI, Debian and npm registries are reachable.
# Needs root (CI runs as root) or passwordless sudo; elsewhere it says what to run and exits 1.
#
# Usage: bash scripts/install-chromium.sh   ->  prints the chromium path
set -euo pipefail

CHROMIUM="${KRSTOCK_CHROMIUM:-/usr/bin/chromium}"
# Korean text and emoji (the Market Gate's reasons) must render in the screenshots.
PACKAGES="chromium fonts-noto-cjk fonts-noto-color-emoji"

installed() {
  [ -x "${CHROMIUM}" ] || return 1
  for package in ${PACKAGES}; do
    [ "${package}" = chromium ] && continue
    dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed" \
      || return 1
  done
}

if installed; then
  echo "${CHROMIUM}"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif [ -x "${CHROMIUM}" ] && ! command -v sudo >/dev/null 2>&1; then
  # Not root: chromium is what the tests need; the fonts only make screenshots readable.
  echo "install-chromium: fonts missing (${PACKAGES}); screenshots may lack Korean/emoji glyphs" >&2
  echo "${CHROMIUM}"
  exit 0
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "install-chromium: cannot install ${PACKAGES} without root; run: sudo apt-get install -y ${PACKAGES}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# The package lists may be stale on a fresh machine: refresh them once if the install fails.
# shellcheck disable=SC2086 # PACKAGES is a word list
if ! ${SUDO} apt-get install -y -q --no-install-recommends ${PACKAGES} >/dev/null; then
  ${SUDO} apt-get update -q >/dev/null
  ${SUDO} apt-get install -y -q --no-install-recommends ${PACKAGES} >/dev/null
fi
installed || { echo "install-chromium: ${PACKAGES} are still not all installed" >&2; exit 1; }
echo "${CHROMIUM}"
