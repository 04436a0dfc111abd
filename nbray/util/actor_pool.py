"""`ActorPool`: a fixed set of actors, each given one value at a time (Ray's `ray.util.ActorPool`).

`submit(fn, value)` calls `fn(actor, value)` (which returns a ref, or a list of refs) on an idle
actor, or keeps the pair until one is free; `get_next` returns results in submission order,
`get_next_unordered` in completion order. `map` and `map_unordered` drain anything still pending
first, then stream the results of `fn` over the values. Results of a timed-out call that was
told to be ignored are dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from nbray import api
from nbray.exceptions import GetTimeoutError

Submit = Callable[[Any, Any], Any]  # (actor, value) -> a ref, or a list of refs


class ActorPool:
    def __init__(self, actors: Iterable[Any]) -> None:
        self._idle: list[Any] = list(actors)
        self._busy: dict[int, tuple[Any, Any]] = {}  # submission index -> (refs, actor)
        self._pending: deque[tuple[Submit, Any]] = deque()  # waiting for an idle actor
        self._next_index = 0  # of the next submission
        self._next_ordered = 0  # the submission get_next returns next

    # ---- submitting ----------------------------------------------------------------------

    def submit(self, fn: Submit, value: Any) -> None:
        """Run `fn(actor, value)` on an idle actor, or as soon as one is free."""
        if not self._idle:
            self._pending.append((fn, value))
            return
        actor = self._idle.pop()
        self._busy[self._next_index] = (fn(actor, value), actor)
        self._next_index += 1

    def map(self, fn: Submit, values: Iterable[Any]) -> Iterator[Any]:
        """The results of `fn(actor, value)` for every value, in the values' order."""
        self._drop_everything_pending()
        for value in values:
            self.submit(fn, value)
        return self._results(self.get_next)

    def map_unordered(self, fn: Submit, values: Iterable[Any]) -> Iterator[Any]:
        """The same results, each as soon as it is ready."""
        self._drop_everything_pending()
        for value in values:
            self.submit(fn, value)
        return self._results(self.get_next_unordered)

    # ---- results -------------------------------------------------------------------------

    def has_next(self) -> bool:
        """Whether a result is still to be taken."""
        return bool(self._busy)

    def get_next(self, timeout: float | None = None, ignore_if_timedout: bool = False) -> Any:
        """The result of the oldest submission not yet taken. With `timeout`, TimeoutError if it
        is not ready by then (and, with `ignore_if_timedout`, that submission is dropped)."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        if self._next_ordered not in self._busy:
            raise ValueError("get_next() cannot follow get_next_unordered() on the same pool.")
        index = self._next_ordered
        refs, _ = self._busy[index]
        ready = timeout is None or bool(api.wait(_as_list(refs), timeout=timeout)[0])
        if not ready and not ignore_if_timedout:
            raise GetTimeoutError(f"Timed out waiting for result {index} of the pool.")
        self._next_ordered += 1
        self._take(index)
        if not ready:
            raise GetTimeoutError(f"Timed out waiting for result {index}; it is ignored.")
        return api.get(refs)

    def get_next_unordered(
        self, timeout: float | None = None, ignore_if_timedout: bool = False
    ) -> Any:
        """The result of whichever submission finishes first. With `timeout`, TimeoutError if
        none is ready by then."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        by_head = {_as_list(refs)[0]: index for index, (refs, _) in self._busy.items()}
        ready, _ = api.wait(list(by_head), num_returns=1, timeout=timeout)
        if not ready:
            raise GetTimeoutError("Timed out waiting for a result of the pool.")
        index = by_head[ready[0]]
        refs = self._busy[index][0]
        self._take(index)
        self._next_ordered = max(self._next_ordered, index + 1)
        return api.get(refs)

    # ---- the actors ----------------------------------------------------------------------

    def has_free(self) -> bool:
        """Whether an actor is idle (and no submission waits for one)."""
        return bool(self._idle) and not self._pending

    def pop_idle(self) -> Any | None:
        """Take an idle actor out of the pool; None if none is free."""
        return self._idle.pop() if self.has_free() else None

    def push(self, actor: Any) -> None:
        """Add an actor to the pool (it then takes the oldest waiting submission, if any)."""
        if actor in self._idle or any(actor == a for _, a in self._busy.values()):
            raise ValueError("Actor already belongs to current ActorPool")
        self._return(actor)

    # ---- helpers -------------------------------------------------------------------------

    def _take(self, index: int) -> None:
        _, actor = self._busy.pop(index)
        self._return(actor)

    def _return(self, actor: Any) -> None:
        self._idle.append(actor)
        if self._pending:
            self.submit(*self._pending.popleft())

    def _drop_everything_pending(self) -> None:
        """What earlier submissions left untaken is dropped, as in Ray's `map`."""
        self._pending.clear()
        while self._busy:
            self._take(min(self._busy))
        self._next_ordered = self._next_index

    def _results(self, take: Callable[[], Any]) -> Iterator[Any]:
        while self.has_next():
            yield take()


def _as_list(refs: Any) -> list[Any]:
    return list(refs) if isinstance(refs, (list, tuple)) else [refs]
