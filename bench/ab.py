"""nbray at another commit beside the working tree, in alternating fresh processes.

    .venv/bin/python -m bench.ab REV [WORDS...] [--rounds N]

This host's speed drifts by 20% within minutes, which hides a change of a few percent between two
runs made apart. So this checks REV out into a temporary git worktree and alternates fresh runs
of the nbray workloads whose names contain WORDS (all of them without WORDS, as bench.run chooses
them), on REV and on the working tree, N rounds each (default 3), the order flipped every round.
Both sides run this tree's bench code; only the nbray they import differs. It prints each
workload's median over every sample of each side and their ratio, the working tree over REV
(> 1: the working tree is slower or uses more, or does fewer per second). Two runs of the same
code have differed by 24% in 2 rounds here: trust a ratio only when it holds over more.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench.run import (
    ROOT,
    Results,
    add_samples,
    aligned,
    alternating,
    chosen,
    format_samples,
    lifecycle_chosen,
    measure_in_own_process,
    ratio,
    results_of,
    take_rounds,
    units,
)

BASE, WORKING = "base", "working tree"
_LIFECYCLE = "import json, bench.workloads as w; print(json.dumps(w.lifecycle('nbray')))"


def main(arguments: list[str]) -> None:
    rounds = take_rounds(arguments, default=3)
    if not arguments or arguments[0].startswith("-"):
        sys.exit(__doc__)
    revision, selection = arguments[0], arguments[1:]
    with tempfile.TemporaryDirectory(prefix="nbray-ab-") as scratch:
        base_tree = Path(scratch) / "tree"
        _git("worktree", "add", "--detach", "--quiet", str(base_tree), revision)
        try:
            for tree in (base_tree, ROOT):  # with bytecode, as installed (scripts/setup.sh)
                subprocess.run([sys.executable, "-m", "compileall", "-q", "nbray"], cwd=tree)
            sides = {BASE: _side(Path(scratch) / "base", base_tree), WORKING: ROOT}
            results = compare(sides, selection, rounds)
        finally:
            _git("worktree", "remove", "--force", str(base_tree))
    print(report(results, revision))


def compare(sides: dict[str, Path], selection: list[str], rounds: int) -> Results:
    results: Results = {side: {} for side in sides}
    for number, side in alternating(list(sides), rounds):
        print(f"... {side} (round {number + 1} of {rounds})", file=sys.stderr, flush=True)
        add_samples(results[side], measure(sides[side], selection))
    return results


def measure(cwd: Path, selection: list[str]) -> dict[str, list[float]]:
    """One fresh run of the chosen workloads with the nbray found in `cwd`."""
    measured: dict[str, list[float]] = {}
    if chosen(selection):
        measured.update(measure_in_own_process("nbray", selection, cwd))
    if lifecycle_chosen(selection):
        measured.update(results_of([sys.executable, "-c", _LIFECYCLE], cwd))
    return measured


def report(results: Results, revision: str) -> str:
    rows = [["workload", revision, "working tree", "ratio"]]
    for workload, unit in units().items():
        base, working = results[BASE].get(workload), results[WORKING].get(workload)
        if base and working:
            change = ratio(working, base, unit)
            rows.append(
                [
                    workload,
                    format_samples(base, unit),
                    format_samples(working, unit),
                    f"{change:.3f}",
                ]
            )
    return aligned(rows)


def _side(directory: Path, tree: Path) -> Path:
    """A directory from which `python -m bench...` imports the nbray of `tree` and this tree's
    bench code (the current directory comes first on sys.path; workers import the nbray their
    driver imported)."""
    directory.mkdir()
    (directory / "nbray").symlink_to(tree / "nbray")
    (directory / "bench").symlink_to(ROOT / "bench")
    return directory


def _git(*arguments: str) -> None:
    subprocess.run(["git", *arguments], cwd=ROOT, check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
