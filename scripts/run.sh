#!/usr/bin/env bash
# Install dependencies, create the database with demo data, and start the
# Flask development server on http://127.0.0.1:5000 as an all-in-one
# installation: it serves the city hub, and every demo organisation's
# connector pushes to it and polls it over HTTP on the scheduler.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PORT="${VANBAN_PORT:-5000}"
bash scripts/install.sh
.venv/bin/flask --app app init-db
.venv/bin/flask --app app seed-demo
.venv/bin/flask --app app exchange connect-local \
    --hub "http://127.0.0.1:${PORT}/api/edoc/v1"
VANBAN_HUB_ENABLED=true VANBAN_SCHEDULER_ENABLED=true \
    exec .venv/bin/flask --app app run --host 127.0.0.1 --port "${PORT}"
