#!/usr/bin/env bash
# The versions installed in a virtualenv (default .venv), nbray itself left out, in the form of
# constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
echo "# The versions scripts/setup.sh installs: the ones the whole suite last passed with."
echo "# Made by scripts/freeze.sh; scripts/test.sh --latest writes a newer set when it passes."
"$VENV/bin/python" -m pip freeze --all --exclude-editable --disable-pip-version-check \
    | grep -v -i -E '^(nbray|setuptools|wheel)[=@ ]' | LC_ALL=C sort -f
