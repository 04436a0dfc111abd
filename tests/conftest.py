"""Shared fixtures: a runtime per test on each backend, and a check that nothing leaks."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest

import nbray

BACKENDS = ["local", "inline"]


def _children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """After every test: the runtime is shut down and no worker process is left behind."""
    yield
    nbray.shutdown()
    _gone, alive = psutil.wait_procs(_children(), timeout=5)
    assert not alive, f"processes left behind: {alive}"


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
