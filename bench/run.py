"""nbray beside its peers, in one run on one machine, with the same number of worker processes.

    bash scripts/bench.sh                       # set up (peers included), run everything
    .venv/bin/python -m bench.run tasks         # only the workloads whose name contains "tasks"
    .venv/bin/python -m bench.run --docs        # ... and rewrite docs/benchmarks.md
    .venv/bin/python -m bench.run --rounds 3 round  # each system 3 times, turn about

Each workload is repeated; the table gives the median and the min-max, and nbray's ratio to each
peer (> 1 means nbray takes longer or uses more, or does fewer per second). Peers that are not
installed are skipped. With `--rounds N`, each system runs N times, the order of the systems
flipped every round, and the samples of all rounds make its figures: on a host whose speed
drifts, ratios from one round of systems run one after another are weak evidence. Results go
to bench/results/latest.json.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil

from bench.systems import SYSTEMS, WORKERS
from bench.workloads import LIFECYCLE_UNITS, MACHINE_LIMITS, Workload, lifecycle, workloads

Results = dict[str, dict[str, list[float]]]
ROOT = Path(__file__).resolve().parents[1]


def available(name: str) -> bool:
    """Installed? Asked without importing it: the parent process runs no system."""
    module, _ = SYSTEMS[name]
    return importlib.util.find_spec(module.partition(".")[0]) is not None


def chosen(selection: list[str]) -> list[Workload]:
    return [w for w in workloads() if not selection or any(s in w.name for s in selection)]


def measure(selection: list[str], rounds: int = 1) -> tuple[Results, list[str]]:
    names = [n for n in SYSTEMS if available(n)]
    results: Results = {name: {} for name in names}
    for number, name in alternating(names if chosen(selection) else [], rounds):
        print(f"... {name} (round {number + 1} of {rounds})", file=sys.stderr, flush=True)
        add_samples(results[name], measure_in_own_process(name, selection))
    if lifecycle_chosen(selection):
        for _, name in alternating(names, rounds):
            try:
                add_samples(results[name], lifecycle(name))
            except AssertionError as error:  # report the others all the same
                print(f"!!! {error}", file=sys.stderr)
    return results, [n for n in SYSTEMS if n not in names]


def lifecycle_chosen(selection: list[str]) -> bool:
    return not selection or any(s in "cold start idle memory shutdown" for s in selection)


def alternating(names: list[str], rounds: int) -> Iterator[tuple[int, str]]:
    """Each name once a round, in an order flipped every other round: a host whose speed drifts
    during the run (this one does, by 20% within minutes) weighs on all of them alike."""
    for number in range(rounds):
        yield from ((number, name) for name in (names if number % 2 == 0 else names[::-1]))


def add_samples(into: dict[str, list[float]], measured: dict[str, list[float]]) -> None:
    for workload, samples in measured.items():
        into.setdefault(workload, []).extend(samples)


def take_rounds(arguments: list[str], default: int = 1) -> int:
    """The value of `--rounds N` (`default` without it), taken out of `arguments`."""
    if "--rounds" not in arguments:
        return default
    at = arguments.index("--rounds")
    rounds = int(arguments[at + 1])
    del arguments[at : at + 2]
    return rounds


def measure_in_own_process(
    name: str, selection: list[str], cwd: Path = ROOT
) -> dict[str, list[float]]:
    """Each system runs in a fresh interpreter: none runs beside another's imports (a heap
    full of another library's objects makes every full garbage collection slower)."""
    return results_of([sys.executable, "-m", "bench.run", "--one", name, *selection], cwd)


def results_of(command: list[str], cwd: Path) -> dict[str, list[float]]:
    """What a child measured: the JSON on the last line it printed."""
    out = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, text=True, check=True).stdout
    measured: dict[str, list[float]] = json.loads(out.splitlines()[-1])
    return measured


def measure_one(name: str, selection: list[str]) -> dict[str, list[float]]:
    system = SYSTEMS[name][1]()
    measured = {}
    for workload in chosen(selection):
        with contextlib.suppress(AttributeError):  # no such operation (Pool has no put)
            measured[workload.name] = workload.run(system)
    system.close()
    return measured


def units() -> dict[str, str]:
    return {**{w.name: w.unit for w in workloads()}, **LIFECYCLE_UNITS}


def table(results: Results) -> list[list[str]]:
    names = list(results)
    peers = [n for n in names if n != "nbray"]
    rows = [["workload", *names, *(f"nbray / {p}" for p in peers)]]
    for workload, unit in units().items():
        if workload not in results.get("nbray", {}):
            continue
        row = [workload, *(format_samples(results[n].get(workload), unit) for n in names)]
        rows.append(row + [_ratio(results, workload, p, unit) for p in peers])
    return rows


def aligned(rows: list[list[str]]) -> str:
    """The rows as text, in columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "workers per system": WORKERS,
    }


def markdown(rows: list[list[str]], limits: dict[str, list[float]], skipped: list[str]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    lines += ["", "The machine's own limits, same run:", ""]
    lines += [f"- {name}: {format_samples(samples, 's')}" for name, samples in limits.items()]
    if skipped:
        lines += ["", f"Not installed, skipped: {', '.join(skipped)}."]
    return "\n".join(lines)


def write_docs(text: str) -> None:
    facts = ", ".join(f"{k}: {v}" for k, v in machine().items())
    path = ROOT / "docs" / "benchmarks.md"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        "# Benchmarks\n\nnbray beside Ray, Dask, IPython Parallel and multiprocessing.Pool, "
        "measured in one run on one machine, each with the same number of worker processes. "
        "Median (min-max) of repeated runs; the ratio columns are nbray's median over the "
        "peer's (> 1: nbray is slower or uses more; for ops/s, the inverse so that > 1 "
        "still means nbray is behind).\n\n"
        f"Machine: {facts}.\n\n{text}\n\n"
        "Reproduce: `bash scripts/bench.sh --docs` (installs the peers from the `bench` "
        "extra, runs everything, rewrites this page); `bash scripts/bench.sh <words>` runs only "
        "the workloads whose names contain them; `.venv/bin/python -m bench.ab REV <words>` "
        "compares the working tree with commit REV in alternating fresh runs.\n"
    )


def main(arguments: list[str]) -> None:
    if arguments[:1] == ["--one"]:  # the child of measure_in_own_process: results on stdout
        print(json.dumps(measure_one(arguments[1], arguments[2:])))
        return
    rounds = take_rounds(arguments)
    selection = [a for a in arguments if not a.startswith("--")]
    results, skipped = measure(selection, rounds)
    limits = {name: run() for name, run in MACHINE_LIMITS.items()}
    rows = table(results)
    print(aligned(rows))
    for name, samples in limits.items():
        print(f"{name}: {format_samples(samples, 's')}")
    if skipped:
        print(f"(not installed, skipped: {', '.join(skipped)})")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    record = {"machine": machine(), "results": results, "machine limits": limits}
    (out / "latest.json").write_text(json.dumps(record, indent=2))
    if "--docs" in arguments:
        write_docs(markdown(rows, limits, skipped))


def _ratio(results: Results, workload: str, peer: str, unit: str) -> str:
    ours, theirs = results["nbray"].get(workload), results[peer].get(workload)
    return f"{ratio(ours, theirs, unit):.2f}" if ours and theirs else "-"


def ratio(ours: list[float], theirs: list[float], unit: str) -> float:
    """Median over median, > 1 when `ours` is behind (for ops/s, the inverse)."""
    value = statistics.median(ours) / statistics.median(theirs)
    return 1 / value if unit == "ops/s" else value


def format_samples(samples: list[float] | None, unit: str) -> str:
    if not samples:
        return "-"
    median, low, high = statistics.median(samples), min(samples), max(samples)
    if unit == "ops/s":
        return f"{median:,.0f}/s ({low:,.0f}-{high:,.0f})"
    if unit == "MB":
        return f"{median:,.0f} MB ({low:,.0f}-{high:,.0f})"
    if unit == "x":
        return f"{median:.2f}x ({low:.2f}-{high:.2f})"
    return f"{_seconds(median)} ({_seconds(low)}-{_seconds(high)})"


def _seconds(value: float) -> str:
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


if __name__ == "__main__":
    main(sys.argv[1:])
