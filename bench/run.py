"""nbray beside multiprocessing.Pool, in one run on one machine, with the same number of workers.

    .venv/bin/python bench/run.py            # prints a table, writes bench/results/latest.json

Workloads: cold start (fresh process to first result), no-op task round trip (median, p99), and
throughput of 10,000 no-op tasks submitted one by one. Each is repeated; the table gives the
median and the min-max, and nbray's ratio to the peer (> 1 means nbray takes longer).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

WORKERS = 2
ROUND_TRIPS = 2000
THROUGHPUT_TASKS = 10_000
REPEATS = 5


def noop() -> None:
    return None


# ---- cold start: a fresh interpreter, timed from launch to the first result ------------------

COLD_START = {
    "nbray": f"""
import nbray
@nbray.remote
def noop():
    return None
nbray.init(num_cpus={WORKERS})
nbray.get(noop.remote())
print("done", flush=True)
nbray.shutdown()
""",
    "multiprocessing.Pool": f"""
import multiprocessing
def noop():
    return None
if __name__ == "__main__":
    with multiprocessing.Pool({WORKERS}) as pool:
        pool.apply(noop)
        print("done", flush=True)
""",
}


def cold_start(system: str) -> float:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", COLD_START[system]], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    elapsed = time.perf_counter() - started
    process.wait()
    assert line.strip() == "done", line
    return elapsed


# ---- in-process workloads ---------------------------------------------------------------------


class NbraySystem:
    name = "nbray"

    def __init__(self) -> None:
        import nbray

        self.nbray = nbray
        nbray.init(num_cpus=WORKERS)
        self.noop = nbray.remote(noop)
        nbray.get([self.noop.remote() for _ in range(100)])  # workers up and warm

    def round_trip(self) -> None:
        self.nbray.get(self.noop.remote())

    def throughput(self, n: int) -> None:
        self.nbray.get([self.noop.remote() for _ in range(n)])

    def close(self) -> None:
        self.nbray.shutdown()


class PoolSystem:
    name = "multiprocessing.Pool"

    def __init__(self) -> None:
        self.pool = multiprocessing.Pool(WORKERS)
        self.pool.map(noop_arg, range(100))

    def round_trip(self) -> None:
        self.pool.apply(noop)

    def throughput(self, n: int) -> None:
        for result in [self.pool.apply_async(noop) for _ in range(n)]:
            result.get()

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


def noop_arg(_: object) -> None:
    return None


def timed(function: Callable[[], None]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def measure(system: NbraySystem | PoolSystem) -> dict[str, list[float]]:
    trips = [timed(system.round_trip) for _ in range(ROUND_TRIPS)]
    return {
        "round trip median (s)": [statistics.median(trips[i::REPEATS]) for i in range(REPEATS)],
        "round trip p99 (s)": [_p99(trips[i::REPEATS]) for i in range(REPEATS)],
        "10k tasks (tasks/s)": [
            THROUGHPUT_TASKS / timed(lambda: system.throughput(THROUGHPUT_TASKS)) for _ in range(3)
        ],
    }


def _p99(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.99) - 1]


def main() -> None:
    results: dict[str, dict[str, list[float]]] = {}
    for system_class in (NbraySystem, PoolSystem):
        system = system_class()
        results[system.name] = measure(system)
        system.close()
    for name in COLD_START:
        results[name]["cold start to first result (s)"] = [cold_start(name) for _ in range(REPEATS)]
    report(results)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "workers": WORKERS}
    (out / "latest.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2))


def report(results: dict[str, dict[str, list[float]]]) -> None:
    peer = "multiprocessing.Pool"
    print(f"{'workload':34} {'nbray median (min-max)':>30} {peer + ' median (min-max)':>40} {'ratio':>7}")
    for workload in results["nbray"]:
        ours, theirs = results["nbray"][workload], results[peer][workload]
        ratio = statistics.median(ours) / statistics.median(theirs)
        if "tasks/s" in workload:
            ratio = 1 / ratio  # > 1 still means nbray is slower
        print(f"{workload:34} {_fmt(ours):>30} {_fmt(theirs):>40} {ratio:>7.2f}")


def _fmt(samples: list[float]) -> str:
    median = statistics.median(samples)
    if median >= 100:
        return f"{median:,.0f} ({min(samples):,.0f}-{max(samples):,.0f})"
    if median >= 0.01:
        return f"{median:.3f} ({min(samples):.3f}-{max(samples):.3f})"
    return f"{median * 1e6:.0f} us ({min(samples) * 1e6:.0f}-{max(samples) * 1e6:.0f})"


if __name__ == "__main__":
    main()
