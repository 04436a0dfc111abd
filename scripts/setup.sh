#!/usr/bin/env bash
# Set up everything nbray needs on a fresh machine: a virtualenv in .venv with nbray (editable)
# and its test tools at the versions in constraints.txt (the ones the suite last passed with,
# so a new release elsewhere cannot turn a fresh clone red), the oldest cloudpickle nbray
# supports (tests/test_serialization.py runs against it), and Debian's Chromium for the browser
# tests (Playwright drives it; its own browser download does not work here). Safe to run again:
# it only installs what is missing.
#   bash scripts/setup.sh            .venv, pinned by constraints.txt
#   bash scripts/setup.sh --latest   .venv-latest, the newest release of every dependency
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ "${1:-}" = "--latest" ]; then
    VENV=.venv-latest
    VERSIONS=(--upgrade --upgrade-strategy eager)
else
    VENV=.venv
    VERSIONS=(--constraint constraints.txt)
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"${PIP[@]}" "${VERSIONS[@]}" --upgrade pip
"${PIP[@]}" "${VERSIONS[@]}" -e ".[test]"
OLDEST_CLOUDPICKLE=$(sed -n 's/.*"cloudpickle>=\([0-9.]*\)".*/\1/p' pyproject.toml)
if [ ! -d "$VENV/oldest/cloudpickle/cloudpickle-$OLDEST_CLOUDPICKLE.dist-info" ]; then
    rm -rf "$VENV/oldest/cloudpickle"
    "${PIP[@]}" --no-deps --target "$VENV/oldest/cloudpickle" "cloudpickle==$OLDEST_CLOUDPICKLE"
fi
# Bytecode, as an installed package has it: an editable install writes none, and where
# PYTHONDONTWRITEBYTECODE is set (this machine sets it) every process, each worker included,
# would compile nbray from source at its start (~50 ms; a stale file is only recompiled).
"$VENV/bin/python" -m compileall -q nbray
if [ ! -x /usr/bin/chromium ]; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q chromium >/dev/null \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; }
fi
