#!/usr/bin/env bash
# Create .venv (if missing) and install the pinned Python dependencies into it.
#
# Usage: scripts/install.sh [--prod]
#   --prod  install requirements.txt only (no pytest, playwright or ruff)
# Environment: PYTHON sets the interpreter that creates .venv (default python3).
#
# Safe to run repeatedly. The playwright wheel contains no browser, and this
# script never runs `playwright install`: the browser tests use Debian's
# /usr/bin/chromium, which scripts/install-chromium.sh provides.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

requirements=requirements-dev.txt
case "${1:-}" in
    "") ;;
    --prod) requirements=requirements.txt ;;
    *)
        echo "install.sh: unknown option '$1' (expected --prod or nothing)" >&2
        exit 2
        ;;
esac

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null; then
    echo "install.sh: '$python' not found. Install Python 3.11 or newer, or set PYTHON to its path." >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "install.sh: $("$python" --version 2>&1) is too old. Python 3.11 or newer is required." >&2
    exit 1
fi

# Install Debian packages with apt-get, as root or through sudo.
apt_install() {
    local runner=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "install.sh: cannot install $* because this is not root and sudo is missing" >&2
            return 1
        fi
        runner=(sudo)
    fi

    # DPkg::Lock::Timeout makes apt-get wait up to 10 minutes for the dpkg
    # lock, but `apt-get update` fails at once when another process holds the
    # package lists lock. So update is retried every 10 s for up to 10 minutes
    # while its output reports a lock, and fails at once on other errors.
    local update_log attempt
    update_log=$(mktemp)
    for attempt in $(seq 60); do
        if "${runner[@]}" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
                apt-get -o DPkg::Lock::Timeout=600 update 2>&1 | tee "$update_log"; then
            break
        fi
        if [ "$attempt" -eq 60 ] || ! grep -q 'Could not get lock' "$update_log"; then
            rm -f "$update_log"
            return 1
        fi
        echo "install.sh: the apt package lists are locked by another process. Retrying in 10 s." >&2
        sleep 10
    done
    rm -f "$update_log"

    "${runner[@]}" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
        apt-get -o DPkg::Lock::Timeout=600 install -y "$@"
}

if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$python" --version 2>&1)"
    if ! "$python" -m venv .venv; then
        # Debian ships the venv module's pip bootstrap in a separate package.
        echo "install.sh: '$python -m venv' failed. Installing Debian's python3-venv and retrying." >&2
        if ! command -v apt-get >/dev/null || ! apt_install python3-venv; then
            echo "install.sh: failed to create .venv. Install the venv module for $python (Debian package python3-venv) and rerun." >&2
            exit 1
        fi
        "$python" -m venv .venv
    fi
fi

echo "Installing $requirements into .venv"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r "$requirements"
