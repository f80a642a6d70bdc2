#!/usr/bin/env bash
# Run the test suite twice: on SQLite (the default settings) and on PostgreSQL.
#
# Usage: scripts/test.sh [pytest arguments...]
#
# The PostgreSQL run sets VANBAN_TEST_DATABASE_URL, by default
# postgresql+psycopg://postgres@127.0.0.1:5432/postgres. Export that variable
# to use another server. The test fixtures create a throwaway database there.
# If the server is unreachable the script fails, unless VANBAN_SKIP_POSTGRES=1,
# in which case it skips the PostgreSQL run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install.sh
bash scripts/install-chromium.sh

postgres_url=${VANBAN_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}
# Messages show the URL with any password replaced by ***.
shown_url=$(printf '%s' "$postgres_url" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#')
failed_runs=()

echo
echo "== tests on SQLite =="
if ! env -u VANBAN_TEST_DATABASE_URL .venv/bin/python -m pytest "$@"; then
    failed_runs+=(SQLite)
fi

echo
echo "== tests on PostgreSQL =="
# psycopg takes a libpq URL, so the SQLAlchemy driver suffix is removed first.
if postgres_error=$(.venv/bin/python -c '
import sys
import psycopg
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://", 1)
try:
    psycopg.connect(url, connect_timeout=3).close()
except psycopg.Error as error:
    sys.exit(str(error).strip())
' "$postgres_url" 2>&1); then
    if ! VANBAN_TEST_DATABASE_URL=$postgres_url .venv/bin/python -m pytest "$@"; then
        failed_runs+=(PostgreSQL)
    fi
elif [ "${VANBAN_SKIP_POSTGRES:-}" = 1 ]; then
    echo "Skipped: cannot connect to PostgreSQL at $shown_url (VANBAN_SKIP_POSTGRES=1)."
    echo "$postgres_error"
else
    echo "Cannot connect to PostgreSQL at $shown_url:" >&2
    echo "$postgres_error" >&2
    echo "Start PostgreSQL there, set VANBAN_TEST_DATABASE_URL, or set VANBAN_SKIP_POSTGRES=1 to skip this run." >&2
    failed_runs+=("PostgreSQL (server unreachable)")
fi

echo
if [ "${#failed_runs[@]}" -gt 0 ]; then
    printf 'Failed test runs: %s\n' "${failed_runs[*]}" >&2
    exit 1
fi
echo "All test runs passed."
