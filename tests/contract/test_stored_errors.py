"""A stored error is raised as a new object by every `get`: it never keeps the caller's frames
(and the values they hold) alive, and raising it again does not grow its traceback."""

from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any

import numpy as np
import pytest

import nbray
from nbray.exceptions import RayTaskError, WorkerCrashedError
from tests.contract.test_ownership import Frees


@nbray.remote
def interrupted() -> None:
    raise KeyboardInterrupt("stop")


@nbray.remote
def broken() -> None:
    raise ValueError("broken")


def test_raising_a_stored_error_again_does_not_grow_it(ray: Any) -> None:
    for task in (interrupted, broken):
        ref = task.remote()
        raised = []
        for _ in range(3):
            with pytest.raises(RayTaskError) as info:
                ray.get(ref)
            raised.append(info.value)
        depths = [len(traceback.extract_tb(e.__traceback__)) for e in raised]
        assert depths[0] == depths[-1], depths
        assert raised[0] is not raised[1]


@nbray.remote(max_retries=0)
def crashes() -> None:
    os._exit(3)


def test_a_failed_get_keeps_none_of_the_objects_it_was_given(local_ray: Any) -> None:
    frees = Frees()
    big = nbray.put(np.zeros(1 << 20))
    failed = crashes.remote()  # a runtime's error (not the task's own): stored as it is
    for _ in range(2):
        with pytest.raises(WorkerCrashedError):
            nbray.get([big, failed])
    big_id = big.id
    del big
    assert frees.wait_freed(big_id)
    frees.unsubscribe()


# ---- a task's exception is unpickled by the caller that fetches it, not by the runtime ---------

_gate = threading.Event()  # in the driver: held shut while a slow unpickling must not stall others


def _unpickle_slowly(message: str) -> Exception:
    assert _gate.wait(60), "the gate was never opened"
    return ValueError(message)


class SlowToUnpickle(Exception):
    def __reduce__(self) -> tuple[Any, ...]:
        return _unpickle_slowly, ("slow",)


class ExitsWhenUnpickled(Exception):
    def __reduce__(self) -> tuple[Any, ...]:
        return sys.exit, (4,)


@nbray.remote
def raise_(error: type[Exception]) -> None:
    raise error()


@nbray.remote
def one() -> int:
    return 1


def test_an_exception_slow_to_unpickle_stalls_no_other_task(ray: Any) -> None:
    _gate.clear()
    slow = raise_.remote(SlowToUnpickle)
    nbray.wait([slow], timeout=60)  # it failed; nobody has unpickled its exception yet
    assert ray.get([one.remote() for _ in range(4)], timeout=30) == [1] * 4
    _gate.set()
    with pytest.raises(ValueError, match="slow"):
        ray.get(slow)


def test_an_exception_that_exits_when_unpickled_is_an_error_not_an_exit(ray: Any) -> None:
    ref = raise_.remote(ExitsWhenUnpickled)
    with pytest.raises(RayTaskError, match=r"ExitsWhenUnpickled.*could not be unpickled"):
        ray.get(ref)
    assert isinstance(ref.exception(), RayTaskError)
    assert ray.get(one.remote()) == 1  # the runtime lives on


class HeavyError(Exception):
    def __init__(self, payload: bytes) -> None:
        super().__init__("heavy")
        self.payload = payload


@nbray.remote(max_retries=0)
def raise_heavy(megabytes: int) -> None:
    raise HeavyError(b"x" * (megabytes << 20))


def test_a_large_exception_travels_through_the_store_and_leaves_it_empty(local_ray: Any) -> None:
    ref = raise_heavy.remote(50)
    with pytest.raises(HeavyError) as info:
        nbray.get(ref)
    assert len(info.value.payload) == 50 << 20
    assert nbray.api.current_backend().store.usage()[0] == 0  # its block was copied, and freed
