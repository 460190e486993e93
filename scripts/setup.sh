#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with the pinned dependencies.
# Needs only python3 (>= 3.11). Set PYTHON=python3.13 to use another interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV with $($PYTHON --version)…"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.arena-installed"
want="$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -d' ' -f1)-$("$VENV/bin/python" -c 'import sys; print(sys.version_info[:2])')"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing dependencies (pinned by requirements/constraints.txt)…"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  constraints=requirements/constraints.txt
  # Django 6 needs Python >= 3.12; on newer interpreters let pip pick the versions that fit.
  if [ "$("$VENV/bin/python" -c 'import sys; print(sys.version_info >= (3, 12))')" = "True" ] && [ "${ARENA_UNPINNED_ON_NEW_PYTHON:-0}" = "1" ]; then
    constraints=/dev/null
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c "$constraints" -e ".[dev]"
  echo "$want" > "$stamp"
fi
