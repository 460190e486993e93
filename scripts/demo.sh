#!/usr/bin/env bash
# The demo on the embedded default: set up, migrate, seed, create an admin, run debates, then serve
# the admin and the API on http://127.0.0.1:8000 with a task worker beside the web server.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DEBUG="${DEBUG:-1}"
PY=.venv/bin/python
$PY manage.py migrate --no-input -v0
$PY manage.py demo
PORT="${PORT:-8000}"
$PY manage.py qcluster &
worker=$!
$PY manage.py runserver --noreload "127.0.0.1:$PORT" &
web=$!
trap 'kill $worker $web 2>/dev/null; wait $worker $web 2>/dev/null; echo; echo "Arena stopped."' INT TERM EXIT
echo "Arena is serving on http://127.0.0.1:$PORT/admin/ (worker pid $worker). Ctrl-C stops both."
wait -n $worker $web
