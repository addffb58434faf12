#!/usr/bin/env bash
# Create .venv and install krstock with its development extras (idempotent; fast when done).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.krstock-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
# The dashboard's browser tests drive Debian's chromium (tests/integration/web).
bash scripts/install-chromium.sh >/dev/null \
  || echo "bootstrap: chromium is not installed; the browser tests skip outside CI" >&2
# promtool and a Prometheus server for the monitoring tests (Debian's prometheus package).
bash scripts/install-prometheus.sh || echo "bootstrap: prometheus is not installed; the monitoring tests skip outside CI" >&2
