#!/usr/bin/env bash
# Set up everything nbray needs on a fresh machine: a virtualenv in .venv with nbray (editable)
# and its test tools, and Debian's Chromium for the browser tests (Playwright drives it; its
# own browser download does not work here). Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
# Bytecode, as an installed package has it: an editable install writes none, and where
# PYTHONDONTWRITEBYTECODE is set (this machine sets it) every process, each worker included,
# would compile nbray from source at its start (~50 ms; a stale file is only recompiled).
.venv/bin/python -m compileall -q nbray
if [ ! -x /usr/bin/chromium ]; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q chromium >/dev/null \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; }
fi
