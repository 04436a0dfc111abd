"""The workloads: each takes a started system and returns samples (seconds, or ops/s).

Plus the machine's own limits, measured in the same run: memcpy bandwidth and a raw pipe round
trip between two Python processes — the floor under any of the systems.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import multiprocessing
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from bench.systems import WORKERS, lifecycle_script, random_durations

MB = 10**6


@dataclass(frozen=True)
class Workload:
    name: str
    unit: str  # "s" (lower is better), "ops/s" (higher is better), "x" or "MB" (lower)
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


def throughput(n: int, repeats: int) -> Callable[[Any], list[float]]:
    return lambda s: [n / timed(lambda: s.submit_many(n)) for _ in range(repeats)]


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


def small_put_get(system: Any, n: int = 10_000, repeats: int = 3) -> list[float]:
    put, get = system.put, system.get
    return [n / timed(lambda: [get(put(i)) for i in range(n)]) for _ in range(repeats)]


def fan_out(system: Any, repeats: int = 5) -> list[float]:
    array = np.ones(200 * MB // 8)
    handle = system.put(array) if hasattr(system, "put") else array
    system.fan_out(handle, 20)  # warm
    return [timed(lambda: system.fan_out(handle, 20)) for _ in range(repeats)]


def nested(system: Any, repeats: int = 20) -> list[float]:
    system.nested(10)  # warm
    return [timed(lambda: system.nested(10)) for _ in range(repeats)]


def ideal_makespan(durations: list[float], workers: int = WORKERS) -> float:
    """The time WORKERS workers need for the tasks, taken in order by whichever is free."""
    free_at = [0.0] * workers
    for duration in durations:
        heapq.heappush(free_at, heapq.heappop(free_at) + duration)
    return max(free_at)


def wait_stream(system: Any, repeats: int = 3) -> list[float]:
    """200 tasks of random length consumed one at a time as they finish: time / ideal."""
    durations = random_durations()
    ideal = ideal_makespan(durations)
    return [timed(lambda: system.wait_stream(durations)) / ideal for _ in range(repeats)]


def workloads() -> list[Workload]:
    def median_round_trip(call: str) -> Callable[[Any], list[float]]:
        return lambda s: [statistics.median(r) for r in round_trips(s, getattr(s, call))]

    return [
        Workload("no-op round trip, median", "s", median_round_trip("round_trip")),
        Workload(
            "no-op round trip, p99",
            "s",
            lambda s: [sorted(r)[int(len(r) * 0.99) - 1] for r in round_trips(s)],
        ),
        Workload("10k no-op tasks", "ops/s", throughput(10_000, repeats=3)),
        Workload("100k no-op tasks", "ops/s", throughput(100_000, repeats=1)),
        Workload("wait-stream, time / ideal", "x", wait_stream),
        Workload("task with 10 subtasks", "s", nested),
        Workload("actor call round trip, median", "s", median_round_trip("actor_round_trip")),
        Workload(
            "10k actor calls",
            "ops/s",
            lambda s: [10_000 / timed(lambda: s.actor_calls(10_000)) for _ in range(3)],
        ),
        Workload("10k small put+get", "ops/s", small_put_get),
        *put_get(100 * MB),
        *put_get(1000 * MB),
        Workload("200 MB array to 20 tasks", "s", fan_out),
    ]


# ---- a system's whole life, in a fresh process --------------------------------------------------


def lifecycle(name: str, repeats: int = 5) -> dict[str, list[float]]:
    """Cold start to first result, idle memory of the whole process tree, shutdown time."""
    starts, memory, stops = [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", lifecycle_script(name)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None and process.stdout is not None
        assert process.stdout.readline().strip() == "started", f"{name} did not start"
        starts.append(time.perf_counter() - started)
        time.sleep(1.0)  # let it settle into idle before measuring its memory
        memory.append(tree_rss(process.pid) / MB)
        stopping = time.perf_counter()
        process.stdin.write("\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "stopped", f"{name} did not stop"
        stops.append(time.perf_counter() - stopping)
        process.wait()
    return {
        "cold start to first result": starts,
        "idle memory, process tree": memory,
        "shutdown": stops,
    }


LIFECYCLE_UNITS = {
    "cold start to first result": "s",
    "idle memory, process tree": "MB",
    "shutdown": "s",
}


def tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):  # ended meanwhile
            total += process.memory_info().rss
    return total


# ---- the machine's limits ---------------------------------------------------------------------


def memcpy_1gb(repeats: int = 5) -> list[float]:
    source = np.ones(1000 * MB // 8)
    target = np.empty_like(source)
    np.copyto(target, source)  # touch the pages once
    return [timed(lambda: np.copyto(target, source)) for _ in range(repeats)]


def _echo(connection: Any) -> None:
    while (message := connection.recv_bytes()) != b"stop":
        connection.send_bytes(message)


def pipe_round_trip(n: int = 5000, repeats: int = 5) -> list[float]:
    """A small message to another Python process and back, over a pipe."""
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.Process(target=_echo, args=(theirs,))
    child.start()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        ours.send_bytes(b"x" * 64)
        ours.recv_bytes()
        samples.append(time.perf_counter() - started)
    ours.send_bytes(b"stop")
    child.join()
    return [statistics.median(samples[i::repeats]) for i in range(repeats)]


MACHINE_LIMITS = {
    "memcpy 1 GB": memcpy_1gb,
    "raw pipe round trip (2 Python processes)": pipe_round_trip,
}
