"""Execute the tutorial notebooks headless, each in a fresh kernel, and report.

    .venv/bin/python scripts/run_notebooks.py            # run all, report time and errors
    .venv/bin/python scripts/run_notebooks.py --save     # ... and save their outputs in place
    .venv/bin/python scripts/run_notebooks.py 03         # only those whose name contains "03"

Saved notebooks keep their widget state (nbclient stores it), so JupyterLab renders the last
state of each ledger and progress bar.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run(path: Path, save: bool) -> bool:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": NOTEBOOKS}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        print(f"FAILED  {path.name}  after {time.perf_counter() - start:.1f} s\n{error}")
        return False
    print(f"ok      {path.name}  {time.perf_counter() - start:5.1f} s")
    if save:
        nbformat.write(notebook, path)
    return True


def main() -> int:
    save = "--save" in sys.argv
    chosen = [a for a in sys.argv[1:] if not a.startswith("--")]
    paths = [
        p
        for p in sorted(NOTEBOOKS.glob("*.ipynb"))
        if not chosen or any(c in p.name for c in chosen)
    ]
    results = [run(path, save) for path in paths]
    print(f"{sum(results)} of {len(results)} notebooks ran top to bottom")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
