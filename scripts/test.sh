#!/usr/bin/env bash
# Set up, then run the whole test suite: lint, types, and every test tier.
#   bash scripts/test.sh [PYTEST ARGS]            with the versions in constraints.txt
#   bash scripts/test.sh --latest [PYTEST ARGS]   with the newest release of every dependency,
#       in .venv-latest: the early warning that a release breaks nbray. When it passes, it
#       writes the versions it passed with to .venv-latest/constraints.txt: copy that over
#       constraints.txt to adopt them.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
SETUP=()
if [ "${1:-}" = "--latest" ]; then
    VENV=.venv-latest
    SETUP=(--latest)
    shift
fi
bash scripts/setup.sh "${SETUP[@]}"
echo "--- ruff"
"$VENV/bin/ruff" check nbray tests bench scripts
"$VENV/bin/ruff" format --check nbray tests bench scripts
echo "--- mypy"
"$VENV/bin/mypy"
echo "--- pytest"
"$VENV/bin/python" -m pytest "$@"
if [ "$VENV" = .venv-latest ]; then
    bash scripts/freeze.sh "$VENV" > "$VENV/constraints.txt"
    echo "The newest releases pass; their versions: $VENV/constraints.txt"
    diff constraints.txt "$VENV/constraints.txt" || true
fi
