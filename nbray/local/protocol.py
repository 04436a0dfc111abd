"""Messages between the driver's event loop and a worker process, and how they are framed.

Each message is one pickled NamedTuple (protocol 5; values inside are already `Serialized`),
sent with `multiprocessing.connection.Connection.send_bytes` over a socketpair.
"""

from __future__ import annotations

import pickle
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, NamedTuple

from nbray.core.ids import ObjectId, TaskId
from nbray.core.task import ErrorInfo, TaskSpec
from nbray.serialization import Serialized

if TYPE_CHECKING:
    from nbray.local.object_store import Payload
    from nbray.local.tasks import TaskBody

# ---- driver -> worker ----------------------------------------------------------------------


class Setup(NamedTuple):
    """First message: make the worker's import path match the driver's."""

    sys_path: list[str]
    cwd: str


class ExecuteTask(NamedTuple):
    task_id: TaskId
    name: str
    body: TaskBody  # its function's bytes dropped when the worker has it cached already
    resolved: dict[ObjectId, Payload]
    gpu_ids: tuple[int, ...] = ()


class ObjectsReply(NamedTuple):
    """Answer to `GetObjects`: all the values, or the errors of those that failed, or a timeout."""

    request_id: int
    values: dict[ObjectId, Payload]
    errors: dict[ObjectId, Serialized]
    timed_out: bool


class Allocated(NamedTuple):
    """Answer to `Allocate`: the offset of a block of the arena, None if the store is full."""

    request_id: int
    offset: int | None
    message: str


class WaitReply(NamedTuple):
    """Answer to `WaitObjects`: the ids that are ready (finished or failed)."""

    request_id: int
    ready: tuple[ObjectId, ...]


# ---- worker -> driver ----------------------------------------------------------------------


class WorkerReady(NamedTuple):
    pid: int


class TaskDone(NamedTuple):
    task_id: TaskId
    values: tuple[Payload, ...]


class TaskError(NamedTuple):
    task_id: TaskId
    error: ErrorInfo
    value: Serialized


class GetObjects(NamedTuple):
    """The running task calls `get`: reply when all are ready, one failed (unless
    `return_exceptions`), or time is up."""

    request_id: int
    object_ids: tuple[ObjectId, ...]
    timeout: float | None
    return_exceptions: bool = False


class WaitObjects(NamedTuple):
    """The running task calls `wait`: reply when `num_returns` are ready or time is up."""

    request_id: int
    object_ids: tuple[ObjectId, ...]
    num_returns: int
    timeout: float | None


class PutObject(NamedTuple):
    object_id: ObjectId
    value: Payload


class Yielded(NamedTuple):
    """A streaming task yielded its next item."""

    task_id: TaskId
    object_id: ObjectId
    value: Payload


class Output(NamedTuple):
    """Text the worker's task wrote to fd 1 or fd 2."""

    task_id: TaskId | None
    stream: str
    text: str


class Allocate(NamedTuple):
    """The worker needs a block of `size` bytes of the arena for a large value."""

    request_id: int
    size: int


class SubmitTask(NamedTuple):
    spec: TaskSpec


class HoldsChanged(NamedTuple):
    """The worker's refs and views changed: sent ahead of any other message, so the driver never
    frees an object the worker still holds."""

    deltas: tuple[tuple[ObjectId, int], ...]


def send(connection: Connection, message: Any) -> None:
    connection.send_bytes(pickle.dumps(message, protocol=5))


def receive(connection: Connection) -> Any:
    return pickle.loads(connection.recv_bytes())
