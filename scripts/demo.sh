#!/usr/bin/env bash
# Run the main job on embedded defaults: install, then `krstock demo` (extra args pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/krstock demo "$@"
