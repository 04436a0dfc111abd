"""`Queue`: a FIFO queue shared by tasks and actors, held by an actor (Ray's `ray.util.queue`).

The queue lives in an async actor, so a blocked `get` or `put` waits inside it without holding a
worker or stopping other calls; a `Queue` pickles as a handle to that actor, so it can be passed
to tasks and actors. `Empty` and `Full` are the standard library's exceptions, subclassed.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterable
from typing import Any

from nbray import api
from nbray.actor import ActorClass


class Empty(queue.Empty):
    pass


class Full(queue.Full):
    pass


class _QueueActor:
    """Every method is async: they all run on the actor's event loop, the asyncio.Queue's."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)

    async def qsize(self) -> int:
        return self.queue.qsize()

    async def put(self, item: Any, timeout: float | None) -> None:
        try:
            if timeout == 0:  # (wait_for with 0 gives up before even trying)
                self.queue.put_nowait(item)
            else:
                await asyncio.wait_for(self.queue.put(item), timeout)
        except (asyncio.TimeoutError, asyncio.QueueFull):
            raise Full(f"The queue is full (maxsize {self.maxsize}).") from None

    async def get(self, timeout: float | None) -> Any:
        try:
            if timeout == 0:
                return self.queue.get_nowait()
            return await asyncio.wait_for(self.queue.get(), timeout)
        except (asyncio.TimeoutError, asyncio.QueueEmpty):
            raise Empty("The queue is empty.") from None

    async def put_nowait_batch(self, items: list[Any]) -> None:
        if self.maxsize > 0 and len(items) + self.queue.qsize() > self.maxsize:
            raise Full(
                f"Cannot add {len(items)} items to a queue of size {self.queue.qsize()} and "
                f"maxsize {self.maxsize}."
            )
        for item in items:
            self.queue.put_nowait(item)

    async def get_nowait_batch(self, count: int) -> list[Any]:
        if count > self.queue.qsize():
            raise Empty(f"Cannot get {count} items from a queue of size {self.queue.qsize()}.")
        return [self.queue.get_nowait() for _ in range(count)]


_actor_class: ActorClass | None = None


def _queue_actor() -> ActorClass:
    global _actor_class
    if _actor_class is None:
        _actor_class = api.remote(num_cpus=0)(_QueueActor)
    return _actor_class


class Queue:
    def __init__(self, maxsize: int = 0, actor_options: dict[str, Any] | None = None) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError(f"maxsize must be an integer, got {maxsize!r}.")
        self.maxsize = maxsize
        self.actor: Any = _queue_actor().options(**(actor_options or {})).remote(maxsize)

    def __len__(self) -> int:
        return self.size()

    def size(self) -> int:
        return self.qsize()

    def qsize(self) -> int:
        count: int = api.get(self.actor.qsize.remote())
        return count

    def empty(self) -> bool:
        return self.qsize() == 0

    def full(self) -> bool:
        return 0 < self.maxsize <= self.qsize()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Add an item, waiting (up to `timeout` s) for room if `block`; Full if there is none."""
        self._call(self.actor.put, item, _wait(block, timeout))

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Take the oldest item, waiting (up to `timeout` s) for one if `block`; Empty if none."""
        return self._call(self.actor.get, _wait(block, timeout))

    def put_nowait(self, item: Any) -> None:
        self.put(item, block=False)

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def put_nowait_batch(self, items: Iterable[Any]) -> None:
        """Add all the items, or none if they do not all fit (Full)."""
        self._call(self.actor.put_nowait_batch, list(items))

    def get_nowait_batch(self, num_items: int) -> list[Any]:
        """Take `num_items` items, or none if there are fewer (Empty)."""
        if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 0:
            raise ValueError(f"num_items must be an integer >= 0, got {num_items!r}.")
        items: list[Any] = self._call(self.actor.get_nowait_batch, num_items)
        return items

    def shutdown(self, force: bool = False, grace_period_s: int = 5) -> None:
        """End the queue's actor (what it holds is dropped)."""
        if self.actor is not None:
            api.kill(self.actor)
        self.actor = None

    @staticmethod
    def _call(method: Any, *args: Any) -> Any:
        try:
            return api.get(method.remote(*args))
        except Empty as error:  # the actor's, typed as a task error: plainly, as queue.Queue
            raise Empty(str(error.args[0]) if error.args else "") from None
        except Full as error:
            raise Full(str(error.args[0]) if error.args else "") from None


def _wait(block: bool, timeout: float | None) -> float | None:
    """How long the actor waits: 0 for a non-blocking call."""
    if not block:
        return 0
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
        raise ValueError(f"'timeout' must be a non-negative number, got {timeout!r}.")
    return timeout


__all__ = ["Empty", "Full", "Queue"]
