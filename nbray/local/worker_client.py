"""The backend inside a worker process: `get`, `wait`, `put` and `.remote()` called by a task.

The worker runs one task at a time on its main thread, so a request is simply sent and its reply
read from the same channel: the driver sends nothing else to a busy worker.

It is also the worker's `RefTracker`: refs and views gained and lost here are netted and sent
ahead of the next message, so the driver learns what the worker still holds before it hears
that a task ended (and before it could free what that task passed on).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from nbray.core.ids import IdAllocator, ObjectId, TaskId, WorkerId
from nbray.exceptions import GetTimeoutError, ObjectStoreFullError, RaySystemError
from nbray.local import protocol
from nbray.local.driver import raisable, split_ready
from nbray.local.object_store import INLINE_LIMIT, Arena, InStore, Payload, block_size_of
from nbray.local.tasks import make_task_spec
from nbray.object_ref import ObjectRef
from nbray.options import TaskOptions
from nbray.serialization import FunctionBlob, Serialized, deserialize, serialize


class WorkerClient:
    kind = "worker"

    def __init__(self, channel: Connection, worker_id: WorkerId, arena: Arena) -> None:
        self._channel = channel
        self._arena = arena
        self.worker_id = worker_id
        self._ids = IdAllocator(worker_id)
        self._request_ids = itertools.count(1)
        self._changes: list[tuple[ObjectId, int]] = []  # appended from __del__ too: a list is safe
        self.current_task: TaskId | None = None

    def acquire(self, object_id: ObjectId) -> None:
        self._changes.append((object_id, +1))

    def release(self, object_id: ObjectId) -> None:
        self._changes.append((object_id, -1))

    def send(self, message: Any) -> None:
        """Send `message` to the driver, after any change of what this worker holds."""
        changes, self._changes = self._changes, []
        if changes:
            net: Counter[ObjectId] = Counter()
            for oid, delta in changes:
                net[oid] += delta
            deltas = tuple((oid, d) for oid, d in net.items() if d)
            if deltas:
                protocol.send(self._channel, protocol.HoldsChanged(deltas))
        protocol.send(self._channel, message)

    def submit(
        self,
        function: FunctionBlob,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        options: TaskOptions,
    ) -> list[ObjectRef[Any]]:
        spec = make_task_spec(
            self._ids, function, args, kwargs, options, self.worker_id, None, self.current_task
        )
        self.send(protocol.SubmitTask(spec))
        return [ObjectRef(oid, spec.name, spec.task_id, self.release) for oid in spec.return_ids]

    def put(self, value: Any) -> ObjectRef[Any]:
        serialized = serialize(value, what="value passed to put")
        oid = self._ids.object_id()
        self.send(protocol.PutObject(oid, self.place(serialized)))
        return ObjectRef(oid, "put", None, self.release)

    def get(
        self, refs: Sequence[ObjectRef[Any]], timeout: float | None, return_exceptions: bool = False
    ) -> list[Any]:
        ids = tuple(ref.id for ref in refs)
        reply: protocol.ObjectsReply = self._request(
            protocol.GetObjects(next(self._request_ids), ids, timeout, return_exceptions)
        )
        for oid in ids:
            if oid in reply.errors and not return_exceptions:
                raise raisable(deserialize(reply.errors[oid]))
        if reply.timed_out:
            raise GetTimeoutError(
                f"get timed out after {timeout} s: {len(ids) - len(reply.values)} of {len(ids)} "
                "objects are not ready."
            )
        return [
            raisable(deserialize(reply.errors[oid]))
            if oid in reply.errors
            else self.load(oid, reply.values[oid])
            for oid in ids
        ]

    def wait(
        self, refs: Sequence[ObjectRef[Any]], num_returns: int, timeout: float | None
    ) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]:
        message = protocol.WaitObjects(
            next(self._request_ids), tuple(r.id for r in refs), num_returns, timeout
        )
        return split_ready(refs, self._request(message).ready, num_returns)

    # ---- the object store ----------------------------------------------------------------

    def load(self, object_id: ObjectId, payload: Payload) -> Any:
        """A value sent by the driver; views of the arena count as this worker's holds."""
        if isinstance(payload, InStore):
            return self._arena.read(payload, lambda: self._pinned(object_id))
        return deserialize(payload)

    def _pinned(self, object_id: ObjectId) -> Callable[[], None]:
        self.acquire(object_id)
        return lambda: self.release(object_id)

    def place(self, value: Serialized) -> Payload:
        """Where a value made here goes: inline if small, else a block the driver allots."""
        if value.size < INLINE_LIMIT:
            return value
        size = block_size_of(value)
        reply: protocol.Allocated = self._request(protocol.Allocate(next(self._request_ids), size))
        if reply.offset is None:
            raise ObjectStoreFullError(reply.message)
        return self._arena.write(reply.offset, value)

    def _request(self, message: Any) -> Any:
        self.send(message)
        while True:
            reply = protocol.receive(self._channel)
            if getattr(reply, "request_id", None) == message.request_id:
                return reply
            # else: the answer to a request an interrupt (cancel) abandoned: drop it

    def cancel(self, ref: ObjectRef[Any], force: bool, recursive: bool) -> NoReturn:
        _not_in_a_task("cancel")

    def future(self, ref: ObjectRef[Any]) -> NoReturn:
        _not_in_a_task("ObjectRef.future / await")

    def ref_state(self, ref: ObjectRef[Any]) -> NoReturn:
        _not_in_a_task("ObjectRef.state")

    def ref_exception(self, ref: ObjectRef[Any]) -> NoReturn:
        _not_in_a_task("ObjectRef.exception")

    def subscribe(self, callback: Callable[[Any], None]) -> NoReturn:
        _not_in_a_task("subscribing to runtime events")

    def snapshot(self) -> NoReturn:
        _not_in_a_task("snapshot")

    def shutdown(self) -> NoReturn:
        _not_in_a_task("shutdown")


def _not_in_a_task(what: str) -> NoReturn:
    raise RaySystemError(f"{what} is not available inside a task; call it from the driver.")
