"""The backend inside a worker process: `get`, `wait`, `put` and `.remote()` called by a task.

The worker runs one task at a time on its main thread, so a request is simply sent and its reply
read from the same channel: the driver sends nothing else to a busy worker. Objects and tasks
created here are owned by the worker and stay alive until the runtime shuts down.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from nbray.core.ids import IdAllocator, WorkerId
from nbray.exceptions import GetTimeoutError, RaySystemError
from nbray.local import protocol
from nbray.local.driver import raisable, split_ready
from nbray.local.tasks import make_task_spec
from nbray.object_ref import ObjectRef
from nbray.options import TaskOptions
from nbray.serialization import FunctionBlob, deserialize, serialize


class WorkerClient:
    kind = "worker"

    def __init__(self, channel: Connection, worker_id: WorkerId) -> None:
        self._channel = channel
        self.worker_id = worker_id
        self._ids = IdAllocator(worker_id)
        self._request_ids = itertools.count(1)

    def submit(
        self,
        function: FunctionBlob,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        options: TaskOptions,
    ) -> list[ObjectRef[Any]]:
        spec = make_task_spec(self._ids, function, args, kwargs, options, self.worker_id, None)
        protocol.send(self._channel, protocol.SubmitTask(spec))
        return [ObjectRef(oid, spec.name, spec.task_id) for oid in spec.return_ids]

    def put(self, value: Any) -> ObjectRef[Any]:
        serialized = serialize(value, what="value passed to put")
        oid = self._ids.object_id()
        protocol.send(self._channel, protocol.PutObject(oid, serialized))
        return ObjectRef(oid, "put")

    def get(self, refs: Sequence[ObjectRef[Any]], timeout: float | None) -> list[Any]:
        ids = tuple(ref.id for ref in refs)
        reply: protocol.ObjectsReply = self._request(
            protocol.GetObjects(next(self._request_ids), ids, timeout)
        )
        for oid in ids:
            if oid in reply.errors:
                raise raisable(deserialize(reply.errors[oid]))
        if reply.timed_out:
            raise GetTimeoutError(
                f"get timed out after {timeout} s: {len(ids) - len(reply.values)} of {len(ids)} "
                "objects are not ready."
            )
        return [deserialize(reply.values[oid]) for oid in ids]

    def wait(
        self, refs: Sequence[ObjectRef[Any]], num_returns: int, timeout: float | None
    ) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]:
        message = protocol.WaitObjects(
            next(self._request_ids), tuple(r.id for r in refs), num_returns, timeout
        )
        return split_ready(refs, self._request(message).ready, num_returns)

    def _request(self, message: Any) -> Any:
        protocol.send(self._channel, message)
        reply = protocol.receive(self._channel)
        assert reply.request_id == message.request_id, "nbray bug: replies out of order"
        return reply

    def cancel(self, ref: ObjectRef[Any], force: bool) -> NoReturn:
        _not_in_a_task("cancel")

    def subscribe(self, callback: Callable[[Any], None]) -> NoReturn:
        _not_in_a_task("subscribing to runtime events")

    def snapshot(self) -> NoReturn:
        _not_in_a_task("snapshot")

    def shutdown(self) -> NoReturn:
        _not_in_a_task("shutdown")


def _not_in_a_task(what: str) -> NoReturn:
    raise RaySystemError(f"{what} is not available inside a task; call it from the driver.")
