"""Messages between the driver's event loop and a worker process, and how they are framed.

Each message is one pickled NamedTuple (protocol 5; values inside are already `Serialized`),
prefixed by its length, over one end of a socketpair (`Channel`). Reads are buffered: the event
loop takes every message a worker has sent in one `recv`, which matters when thousands of short
tasks end per second.

The driver reads what workers send with `from_worker`, an unpickler that builds nbray's message
types and plain data only: a pickle that names any other class or function (a payload written on
the channel by something that is not an nbray worker) is refused as a `BadMessage`, never run.
The values inside messages stay pickled (`Serialized`) until the user's own thread reads them.
"""

from __future__ import annotations

import functools
import io
import pickle
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from nbray.core.ids import ObjectId, TaskId
from nbray.core.task import ErrorInfo, TaskSpec
from nbray.local.object_store import InStore
from nbray.local.tasks import TaskBody
from nbray.serialization import FunctionBlob, Serialized

if TYPE_CHECKING:
    from nbray.local.object_store import Payload

# ---- driver -> worker ----------------------------------------------------------------------


class Setup(NamedTuple):
    """First message: make the worker's import path match the driver's."""

    sys_path: list[str]
    cwd: str
    node_id: str
    namespace: str


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


class NameReply(NamedTuple):
    """Answer to `ClaimName` (the actor that has the name already, if any) and to `LookupName`
    (the actor named so, if any): its handle, pickled."""

    request_id: int
    handle: Serialized | None


class ResourcesReply(NamedTuple):
    request_id: int
    resources: dict[str, float]


class NamesReply(NamedTuple):
    request_id: int
    names: list[tuple[str, str]]  # (namespace, name)


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
    value: Payload  # the exception: in the store if large
    made: tuple[Serialized, ...] = ()  # a generator's values before the error (num_returns=N)


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


class ClaimName(NamedTuple):
    """A task names the actor it created (namespace None: the runtime's)."""

    request_id: int
    namespace: str | None
    name: str
    actor_id: TaskId
    handle_id: ObjectId
    handle: Serialized


class LookupName(NamedTuple):
    request_id: int
    namespace: str | None
    name: str


class ListNames(NamedTuple):
    request_id: int
    all_namespaces: bool


class AssignedResources(NamedTuple):
    """The running task asks what resources it holds (`get_runtime_context()`)."""

    request_id: int
    task_id: TaskId


NameRequest = ClaimName | LookupName | ListNames


class Allocate(NamedTuple):
    """The worker needs a block of `size` bytes of the arena for a large value."""

    request_id: int
    size: int


class SubmitTask(NamedTuple):
    spec: TaskSpec
    body: TaskBody


class Bounced(NamedTuple):
    """A task sent to the worker while its current task waits in get/wait (or sent before, not
    yet started), handed back unstarted: the current task may be waiting for it."""

    task_id: TaskId


class HoldsChanged(NamedTuple):
    """The worker's refs and views changed: sent ahead of any other message, so the driver never
    frees an object the worker still holds."""

    deltas: tuple[tuple[ObjectId, int], ...]


class BadMessage(Exception):
    """What arrived on a channel is not a message of nbray's. `before`: the messages that came
    ahead of it (well-formed); nothing after it is read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.before: list[Any] = []


INTERRUPT = struct.Struct("<Q")  # a task id on a worker's interrupt pipe
_LENGTH = struct.Struct("<Q")
_CHUNK = 1 << 16
_SMALL = 1 << 16  # below this, header and body go in one write


class Channel:
    """Length-prefixed pickled messages over a blocking stream socket.

    `send` may be called from several threads only under the caller's own lock; `receive`
    (blocking) and `receive_ready` (never blocks) from one thread at a time.
    """

    def __init__(self, sock: socket.socket, loads: Callable[[Any], Any] | None = None) -> None:
        self._socket = sock
        self._loads = loads or _read_message  # `from_worker` where the peer is a worker
        self._buffer = bytearray()  # the start of a message not all arrived yet
        self._parsed: deque[Any] = deque()
        self.at_eof = False  # the peer closed its end (messages before that are still read)

    @classmethod
    def from_fd(cls, fd: int) -> Channel:
        return cls(socket.socket(fileno=fd))

    def fileno(self) -> int:
        return self._socket.fileno()

    def send(self, message: Any) -> None:
        data = pickle.dumps(_to_wire(message), protocol=5)
        header = _LENGTH.pack(len(data))
        if len(data) < _SMALL:
            self._socket.sendall(header + data)
        else:  # no copy of a large body
            self._socket.sendall(header)
            self._socket.sendall(data)

    def receive(self) -> Any:
        """The next message, waiting for it; EOFError once the peer has closed."""
        while not self._parsed:
            self._fill(0)
            if self.at_eof:
                raise EOFError("the channel's peer closed it")
        return self._parsed.popleft()

    def receive_ready(self) -> list[Any]:
        """Every message that has arrived, without waiting (sets `at_eof` at the end)."""
        while self._fill(socket.MSG_DONTWAIT):
            pass
        messages = list(self._parsed)
        self._parsed.clear()
        return messages

    def close(self) -> None:
        self._socket.close()

    def _fill(self, flags: int) -> bool:
        """Read what is there and parse the messages it completes; False at EOF, or (with
        MSG_DONTWAIT) when nothing more is there."""
        try:
            chunk = self._socket.recv(_CHUNK, flags)
        except BlockingIOError:
            return False
        if not chunk:
            self.at_eof = True
            return False
        self._buffer += chunk
        self._parse()
        return len(chunk) == _CHUNK  # a short read: drained for now

    def _parse(self) -> None:
        buffer, start = self._buffer, 0
        with memoryview(buffer) as view:
            while len(buffer) - start >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(buffer, start)
                end = start + _LENGTH.size + length
                if len(buffer) < end:
                    break
                try:
                    message = self._loads(view[start + _LENGTH.size : end])
                except BadMessage as error:
                    self._refuse(error)
                    raise
                self._parsed.append(message)
                start = end
        del buffer[:start]

    def _refuse(self, error: BadMessage) -> None:
        """Stop reading for good: the peer is not (or no longer) speaking nbray's protocol."""
        error.before = list(self._parsed)
        self._parsed.clear()
        self.at_eof = True
        self._buffer = bytearray()


# ---- what the driver accepts from a worker --------------------------------------------------


class _MessageUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _message_types().get((module, name))
        if found is None:
            raise BadMessage(f"it names {module}.{name}, which is not part of nbray's protocol")
        return found


def from_worker(data: Any) -> Any:
    """A message a worker sent, built from nbray's message types and plain data only, each
    field of the type it must have (BadMessage otherwise)."""
    try:
        message = _from_wire(_MessageUnpickler(io.BytesIO(data)).load())
    except BadMessage:
        raise
    except Exception as error:  # truncated, corrupt, or types that do not fit together
        raise BadMessage(f"it is not a well-formed pickle ({error!r})") from None
    fields = _FIELDS.get(type(message))
    if fields is None:
        raise BadMessage(f"a {type(message).__name__} is not something a worker sends")
    if len(message) != len(fields) or not all(
        check(value) for check, value in zip(fields, message, strict=True)
    ):
        raise BadMessage(f"a {type(message).__name__} with fields of the wrong types")
    return message


def _read_message(data: Any) -> Any:
    return _from_wire(pickle.loads(data))


@functools.cache
def _message_types() -> dict[tuple[str, str], Any]:
    from nbray.core import task
    from nbray.core.resources import Resources
    from nbray.runtime_env import Environment

    types = [
        WorkerReady, TaskError, GetObjects, WaitObjects, PutObject, Yielded, Output, Allocate,
        ClaimName, LookupName, ListNames, AssignedResources,
        SubmitTask, Bounced, HoldsChanged, TaskBody, FunctionBlob, Serialized, InStore,
        task.TaskSpec, task.ErrorInfo, task.ErrorKind, task.TaskKind, Resources, Environment,
    ]  # fmt: skip
    return {(t.__module__, t.__qualname__): t for t in types}


# ---- the two messages of every task travel as plain tuples ---------------------------------
# A NamedTuple pickles through copyreg, several times slower than a tuple: for a no-op task
# that was a fifth of the event loop's time. Every other message goes as it is.

_EXECUTE, _DONE = 0, 1


def execute_task(
    task_id: TaskId,
    name: str,
    body: TaskBody,
    resolved: dict[ObjectId, Payload],
    gpu_ids: tuple[int, ...],
    with_function: bool,
) -> tuple[Any, ...]:
    """An `ExecuteTask` as it travels, built at once (the event loop sends one per task); the
    function's bytes stay home `with_function` False (the worker has them cached)."""
    function = tuple(body.function)
    if not with_function:
        function = (function[0], b"", *function[2:])
    wire_body = (function, tuple(body.arguments), body[2:])
    return (_EXECUTE, task_id, name, *wire_body, resolved, gpu_ids)


def _to_wire(message: Any) -> Any:
    kind = type(message)
    if kind is ExecuteTask:
        task_id, name, body, resolved, gpu_ids = message
        return execute_task(task_id, name, body, resolved, gpu_ids, with_function=True)
    if kind is TaskDone:
        values = tuple(tuple(v) if type(v) is Serialized else v for v in message.values)
        return (_DONE, message.task_id, values)
    return message


def _from_wire(wire: Any) -> Any:
    if type(wire) is not tuple:
        return wire
    if wire[0] == _EXECUTE:
        _, task_id, name, function, arguments, rest, resolved, gpu_ids = wire
        body = TaskBody(FunctionBlob(*function), Serialized(*arguments), *rest)
        return ExecuteTask(task_id, name, body, resolved, gpu_ids)
    _, task_id, values = wire
    return TaskDone(task_id, tuple(Serialized(*v) if type(v) is tuple else v for v in values))


# ---- the fields of each message a worker sends, checked as it arrives ------------------------


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_ids(value: Any) -> bool:
    return type(value) is tuple and all(type(i) is int for i in value)


def _is_serialized(value: Any) -> bool:
    return (
        type(value) is Serialized
        and type(value.data) in (bytes, bytearray)
        and type(value.buffers) is tuple
        and _is_ids(value.contained_ids)
    )


def _is_payload(value: Any) -> bool:
    if type(value) is Serialized:
        return _is_serialized(value)
    return type(value) is InStore and all(_is_int(v) for v in value[:3]) and _is_ids(value[3])


def _is_timeout(value: Any) -> bool:
    return value is None or (type(value) in (int, float) and value == value)  # not NaN


def _of(*types: type) -> Callable[[Any], bool]:
    return lambda value: type(value) in types


def _each(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: type(value) is tuple and all(check(v) for v in value)


def _is_delta(value: Any) -> bool:
    return type(value) is tuple and len(value) == 2 and _is_ids(value)


def _is_submission(value: Any) -> bool:
    return type(value) is TaskSpec and _is_int(value.task_id) and _is_ids(value.return_ids)


def _is_body(value: Any) -> bool:
    return type(value) is TaskBody and type(value.function) is FunctionBlob


_FIELDS: dict[type, tuple[Callable[[Any], bool], ...]] = {
    WorkerReady: (_is_int,),
    TaskDone: (_is_int, _each(_is_payload)),
    TaskError: (_is_int, _of(ErrorInfo), _is_payload, _each(_is_serialized)),
    GetObjects: (_is_int, _is_ids, _is_timeout, _of(bool)),
    WaitObjects: (_is_int, _is_ids, _is_int, _is_timeout),
    PutObject: (_is_int, _is_payload),
    Yielded: (_is_int, _is_int, _is_payload),
    Output: (_of(int, type(None)), _of(str), _of(str)),
    Allocate: (_is_int, _is_int),
    ClaimName: (_is_int, _of(str, type(None)), _of(str), _is_int, _is_int, _is_serialized),
    LookupName: (_is_int, _of(str, type(None)), _of(str)),
    ListNames: (_is_int, _of(bool)),
    AssignedResources: (_is_int, _is_int),
    SubmitTask: (_is_submission, _is_body),
    Bounced: (_is_int,),
    HoldsChanged: (_each(_is_delta),),
}  # fmt: skip
