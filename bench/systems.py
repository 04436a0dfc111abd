"""The systems compared, behind one small adapter each. An operation a system lacks (Pool has
no object store, IPython Parallel no actors) is simply not defined: its workload is skipped.

Every system gets WORKERS worker processes.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable
from typing import Any

WORKERS = 2


def noop(*_: Any) -> None:
    return None


def last_element(array: Any) -> float:
    return float(array[-1])


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


class Echo:
    def noop(self) -> None:
        return None


def ray_like_parent(module_name: str, children: int) -> int:
    """A task that submits `children` no-op subtasks and waits for them."""
    import importlib

    module = importlib.import_module(module_name)
    child = module.remote(noop)
    return len(module.get([child.remote() for _ in range(children)]))


class RayLike:
    """nbray and Ray share an API: one adapter serves both."""

    def __init__(self, module: Any, **init: Any) -> None:
        self.module = module
        module.init(num_cpus=WORKERS, **init)
        self.noop = module.remote(noop)
        self.last = module.remote(last_element)
        self.sleep = module.remote(sleep_for)
        self.parent = module.remote(ray_like_parent)
        self.actor = module.remote(Echo).remote()
        module.get([self.noop.remote() for _ in range(100)])  # workers up and warm
        module.get([self.actor.noop.remote() for _ in range(100)])

    def round_trip(self) -> None:
        self.module.get(self.noop.remote())

    def submit_many(self, n: int) -> None:
        self.module.get([self.noop.remote() for _ in range(n)])

    def actor_round_trip(self) -> None:
        self.module.get(self.actor.noop.remote())

    def actor_calls(self, n: int) -> None:
        self.module.get([self.actor.noop.remote() for _ in range(n)])

    def put(self, value: Any) -> Any:
        return self.module.put(value)

    def get(self, ref: Any) -> Any:
        return self.module.get(ref)

    def fan_out(self, ref: Any, n: int) -> None:
        self.module.get([self.last.remote(ref) for _ in range(n)])

    def nested(self, children: int) -> None:
        self.module.get(self.parent.remote(self.module.__name__, children))

    def wait_stream(self, durations: list[float]) -> None:
        remaining = [self.sleep.remote(d) for d in durations]
        while remaining:
            (done,), remaining = self.module.wait(remaining, num_returns=1)
            self.module.get(done)

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

    def wait_stream(self, durations: list[float]) -> None:
        for _ in self.pool.imap_unordered(sleep_for, durations):
            pass

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


class DaskSystem:
    """dask.distributed on a LocalCluster of single-threaded worker processes."""

    def __init__(self) -> None:
        from distributed import Client, LocalCluster

        self.cluster = LocalCluster(
            n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
        )
        self.client = Client(self.cluster)
        self.actor = self.client.submit(Echo, actor=True).result()
        self.submit_many(100)

    def round_trip(self) -> None:
        self.client.submit(noop, pure=False).result()

    def submit_many(self, n: int) -> None:
        self.client.gather(self.client.map(noop, range(n), pure=False))

    def actor_round_trip(self) -> None:
        self.actor.noop().result()

    def actor_calls(self, n: int) -> None:
        for future in [self.actor.noop() for _ in range(n)]:
            future.result()

    def put(self, value: Any) -> Any:
        return self.client.scatter(value)

    def get(self, future: Any) -> Any:
        return future.result()

    def fan_out(self, future: Any, n: int) -> None:
        self.client.gather([self.client.submit(last_element, future, pure=False) for _ in range(n)])

    def nested(self, children: int) -> None:
        self.client.submit(dask_parent, children, pure=False).result()

    def wait_stream(self, durations: list[float]) -> None:
        from distributed import as_completed

        for future in as_completed(
            [self.client.submit(sleep_for, d, pure=False) for d in durations]
        ):
            future.result()

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


def dask_parent(children: int) -> int:
    from distributed import worker_client

    with worker_client() as client:
        return len(client.gather(client.map(noop, range(children), pure=False)))


class IPyParallelSystem:
    """IPython Parallel: a controller and WORKERS engines; a load-balanced view for tasks."""

    def __init__(self) -> None:
        import ipyparallel

        self.cluster = ipyparallel.Cluster(n=WORKERS, log_level=40)
        self.client = self.cluster.start_and_connect_sync()
        self.client.wait_for_engines(WORKERS, timeout=120)
        self.view = self.client.load_balanced_view()
        self.submit_many(100)

    def round_trip(self) -> None:
        self.view.apply_sync(noop)

    def submit_many(self, n: int) -> None:
        for result in [self.view.apply_async(noop) for _ in range(n)]:
            result.get()

    def fan_out(self, value: Any, n: int) -> None:
        self.view.map_sync(last_element, [value] * n)

    def wait_stream(self, durations: list[float]) -> None:
        for _ in self.view.map_async(sleep_for, durations, ordered=False):
            pass

    def close(self) -> None:
        self.client.close()
        self.cluster.stop_cluster_sync()


def start_nbray() -> RayLike:
    import nbray

    return RayLike(nbray)


def start_ray() -> RayLike:
    import ray

    return RayLike(ray, include_dashboard=False, log_to_driver=False)


SYSTEMS: dict[str, tuple[str, Callable[[], Any]]] = {  # name: (module it needs, start)
    "nbray": ("nbray", start_nbray),
    "ray": ("ray", start_ray),
    "dask": ("distributed", DaskSystem),
    "ipyparallel": ("ipyparallel", IPyParallelSystem),
    "multiprocessing.Pool": ("multiprocessing", PoolSystem),
}

# A fresh process to the first result, then (on request) shutdown: (start code, stop code).
LIFECYCLE = {
    "nbray": (
        "import nbray as m\nm.init(num_cpus={w})\nm.get(m.remote(lambda: 1).remote())",
        "m.shutdown()",
    ),
    "ray": (
        "import ray as m\nm.init(num_cpus={w}, include_dashboard=False)\n"
        "m.get(m.remote(lambda: 1).remote())",  # Ray refuses builtins
        "m.shutdown()",
    ),
    "dask": (
        "from distributed import Client, LocalCluster\n"
        "cluster = LocalCluster(n_workers={w}, threads_per_worker=1, dashboard_address=None)\n"
        "client = Client(cluster)\nclient.submit(abs, -1).result()",
        "client.close()\ncluster.close()",
    ),
    "ipyparallel": (
        "import ipyparallel\ncluster = ipyparallel.Cluster(n={w}, log_level=40)\n"
        "rc = cluster.start_and_connect_sync()\nrc.wait_for_engines({w}, timeout=120)\n"
        "rc.load_balanced_view().apply_sync(abs, -1)",
        "rc.close()\ncluster.stop_cluster_sync()",
    ),
    "multiprocessing.Pool": (
        "import multiprocessing\npool = multiprocessing.Pool({w})\npool.apply(abs, (1,))",
        "pool.terminate()\npool.join()",
    ),
}


def lifecycle_script(name: str) -> str:
    """A script that starts `name`, says "started", waits for a line, stops, says "stopped"."""
    start, stop = (code.format(w=WORKERS) for code in LIFECYCLE[name])
    indent = lambda code: "\n".join("    " + line for line in code.splitlines())  # noqa: E731
    return (
        "import sys\n\ndef main():\n"
        f"{indent(start)}\n    print('started', flush=True)\n    sys.stdin.readline()\n"
        f"{indent(stop)}\n    print('stopped', flush=True)\n\n"
        "if __name__ == '__main__':\n    main()\n"
    )


def random_durations(n: int = 200, seed: int = 0) -> list[float]:
    """Task lengths for the wait-stream workload: 0-40 ms, the same in every run."""
    rng = random.Random(seed)
    return [rng.uniform(0.0, 0.04) for _ in range(n)]
