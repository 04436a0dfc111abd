"""`ObjectRef`: the name of a value in the object store, like a future.

Every live `ObjectRef` counts as a hold on its object in the process that has it. The ref that
`.remote()` or `put` returns is counted by the runtime when it creates the object; a ref rebuilt
by unpickling tells this process's `RefTracker` on arrival. Either tells the tracker when it is
garbage collected; trackers only enqueue, so that is safe in `__del__` on any thread.
"""

from __future__ import annotations

import enum
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, Protocol, TypeVar

from nbray import _current
from nbray.core.ids import ObjectId, TaskId, format_id
from nbray.serialization import record_contained_ref

if TYPE_CHECKING:  # a worker starts without it: only the futures of refs need it
    import concurrent.futures

R = TypeVar("R")


class RefState(enum.Enum):
    """Where the object a ref names stands, without fetching it."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ObjectInfo(NamedTuple):
    """What `%nbray refs` shows of an object: its state, size once made, and where it is
    ("inline", "shared memory", "spilled to disk"; "" while pending or failed)."""

    state: RefState
    size: int | None
    location: str


class RefTracker(Protocol):
    def acquire(self, object_id: ObjectId) -> None: ...
    def release(self, object_id: ObjectId) -> None: ...


_tracker: RefTracker | None = None


def set_tracker(tracker: RefTracker | None) -> None:
    """Where this process reports the refs it gains and loses (set by the running backend)."""
    global _tracker
    _tracker = tracker


class ObjectRef(Generic[R]):
    __slots__ = ("__weakref__", "_id", "_origin", "_task_id", "_tracker")

    def __init__(
        self,
        object_id: ObjectId | bytes,
        origin: str = "",
        task_id: TaskId | None = None,
        tracker: RefTracker | None = None,
    ) -> None:
        if type(object_id) is not int:  # Ray's ObjectRef(ref.binary()): a ref passed by hand
            self._tracker = None  # for __del__, should the bytes be refused
            object_id = _id_from_binary(object_id)
            tracker = tracker or _tracker
            if tracker is not None:  # it counts like any other, while the object lives
                tracker.acquire(object_id)
        # The tracker to tell when this ref is gone, not its bound `release`: that would be
        # one more object per ref for the garbage collector to track.
        self._id = object_id
        self._origin = origin
        self._task_id = task_id
        self._tracker = tracker

    @property
    def id(self) -> ObjectId:
        return self._id

    @property
    def origin(self) -> str:
        """What made the object: the task's function name, or "put"."""
        return self._origin

    def task_id(self) -> TaskId | None:
        """The task that makes this object (None for `put`)."""
        return self._task_id

    def future(self) -> concurrent.futures.Future[R]:
        """A `concurrent.futures.Future` of the value (as Ray's `ObjectRef.future`)."""
        future: concurrent.futures.Future[R] = _current.backend.future(self)
        return future

    def __await__(self) -> Generator[Any, None, R]:
        """`await ref` in async code; `asyncio.gather(*refs)` for many."""
        import asyncio  # only async code pays for it

        return asyncio.wrap_future(self.future()).__await__()

    def state(self) -> RefState:
        """pending, running, finished, failed or cancelled: without fetching the value (an
        nbray extension)."""
        state: RefState = _current.backend.ref_state(self)
        return state

    def exception(self) -> BaseException | None:
        """The error `get` would raise, if the task failed or was cancelled; None otherwise
        (also while it is not done). Never blocks (an nbray extension)."""
        error: BaseException | None = _current.backend.ref_exception(self)
        return error

    def hex(self) -> str:
        return f"{self._id:016x}"

    def binary(self) -> bytes:
        """The id as bytes: `ObjectRef(ref.binary())` names the same object (as in Ray)."""
        return self._id.to_bytes(_ID_BYTES, "big")

    @classmethod
    def from_binary(cls, binary: bytes) -> ObjectRef[Any]:
        return cls(binary)

    @classmethod
    def from_hex(cls, hex_id: str) -> ObjectRef[Any]:
        return cls(bytes.fromhex(hex_id))

    def __hash__(self) -> int:
        return hash(self._id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectRef) and other._id == self._id

    def __repr__(self) -> str:
        origin = f", {self._origin}" if self._origin else ""
        return f"ObjectRef({format_id(self._id)}{origin})"

    def __reduce__(self) -> tuple[Any, ...]:
        record_contained_ref(self._id)
        return _borrowed_ref, (self._id, self._origin, self._task_id)

    def __del__(self) -> None:
        if self._tracker is not None:
            self._tracker.release(self._id)


_ID_BYTES = 8


def _id_from_binary(binary: object) -> ObjectId:
    if not isinstance(binary, bytes) or len(binary) != _ID_BYTES:
        raise TypeError(
            f"ObjectRef() takes an object id: the {_ID_BYTES} bytes of ref.binary() (or use "
            f"ObjectRef.from_hex(ref.hex())), not {type(binary).__name__} {binary!r:.60}."
        )
    return ObjectId(int.from_bytes(binary, "big"))


def _borrowed_ref(object_id: ObjectId, origin: str, task_id: TaskId | None) -> ObjectRef[Any]:
    tracker = _tracker
    if tracker is None:
        return ObjectRef(object_id, origin, task_id)
    tracker.acquire(object_id)
    return ObjectRef(object_id, origin, task_id, tracker)


class ObjectRefGenerator:
    """What a streaming task (`num_returns="streaming"`) returns: iterate it for a ref to each
    item as soon as the task has yielded it (as Ray's `ObjectRefGenerator`). If the task raised,
    the last ref it gives raises that error on `get`."""

    def __init__(self, end: ObjectRef[Any]) -> None:
        self._end = end
        self._index = 0
        self._finished = False

    def __iter__(self) -> ObjectRefGenerator:
        return self

    def __next__(self) -> ObjectRef[Any]:
        return self._next(timeout=None)

    def _next(self, timeout: float | None) -> ObjectRef[Any]:
        if self._finished:
            raise StopIteration
        item: ObjectRef[Any] | None = _current.backend.next_streamed(
            self._end, self._index, timeout
        )
        if item is not None:
            self._index += 1
            return item
        self._finished = True
        if self._end.exception() is not None:
            return self._end  # its get raises what the task raised
        raise StopIteration

    def __aiter__(self) -> ObjectRefGenerator:
        return self

    async def __anext__(self) -> ObjectRef[Any]:
        import asyncio

        # StopIteration cannot cross a future: the thread answers None at the end instead.
        item = await asyncio.get_running_loop().run_in_executor(None, next, self, None)
        if item is None:
            raise StopAsyncIteration
        return item

    def completed(self) -> ObjectRef[Any]:
        """A ref that is ready once the task has finished (its get raises if it failed)."""
        return self._end

    def __repr__(self) -> str:
        return f"ObjectRefGenerator({self._end!r}, {self._index} taken)"


def split_ready(
    refs: Sequence[ObjectRef[Any]], ready_ids: Iterable[ObjectId], num_returns: int
) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]:
    """`wait`'s answer: up to `num_returns` ready refs and all the others, both in input order."""
    ready_set = set(ready_ids)
    ready = [r for r in refs if r.id in ready_set][:num_returns]
    chosen = {r.id for r in ready}
    return ready, [r for r in refs if r.id not in chosen]


class DynamicObjectRefGenerator:
    """The value of a task with `num_returns="dynamic"` (Ray's older generator API): the refs
    to what the task yielded, each stored as soon as it was yielded. Iterate it for them."""

    def __init__(self, refs: list[ObjectRef[Any]]) -> None:
        self._refs = refs

    def __iter__(self) -> Iterator[ObjectRef[Any]]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"DynamicObjectRefGenerator({self._refs!r})"
