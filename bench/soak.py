"""A soak: a long run of ordinary work, checking that what the runtime holds stays flat.

    .venv/bin/python -m bench.soak                     # 100k tasks, 1,000 actors, 5 GB
    .venv/bin/python -m bench.soak --scale 0.1         # a tenth of each

Phases, each in rounds: no-op tasks in batches; actors created, called and dropped; large arrays
put and passed through a store much smaller than their total (so most are spilled and restored).
After every round it samples the RSS of the driver and its workers, the driver's open
descriptors and threads, and the store's bytes in use; a leak shows as a column that keeps
growing. The last line compares the final sample with the first after warm-up: the growth
ratios, which should stay near 1.
"""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time
from typing import Any

import numpy as np
import psutil

import nbray

STORE = 512 << 20


@nbray.remote
def noop() -> None:
    return None


@nbray.remote
def total(array: np.ndarray) -> float:
    return float(array[::4096].sum())


@nbray.remote
class Counter:
    def __init__(self) -> None:
        self.count = 0

    def add(self) -> int:
        self.count += 1
        return self.count


def sample(label: str) -> dict[str, Any]:
    gc.collect()
    nbray.events.snapshot()  # a round trip: released refs are handled
    driver = psutil.Process()
    workers = driver.children(recursive=True)
    rss = driver.memory_info().rss + sum(_rss(w) for w in workers)
    backend = nbray.api.current_backend()
    return {
        "phase": label,
        "rss_mb": rss / 2**20,
        "workers": len(workers),
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "store_used_mb": backend.store.usage()[0] / 2**20,
        "spilled_mb": backend.store.spilled_bytes / 2**20,
    }


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.Error:
        return 0


def tasks(count: int, batch: int = 2_000) -> None:
    for start in range(0, count, batch):
        nbray.get([noop.remote() for _ in range(min(batch, count - start))])


def actors(count: int, batch: int = 50) -> None:
    for start in range(0, count, batch):
        made = [Counter.remote() for _ in range(min(batch, count - start))]
        assert nbray.get([a.add.remote() for a in made]) == [1] * len(made)
        del made  # dropped: each actor ends with its last handle


def arrays(gigabytes: float, megabytes: int = 64) -> None:
    rounds = int(gigabytes * 1024 / megabytes)
    refs = []
    for index in range(rounds):
        refs.append(nbray.put(np.full(megabytes << 17, float(index))))  # megabytes MiB of f8
        if len(refs) >= 2 * STORE // (megabytes << 20):  # twice the store: half spilled
            nbray.get([total.remote(r) for r in refs[:4]])  # read some back (restored)
            refs = refs[len(refs) // 2 :]
    del refs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="of 100k tasks, 1k actors, 5 GB")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    nbray.init(num_cpus=2, object_store_memory=STORE)
    started = time.perf_counter()
    samples = [sample("start")]
    per_round = options.scale / options.rounds
    for round_ in range(1, options.rounds + 1):
        tasks(int(100_000 * per_round))
        actors(int(1_000 * per_round))
        arrays(5 * per_round)
        samples.append(sample(f"round {round_}"))
    keys = ["rss_mb", "workers", "fds", "threads", "store_used_mb", "spilled_mb"]
    print(f"{'phase':<10}" + "".join(f"{k:>15}" for k in keys))
    for row in samples:
        print(f"{row['phase']:<10}" + "".join(f"{row[k]:>15.1f}" for k in keys))
    first, last = samples[1], samples[-1]  # after one round of warm-up
    growth = {k: last[k] / first[k] for k in ("rss_mb", "fds", "threads") if first[k]}
    print(
        f"{time.perf_counter() - started:.0f} s; growth from round 1 to {options.rounds}: "
        + ", ".join(f"{k} x{v:.2f}" for k, v in growth.items())
    )
    nbray.shutdown()


if __name__ == "__main__":
    main()
