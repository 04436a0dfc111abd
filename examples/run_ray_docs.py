"""Run the Python examples of Ray's documentation on nbray and show what each prints.

Each file in `ray_docs/` holds the code of one page of `shared/reference/ray-docs/` as written
there (lines changed for nbray end in `# nbray: why`). It is run as a fresh `__main__`, with
`import ray` read as `import nbray as ray` — the promise is that Ray code runs unchanged.

    python examples/run_ray_docs.py            # all of them
    python examples/run_ray_docs.py tasks      # the ones whose name contains "tasks"
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent / "ray_docs"


@dataclass(frozen=True)
class Example:
    file: str
    source_page: str  # the file in shared/reference/ray-docs/ it comes from
    title: str

    @property
    def path(self) -> Path:
        return HERE / self.file


EXAMPLES = [
    Example("objects_put_get.py", "001_757f5157332cbf3a.txt", "Objects: put, get, timeouts"),
    Example("objects_passing_arguments.py", "001_757f5157332cbf3a.txt", "Objects: passing refs"),
    Example("object_store.py", "002_9e0df57de21a2b5a.txt", "Object store overview"),
    Example("tasks.py", "003_1cbe8ca524557146.txt", "Tasks"),
    Example("tutorial.py", "004_18511fb1c070ac8e.txt", "An early tutorial notebook"),
]


def as_nbray(source: str) -> str:
    """`import ray` -> `import nbray as ray`; `from ray.x import y` -> `from nbray.x import y`."""
    source = re.sub(r"^(\s*)import ray\b", r"\1import nbray as ray", source, flags=re.MULTILINE)
    return re.sub(r"^(\s*)from ray\.", r"\1from nbray.", source, flags=re.MULTILINE)


def run(example: Example, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-"],
        input=as_nbray(example.path.read_text()),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def main(selection: list[str]) -> int:
    chosen = [e for e in EXAMPLES if not selection or any(s in e.file for s in selection)]
    failed = 0
    for example in chosen:
        print(f"=== {example.title}  ({example.file}, from ray-docs/{example.source_page})")
        started = time.perf_counter()
        result = run(example)
        elapsed = time.perf_counter() - started
        print(result.stdout.rstrip() or "(prints nothing)")
        if result.stderr.strip():
            print("--- stderr:\n" + result.stderr.rstrip())
        status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
        print(f"--- {status} in {elapsed:.2f} s\n")
        failed += result.returncode != 0
    print(f"{len(chosen) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
