#!/usr/bin/env bash
# Install checkov (the IaC scanner the chart tests run, offline, on rendered manifests) into its
# own virtual environment, so its many pinned dependencies never meet the project's. Idempotent
# and instant when done; prints the path of the checkov executable.
#
#   KRSTOCK_TOOLS_DIR   where the environment lives (default: $HOME/.cache/krstock-tools)
#   PYTHON              the interpreter to build it with (default: python3.11, else python3)
#
# Usage: bash scripts/install-checkov.sh   ->  e.g. /root/.cache/krstock-tools/checkov-3.3.30/bin/checkov
set -euo pipefail

VERSION="3.3.30"
TOOLS_DIR="${KRSTOCK_TOOLS_DIR:-${HOME}/.cache/krstock-tools}"
VENV="${TOOLS_DIR}/checkov-${VERSION}"
CHECKOV="${VENV}/bin/checkov"

if [ -f "${VENV}/.complete" ] && [ -x "${CHECKOV}" ]; then
  echo "${CHECKOV}"
  exit 0
fi

mkdir -p "${TOOLS_DIR}"
# One installer at a time (pytest-xdist workers may all ask at once); the others wait, then reuse.
exec 9>"${TOOLS_DIR}/.checkov.lock"
flock 9
if [ ! -f "${VENV}/.complete" ]; then
  rm -rf "${VENV}"
  PY=${PYTHON:-python3.11}
  command -v "${PY}" >/dev/null 2>&1 || PY=python3
  "${PY}" -m venv "${VENV}"
  # pip's chatter goes to a log, shown only when the install fails.
  if ! "${VENV}/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir \
      "checkov==${VERSION}" >"${TOOLS_DIR}/checkov-install.log" 2>&1; then
    tail -20 "${TOOLS_DIR}/checkov-install.log" >&2
    exit 1
  fi
  "${CHECKOV}" --version >/dev/null
  touch "${VENV}/.complete"
fi
echo "${CHECKOV}"
