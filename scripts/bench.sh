#!/usr/bin/env bash
# Set up (with the peers to compare against), then run the benchmarks. Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[bench]"
.venv/bin/python -m bench.run "$@"
