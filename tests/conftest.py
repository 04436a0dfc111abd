"""Shared fixtures: a runtime per test on each backend, and a guard that nothing leaks."""

from __future__ import annotations

import gc
import os
import threading
from collections import Counter
from collections.abc import Iterator

import psutil
import pytest

import nbray
from nbray import _current

BACKENDS = ["local", "inline"]


def _children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def _descriptor_kinds() -> Counter[str]:
    """This process's open descriptors of the kinds a runtime makes, by kind."""
    kinds: Counter[str] = Counter()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listing's own, closed meanwhile
        kind = target.split(":", 1)[0] if ":" in target else "file"
        if "nbray" in target or kind in ("socket", "pipe", "anon_inode"):
            kinds[f"{kind}:{target.split(':', 1)[-1] if kind == 'anon_inode' else ''}"] += 1
    return kinds


def _nbray_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("nbray")]


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Around every test, as Dask's check_process_leak / check_fd_leak / check_thread_leak: the
    runtime holds no store bytes once the test's refs are gone, and after shutdown no worker
    process, no descriptor of the runtime's kinds and no nbray thread is left."""
    descriptors = _descriptor_kinds()
    yield
    backend = _current.backend
    if backend is not None and backend.failure is None and hasattr(backend, "store"):
        gc.collect()  # the test's own refs are gone
        nbray.events.snapshot()  # (a round trip: the runtime has handled their release)
        used = backend.store.usage()[0]
        assert used == 0, f"{used:,} bytes of the store are still held after the test"
    nbray.shutdown()
    _gone, alive = psutil.wait_procs(_children(), timeout=5)
    assert not alive, f"processes left behind: {alive}"
    for thread in _nbray_threads():
        thread.join(timeout=10)  # one told to stop may still be on its way out
    assert not _nbray_threads(), f"threads left behind: {_nbray_threads()}"
    leaked = _descriptor_kinds() - descriptors
    assert not leaked, f"descriptors left behind: {dict(leaked)}"


@pytest.fixture(params=BACKENDS)
def ray(request: pytest.FixtureRequest) -> Iterator[object]:
    """nbray, initialised with 2 CPUs on the backend under test."""
    nbray.init(num_cpus=2, local_mode=request.param == "inline")
    yield nbray
    nbray.shutdown()


@pytest.fixture
def local_ray() -> Iterator[object]:
    """nbray on the local (multi-process) backend only: for what needs real concurrency."""
    nbray.init(num_cpus=2)
    yield nbray
    nbray.shutdown()
