#!/usr/bin/env bash
# Install dependencies, create the database with demo data, and start the
# Flask development server on http://127.0.0.1:5000.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install.sh
.venv/bin/flask --app app init-db
.venv/bin/flask --app app seed-demo
VANBAN_SCHEDULER_ENABLED=true exec .venv/bin/flask --app app run --host 127.0.0.1 --port "${VANBAN_PORT:-5000}"
