#!/usr/bin/env bash
# Set up, then run the main job: JupyterLab on the tutorial notebooks, with nbray ready.
#   bash scripts/demo.sh              open JupyterLab on notebooks/ (http://127.0.0.1:8888)
#   bash scripts/demo.sh --headless   no browser here: run every notebook and the examples of
#                                     Ray's docs, and report
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "--headless" ]; then
    .venv/bin/python scripts/run_notebooks.py
    .venv/bin/python examples/run_ray_docs.py
else
    ROOT_FLAG=$([ "$(id -u)" = 0 ] && echo --allow-root || true)
    exec .venv/bin/jupyter lab --no-browser --ip=127.0.0.1 --notebook-dir=notebooks $ROOT_FLAG "$@"
fi
