"""nbray beside its peers, in one run on one machine, with the same number of worker processes.

    bash scripts/bench.sh                      # set up (peers included), run everything
    .venv/bin/python bench/run.py tasks        # only the workloads whose name contains "tasks"

Each workload is repeated; the table gives the median and the min-max, and nbray's ratio to each
peer (> 1 means nbray takes longer, or does fewer per second). Peers that are not installed are
skipped. Results go to bench/results/latest.json.
"""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

WORKERS = 2
MB = 10**6


def noop() -> None:
    return None


def last_element(array: Any) -> float:
    return float(array[-1])


# ---- the systems ----------------------------------------------------------------------------


class Echo:
    def noop(self) -> None:
        return None


class RayLike:
    """nbray and Ray share an API: one adapter serves both."""

    def __init__(self, module: Any, **init: Any) -> None:
        self.module = module
        module.init(num_cpus=WORKERS, **init)
        self.noop = module.remote(noop)
        self.last = module.remote(last_element)
        self.actor = module.remote(Echo).remote()
        module.get([self.noop.remote() for _ in range(100)])  # workers up and warm
        module.get([self.actor.noop.remote() for _ in range(100)])

    def actor_round_trip(self) -> None:
        self.module.get(self.actor.noop.remote())

    def actor_calls(self, n: int) -> None:
        self.module.get([self.actor.noop.remote() for _ in range(n)])

    def round_trip(self) -> None:
        self.module.get(self.noop.remote())

    def submit_many(self, n: int) -> None:
        self.module.get([self.noop.remote() for _ in range(n)])

    def put(self, value: Any) -> Any:
        return self.module.put(value)

    def get(self, ref: Any) -> Any:
        return self.module.get(ref)

    def fan_out(self, ref: Any, n: int) -> None:
        self.module.get([self.last.remote(ref) for _ in range(n)])

    def close(self) -> None:
        self.module.shutdown()


class PoolSystem:
    """multiprocessing.Pool: no object store, so values are pickled to every task."""

    def __init__(self) -> None:
        self.pool = multiprocessing.Pool(WORKERS)
        self.pool.map(abs, range(100))

    def round_trip(self) -> None:
        self.pool.apply(noop)

    def submit_many(self, n: int) -> None:
        for result in [self.pool.apply_async(noop) for _ in range(n)]:
            result.get()

    def fan_out(self, value: Any, n: int) -> None:
        self.pool.map(last_element, [value] * n, chunksize=1)

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


def start_nbray() -> RayLike:
    import nbray

    return RayLike(nbray)


def start_ray() -> RayLike:
    import ray

    return RayLike(ray, include_dashboard=False, log_to_driver=False)


SYSTEMS: dict[str, Callable[[], Any]] = {
    "nbray": start_nbray,
    "ray": start_ray,
    "multiprocessing.Pool": PoolSystem,
}
COLD_START = {
    "nbray": "import nbray as m\nm.init(num_cpus={w})\n"
    "f = m.remote(lambda: None)\nm.get(f.remote())",
    "ray": "import ray as m\nm.init(num_cpus={w}, include_dashboard=False)\n"
    "f = m.remote(lambda: None)\nm.get(f.remote())",
    "multiprocessing.Pool": "import multiprocessing\nif __name__ == '__main__':\n"
    "    multiprocessing.Pool({w}).apply(abs, (1,))",
}


def available(name: str) -> bool:
    module = {"nbray": "nbray", "ray": "ray"}.get(name, "multiprocessing")
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# ---- the workloads --------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    unit: str  # "s" (lower is better) or "ops/s" (higher is better)
    run: Callable[[Any], list[float]]  # samples


def timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def round_trips(
    system: Any, call: Callable[[], Any] | None = None, n: int = 2000, repeats: int = 5
) -> list[list[float]]:
    call = call or system.round_trip
    samples = [timed(call) for _ in range(n)]
    return [samples[i::repeats] for i in range(repeats)]


def put_get(size: int, repeats: int = 5) -> tuple[Workload, Workload]:
    array = np.random.default_rng(0).random(size // 8)
    results: dict[int, tuple[list[float], list[float]]] = {}

    def measure(system: Any) -> tuple[list[float], list[float]]:
        key = id(system)
        if key not in results:
            puts, gets = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                ref = system.put(array)
                puts.append(time.perf_counter() - started)
                started = time.perf_counter()
                value = system.get(ref)
                gets.append(time.perf_counter() - started)
                assert value.shape == array.shape
                del ref, value
                gc.collect()
            results[key] = (puts, gets)
        return results[key]

    label = f"{size // MB:,} MB"
    return (
        Workload(f"put {label} numpy", "s", lambda s: measure(s)[0]),
        Workload(f"get {label} numpy", "s", lambda s: measure(s)[1]),
    )


def fan_out(system: Any, repeats: int = 5) -> list[float]:
    array = np.ones(200 * MB // 8)
    handle = system.put(array) if hasattr(system, "put") else array
    system.fan_out(handle, 20)  # warm
    return [timed(lambda: system.fan_out(handle, 20)) for _ in range(repeats)]


def cold_start(name: str, repeats: int = 5) -> list[float]:
    code = COLD_START[name].format(w=WORKERS) + "\nprint('done', flush=True)\n"
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        samples.append(time.perf_counter() - started)
        process.wait()
        assert line.strip() == "done", f"{name} cold start failed"
    return samples


def workloads() -> list[Workload]:
    return [
        Workload(
            "no-op round trip, median",
            "s",
            lambda s: [statistics.median(r) for r in round_trips(s)],
        ),
        Workload(
            "no-op round trip, p99",
            "s",
            lambda s: [sorted(r)[int(len(r) * 0.99) - 1] for r in round_trips(s)],
        ),
        Workload(
            "10k no-op tasks",
            "ops/s",
            lambda s: [10_000 / timed(lambda: s.submit_many(10_000)) for _ in range(3)],
        ),
        Workload(
            "actor call round trip, median",
            "s",
            lambda s: [statistics.median(r) for r in round_trips(s, s.actor_round_trip)],
        ),
        Workload(
            "10k actor calls",
            "ops/s",
            lambda s: [10_000 / timed(lambda: s.actor_calls(10_000)) for _ in range(3)],
        ),
        *put_get(100 * MB),
        *put_get(1000 * MB),
        Workload("200 MB array to 20 tasks", "s", fan_out),
    ]


# ---- running and reporting ------------------------------------------------------------------


def main(selection: list[str]) -> None:
    names = [n for n in SYSTEMS if available(n)]
    skipped = [n for n in SYSTEMS if n not in names]
    chosen = [w for w in workloads() if not selection or any(s in w.name for s in selection)]
    results: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    for name in names:
        system = SYSTEMS[name]()
        for workload in chosen:
            with contextlib.suppress(AttributeError):  # no such operation (Pool has no put)
                results[name][workload.name] = workload.run(system)
        system.close()
    if not selection or any(s in "cold start" for s in selection):
        for name in names:
            results[name]["cold start to first result"] = cold_start(name)
    report(results, skipped)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "workers": WORKERS}
    (out / "latest.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2))


def report(results: dict[str, dict[str, list[float]]], skipped: list[str]) -> None:
    names = list(results)
    peers = [n for n in names if n != "nbray"]
    header = f"{'workload':30}" + "".join(f"{n:>26}" for n in names)
    header += "".join(f"{'nbray/' + p[:8]:>16}" for p in peers)
    print(header)
    units = {w.name: w.unit for w in workloads()}
    units["cold start to first result"] = "s"
    for workload in results["nbray"]:
        row = f"{workload:30}"
        for name in names:
            samples = results[name].get(workload)
            row += f"{_fmt(samples, units[workload]):>26}"
        for peer in peers:
            row += f"{_ratio(results, workload, peer, units[workload]):>16}"
        print(row)
    if skipped:
        print(f"(not installed, skipped: {', '.join(skipped)})")


def _ratio(results: dict[str, dict[str, list[float]]], workload: str, peer: str, unit: str) -> str:
    ours, theirs = results["nbray"].get(workload), results[peer].get(workload)
    if not ours or not theirs:
        return "-"
    ratio = statistics.median(ours) / statistics.median(theirs)
    return f"{1 / ratio if unit == 'ops/s' else ratio:.2f}"


def _fmt(samples: list[float] | None, unit: str) -> str:
    if not samples:
        return "-"
    median, low, high = statistics.median(samples), min(samples), max(samples)
    if unit == "ops/s":
        return f"{median:,.0f}/s ({low:,.0f}-{high:,.0f})"
    if median >= 0.1:
        return f"{median:.2f} s ({low:.2f}-{high:.2f})"
    if median >= 1e-3:
        return f"{median * 1e3:.1f} ms ({low * 1e3:.1f}-{high * 1e3:.1f})"
    return f"{median * 1e6:.0f} us ({low * 1e6:.0f}-{high * 1e6:.0f})"


if __name__ == "__main__":
    main(sys.argv[1:])
