#!/usr/bin/env bash
# Set up, then run the main job: the examples of Ray's documentation, on nbray.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python examples/run_ray_docs.py "$@"
