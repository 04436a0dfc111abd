"""`nbray.util.ActorPool`, as Ray's `ray.util.ActorPool`, on every backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nbray
from nbray.exceptions import GetTimeoutError
from nbray.util import ActorPool


@nbray.remote
class Doubler:
    def double(self, value: int) -> int:
        if value < 0:
            raise ValueError(f"negative: {value}")
        return 2 * value

    def both(self, value: int) -> list[Any]:
        return [value, -value]

    def wait_at(self, fifo: str) -> str:
        with open(fifo) as gate:  # blocks until the test opens the FIFO for writing
            return gate.read()


def double(actor: Any, value: int) -> Any:
    return actor.double.remote(value)


def test_map_gives_results_in_order_and_map_unordered_all_of_them(ray: Any) -> None:
    pool = ActorPool([Doubler.remote(), Doubler.remote()])
    assert list(pool.map(double, [1, 2, 3, 4, 5])) == [2, 4, 6, 8, 10]  # 5 values, 2 actors
    assert sorted(pool.map_unordered(double, range(7))) == [0, 2, 4, 6, 8, 10, 12]
    assert not pool.has_next()


def test_submit_and_get_next_in_submission_order(ray: Any) -> None:
    pool = ActorPool([Doubler.remote()])
    for value in (3, 1, 2):
        pool.submit(double, value)
    assert not pool.has_free()  # the one actor is busy, and two submissions wait
    assert [pool.get_next(), pool.get_next(), pool.get_next()] == [6, 2, 4]
    assert not pool.has_next()
    with pytest.raises(StopIteration):
        pool.get_next()
    with pytest.raises(StopIteration):
        pool.get_next_unordered()


def test_a_list_of_refs_per_call_and_unordered_then_ordered(ray: Any) -> None:
    pool = ActorPool([Doubler.remote(), Doubler.remote()])
    pool.submit(lambda actor, v: actor.both.options(num_returns=2).remote(v), 5)
    assert pool.get_next() == [5, -5]
    pool.submit(double, 1)
    pool.submit(double, 2)
    taken = pool.get_next_unordered()
    assert taken in (2, 4)
    if taken == 2:  # the first submission was taken: the second is next in order
        assert pool.get_next() == 4
    else:
        with pytest.raises(ValueError, match="get_next_unordered"):
            pool.get_next()
        assert pool.get_next_unordered() == 2


def test_a_failed_call_raises_its_error_and_the_actor_stays_in_the_pool(ray: Any) -> None:
    pool = ActorPool([Doubler.remote()])
    pool.submit(double, -1)
    pool.submit(double, 4)
    with pytest.raises(ValueError, match="negative: -1"):
        pool.get_next()
    assert pool.get_next() == 8
    assert pool.has_free()


def test_idle_actors_can_be_taken_out_and_put_back(ray: Any) -> None:
    first, second = Doubler.remote(), Doubler.remote()
    pool = ActorPool([first])
    assert pool.has_free()
    taken = pool.pop_idle()
    assert taken is first and not pool.has_free() and pool.pop_idle() is None
    pool.submit(double, 1)  # waits: no actor
    pool.push(second)  # takes the waiting submission at once
    assert pool.get_next() == 2
    pool.push(first)
    with pytest.raises(ValueError, match="already belongs"):
        pool.push(first)
    assert sorted(pool.map_unordered(double, [1, 2])) == [2, 4]


def test_get_next_times_out_and_can_ignore_what_timed_out(local_ray: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    pool = ActorPool([Doubler.remote(), Doubler.remote()])
    pool.submit(lambda actor, f: actor.wait_at.remote(f), str(fifo))
    pool.submit(double, 21)
    with pytest.raises(TimeoutError):  # a GetTimeoutError: also Python's TimeoutError
        pool.get_next(timeout=0.05)
    with pytest.raises(GetTimeoutError, match="ignored"):
        pool.get_next(timeout=0.05, ignore_if_timedout=True)
    assert pool.get_next() == 42  # the blocked one was dropped
    with open(fifo, "w") as gate:
        gate.write("go")
    assert not pool.has_next()


def test_the_example_runs() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "util" / "actor_pool.py"
    done = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str([0, 1, 2, 3, 4, 5, 6, 7])] * 2
