"""The driver's table of object values and the threads waiting for them.

Theory of operation: the event-loop thread stores task results and errors; user threads store
`put` values and read. Every access holds one lock for a few dict operations only. A thread that
waits registers a `_Waiter` on the objects it lacks; `store` counts it down and wakes it (the
waiter blocks on a lock: a Ctrl-C in the notebook interrupts that wait, see DESIGN.md). The table
also knows which ids are still pending, so a ref to an object that will never come fails at once
instead of hanging.

An entry is a small value kept inline (`Serialized`), a block of the shared-memory arena
(`InStore`), a value spilled to disk (`Spilled`), or an error (`StoredError`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from nbray.core.ids import ObjectId, TaskId
from nbray.core.task import ErrorInfo, ErrorKind
from nbray.exceptions import (
    ActorDiedError,
    GetTimeoutError,
    ObjectLostError,
    RayError,
    RaySystemError,
    RayTaskError,
    TaskCancelledError,
    TaskUnschedulableError,
    WorkerCrashedError,
    WorkersCannotStartError,
)
from nbray.local.object_store import InStore, Spilled
from nbray.serialization import Serialized, deserialize, serialize

ERROR_TYPES: dict[ErrorKind, type[RayError]] = {
    ErrorKind.WORKER_CRASHED: WorkerCrashedError,
    ErrorKind.CANCELLED: TaskCancelledError,
    ErrorKind.UNSCHEDULABLE: TaskUnschedulableError,
    ErrorKind.OBJECT_LOST: ObjectLostError,
    ErrorKind.WORKERS_CANNOT_START: WorkersCannotStartError,
    ErrorKind.ACTOR_DIED: ActorDiedError,
}


@dataclass(slots=True)
class StoredError:
    """A failure stored as an object's value: raising it is what `get` does.

    A task's exception stays as its worker pickled it until a caller asks for it: unpickling
    runs the user's code (a slow or exiting `__reduce__`), so it happens on the caller's thread,
    never on the runtime's; `info` has the plain facts (type, message, traceback) for the rest.
    """

    info: ErrorInfo
    pickled: Serialized | None  # the exception, as its worker pickled it
    task_name: str
    reportable: bool  # an original failure (not a copy, not a cancellation) worth reporting
    fetched: bool = False
    _error: RayError | None = None

    def error(self) -> RayError:
        """The stored exception (unpickled once, at the first call: on the caller's thread)."""
        if self._error is None:
            self._error = self._load()
        return self._error

    def wire(self) -> Serialized:
        """The exception to send to a worker, still pickled if it came from one."""
        return self.pickled if self.pickled is not None else serialize(self._from_info())

    def _load(self) -> RayError:
        if self.pickled is None:
            return self._from_info()
        try:
            error = deserialize(self.pickled)
        except BaseException as why:  # its class is missing here, or its unpickling raised
            # (even SystemExit or KeyboardInterrupt: it must not exit or interrupt the caller)
            return self._from_info(f" (it could not be unpickled here: {why!r})")
        if not isinstance(error, RayError):
            return self._from_info(f" (it unpickled as {type(error).__name__}, not an error)")
        return error

    def _from_info(self, note: str = "") -> RayError:
        info = self.info
        if info.kind is ErrorKind.TASK_ERROR:
            message = info.message + note
            return RayTaskError(self.task_name, info.traceback, None, info.type_name, message)
        return ERROR_TYPES.get(info.kind, RayError)(info.message + note)


Entry = Serialized | InStore | Spilled | StoredError


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(slots=True)
class _Waiter:
    remaining: int
    wake_on_error: bool
    callback: Callable[[], None] | None = None  # called (outside the lock) when it wakes
    woken: bool = False
    # Held until the waiter is woken: a bare lock, several times cheaper than an Event (whose
    # Condition is Python code) on the path of every blocking `get`.
    _until_woken: threading.Lock = field(default_factory=_held_lock)

    def wait(self, timeout: float | None) -> None:
        self._until_woken.acquire(timeout=-1 if timeout is None else max(timeout, 0))

    def wake(self) -> bool:
        """Wake it (once: later calls do nothing); whether this call did."""
        if self.woken:
            return False
        self.woken = True
        self._until_woken.release()
        return True


class ObjectTable:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[ObjectId, Entry] = {}
        self._pending: set[ObjectId] = set()
        self._waiters: dict[ObjectId, list[_Waiter]] = {}
        self._closed = False
        self._closed_why = ""
        self._streams: dict[TaskId, list[ObjectId]] = {}  # streaming tasks' items so far
        self._stream_changed = threading.Condition(self._lock)
        self._stream_readers = 0  # threads in next_in_stream: only they need a notify

    def expect(self, object_ids: tuple[ObjectId, ...]) -> None:
        """These objects will be produced: waits on them are legitimate."""
        with self._lock:
            self._pending.update(object_ids)

    def store(self, object_id: ObjectId, entry: Entry) -> None:
        woken = []
        with self._lock:
            self._entries[object_id] = entry
            self._pending.discard(object_id)
            if self._stream_readers:  # the stream's end, perhaps
                self._stream_changed.notify_all()
            for waiter in self._waiters.pop(object_id, ()):
                waiter.remaining -= 1
                if (
                    waiter.remaining <= 0
                    or (waiter.wake_on_error and isinstance(entry, StoredError))
                ) and waiter.wake():
                    woken.append(waiter)
        for waiter in woken:
            if waiter.callback is not None:
                waiter.callback()

    def append_to_stream(self, task_id: TaskId, object_id: ObjectId) -> None:
        with self._lock:
            self._streams.setdefault(task_id, []).append(object_id)
            self._stream_changed.notify_all()

    def next_in_stream(
        self, task_id: TaskId, index: int, end: ObjectId, timeout: float | None
    ) -> ObjectId | None:
        """Item `index` of a streaming task once it is there; None if the stream ended (its
        end object is stored) without it. Raises GetTimeoutError if `timeout` passes first."""
        with self._lock:
            self._stream_readers += 1
            try:
                ready = self._stream_changed.wait_for(
                    lambda: (
                        len(self._streams.get(task_id, ())) > index
                        or end in self._entries
                        or self._closed
                    ),
                    timeout,
                )
            finally:
                self._stream_readers -= 1
            items = self._streams.get(task_id, [])
            if index < len(items):
                return items[index]
            if not ready:
                raise GetTimeoutError(f"No new item of the stream within {timeout} s.")
            if self._closed:
                raise RaySystemError(f"{self._closed_why} while this call waited for a stream.")
            if index == len(items) and end in self._entries:
                self._streams.pop(task_id, None)
            return None

    def when_ready(self, object_id: ObjectId, callback: Callable[[], None]) -> None:
        """Call `callback()` once the object is stored (at once if it is; else on the thread
        that stores it) or the table closes."""
        with self._lock:
            if object_id not in self._entries and not self._closed:
                waiter = _Waiter(1, True, callback=callback)
                self._waiters.setdefault(object_id, []).append(waiter)
                return
        callback()

    def replace(self, object_id: ObjectId, entry: Entry) -> None:
        """The same value, kept somewhere else (spilled to disk, or restored)."""
        with self._lock:
            self._entries[object_id] = entry

    def entries(self) -> list[tuple[ObjectId, Entry]]:
        with self._lock:
            return list(self._entries.items())

    def free(self, object_id: ObjectId) -> Entry | None:
        with self._lock:
            self._pending.discard(object_id)
            return self._entries.pop(object_id, None)

    def lookup(self, object_id: ObjectId) -> Entry | None:
        return self._entries.get(object_id)  # one dict read: atomic under the GIL

    def is_known(self, object_id: ObjectId) -> bool:
        with self._lock:
            return object_id in self._entries or object_id in self._pending

    def unfetched_errors(self) -> list[StoredError]:
        with self._lock:
            entries = list(self._entries.values())
        return [e for e in entries if isinstance(e, StoredError) and e.reportable and not e.fetched]

    def wait_ready(
        self,
        object_ids: list[ObjectId],
        num_ready: int,
        timeout: float | None,
        wake_on_error: bool = False,
    ) -> list[ObjectId]:
        """Block until `num_ready` of `object_ids` are stored (or, with `wake_on_error`, one of
        them failed), or `timeout` passes; return the stored ones in input order."""
        waiter = self._register(object_ids, num_ready, wake_on_error)
        if waiter is not None:
            try:
                waiter.wait(timeout)
            finally:
                self._unregister(waiter, object_ids)
        if self._closed:
            raise RaySystemError(f"{self._closed_why} while this call waited for objects.")
        return [oid for oid in object_ids if oid in self._entries]

    def close(self, why: str = "nbray was shut down") -> None:
        """Wake every waiter: the runtime is going away (`why`: how their calls fail)."""
        with self._lock:
            if not self._closed:
                self._closed_why = why
            self._closed = True
            self._stream_changed.notify_all()
            waiters = [w for ws in self._waiters.values() for w in ws]
            self._waiters.clear()
        for waiter in waiters:
            if waiter.wake() and waiter.callback is not None:
                waiter.callback()

    def _register(
        self, object_ids: list[ObjectId], num_ready: int, wake_on_error: bool
    ) -> _Waiter | None:
        with self._lock:
            if self._closed:
                return None
            missing = [oid for oid in object_ids if oid not in self._entries]
            failed = wake_on_error and any(
                isinstance(self._entries.get(oid), StoredError) for oid in object_ids
            )
            if len(object_ids) - len(missing) >= num_ready or failed:
                return None
            waiter = _Waiter(num_ready - (len(object_ids) - len(missing)), wake_on_error)
            for oid in missing:
                self._waiters.setdefault(oid, []).append(waiter)
            return waiter

    def _unregister(self, waiter: _Waiter, object_ids: list[ObjectId]) -> None:
        with self._lock:
            for oid in object_ids:
                waiters = self._waiters.get(oid)
                if waiters and waiter in waiters:
                    waiters.remove(waiter)
                    if not waiters:
                        del self._waiters[oid]
