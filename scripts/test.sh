#!/usr/bin/env bash
# The whole test suite: set-up, lint, format check, type check, then pytest (browser tests included).
# Uses SQLite unless DATABASE_URL is set (CI sets it to the local PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DEBUG="${DEBUG:-1}"
echo "== ruff check"; .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy .
echo "== django checks"; .venv/bin/python manage.py check --fail-level WARNING
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null || { echo "Missing migrations: run manage.py makemigrations"; exit 1; }
.venv/bin/python manage.py collectstatic --no-input -v0
# The browser tests drive Debian's Chromium (no Playwright browser download); install it when missing
# and we may. Without it they skip, saying why.
if [ ! -x "${ARENA_CHROMIUM:-/usr/bin/chromium}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing Chromium for the browser tests"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "Could not install Chromium: the browser tests will be skipped."
fi
echo "== pytest"; .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
