#!/usr/bin/env bash
# Set up, then run the whole test suite: lint, types, and every test tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "--- ruff"
.venv/bin/ruff check nbray tests bench scripts
.venv/bin/ruff format --check nbray tests bench scripts
echo "--- mypy"
.venv/bin/mypy
echo "--- pytest"
.venv/bin/python -m pytest "$@"
