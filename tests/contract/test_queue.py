"""`nbray.util.queue.Queue`, as Ray's `ray.util.queue.Queue`, on every backend."""

from __future__ import annotations

import queue
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nbray
from nbray.util.queue import Empty, Full, Queue


@nbray.remote
def produce(q: Queue, items: list[int]) -> int:
    for item in items:
        q.put(item)
    return len(items)


@nbray.remote
class Consumer:
    def take(self, q: Queue, count: int) -> list[int]:
        return [q.get(timeout=60) for _ in range(count)]


def test_put_and_get_in_order_with_sizes(ray: Any) -> None:
    q = Queue(maxsize=3)
    assert q.empty() and not q.full() and q.qsize() == len(q) == q.size() == 0
    for item in (1, 2, 3):
        q.put(item)
    assert q.full() and q.qsize() == 3
    assert [q.get(), q.get_nowait(), q.get(block=False)] == [1, 2, 3]
    assert q.empty()


def test_nowait_and_timeouts_raise_empty_and_full(ray: Any) -> None:
    q = Queue(maxsize=1)
    with pytest.raises(Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):  # the standard library's, as in Ray
        q.get(timeout=0.01)
    q.put_nowait("x")
    with pytest.raises(Full):
        q.put_nowait("y")
    with pytest.raises(queue.Full):
        q.put("y", timeout=0.01)
    with pytest.raises(ValueError, match="non-negative"):
        q.put("y", timeout=-1)
    assert q.get() == "x"


def test_batches_are_all_or_nothing(ray: Any) -> None:
    q = Queue(maxsize=4)
    q.put_nowait_batch([1, 2, 3])
    with pytest.raises(Full, match="Cannot add 2 items"):
        q.put_nowait_batch([4, 5])
    assert q.qsize() == 3
    with pytest.raises(Empty, match="Cannot get 4 items"):
        q.get_nowait_batch(4)
    assert q.get_nowait_batch(2) == [1, 2]
    assert q.get_nowait_batch(1) == [3]


def test_a_queue_travels_to_tasks_and_actors(ray: Any) -> None:
    q = Queue()
    assert ray.get(produce.remote(q, [1, 2, 3])) == 3
    assert ray.get(Consumer.remote().take.remote(q, 3)) == [1, 2, 3]


def test_a_consumer_waits_for_a_producer(local_ray: Any) -> None:
    q = Queue(maxsize=2)  # the producer blocks on a full queue while the consumer drains it
    taken = Consumer.remote().take.remote(q, 5)
    assert nbray.get(produce.remote(q, [1, 2, 3, 4, 5]), timeout=60) == 5
    assert nbray.get(taken, timeout=60) == [1, 2, 3, 4, 5]


def test_shutdown_ends_the_queue(ray: Any) -> None:
    q = Queue()
    q.put(1)
    q.shutdown()
    with pytest.raises(AttributeError):
        q.put(2)


def test_the_example_runs() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "util" / "shared_queue.py"
    done = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4950"]
