#!/usr/bin/env bash
# The whole check: install, start services, lint, types, SQL lint, tests with coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/services.sh
export PATH="$PWD/.venv/bin:$PATH"
if psql "postgresql://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
  export KRSTOCK_TEST_ADMIN_URL=${KRSTOCK_TEST_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
else
  export KRSTOCK_TEST_ADMIN_URL=${KRSTOCK_TEST_ADMIN_URL:-postgresql://postgres:postgres@127.0.0.1:5432/postgres}
fi
export KRSTOCK_TEST_REDIS_URL=${KRSTOCK_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}

echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== sqlfluff"
sql_files=$(git ls-files '*.sql' 2>/dev/null || true)
if [ -n "$sql_files" ]; then sqlfluff lint --dialect postgres $sql_files; else echo "no SQL files"; fi
echo "== pytest"
# One test process per core (pytest-xdist; KRSTOCK_TEST_WORKERS=0 runs them in this process):
# every test makes its own databases and each worker its own Redis database. Whole files go to
# one worker (loadfile): some modules share one running service across their tests (the operator
# loop's last test reads what the module's operator did). xdist's loadgroup would be finer, but
# its grouping does not take effect under pytest 9.2.
python -m pytest -q -p no:cacheprovider -n "${KRSTOCK_TEST_WORKERS:-auto}" --dist loadfile \
  --cov --cov-report=term:skip-covered --cov-report=xml:.coverage.xml "$@"
python scripts/coverage_floors.py .coverage.xml
