#!/usr/bin/env bash
# Install Debian's chromium package unless /usr/bin/chromium already exists.
# The browser tests (pytest marker `e2e`) drive this binary through Playwright.
set -euo pipefail

chromium=/usr/bin/chromium

if [ -x "$chromium" ]; then
    echo "Chromium is already installed at $chromium"
    exit 0
fi

fail() {
    echo "install-chromium.sh: $1" >&2
    echo "install-chromium.sh: install Debian's 'chromium' package so that $chromium exists, then rerun" >&2
    exit 1
}

if ! command -v apt-get >/dev/null; then
    fail "$chromium is missing and apt-get is not available"
fi

runner=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
        fail "$chromium is missing, this is not root, and sudo is not available"
    fi
    runner=(sudo)
fi

echo "Installing Debian's chromium package"

# DPkg::Lock::Timeout makes apt-get wait up to 10 minutes for the dpkg lock,
# but `apt-get update` fails at once when another process holds the package
# lists lock. So update is retried every 10 s for up to 10 minutes while its
# output reports a lock, and fails at once on other errors.
update_log=$(mktemp)
trap 'rm -f "$update_log"' EXIT
for attempt in $(seq 60); do
    if "${runner[@]}" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
            apt-get -o DPkg::Lock::Timeout=600 update 2>&1 | tee "$update_log"; then
        break
    fi
    if [ "$attempt" -eq 60 ] || ! grep -q 'Could not get lock' "$update_log"; then
        fail "apt-get update failed"
    fi
    echo "install-chromium.sh: the apt package lists are locked by another process. Retrying in 10 s." >&2
    sleep 10
done

if ! "${runner[@]}" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
        apt-get -o DPkg::Lock::Timeout=600 install -y chromium; then
    fail "apt-get install chromium failed"
fi

if [ ! -x "$chromium" ]; then
    fail "the chromium package was installed but $chromium does not exist"
fi
echo "Chromium installed at $chromium"
