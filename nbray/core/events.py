"""Events: facts that happened. They are the scheduler's input and the runtime's published stream.

Some facts arrive from outside and are republished as they are (`TaskSubmitted`, `ObjectCreated`,
`WorkerStarted`, ...); others are concluded by the scheduler from what it was told (`TaskStarted`,
`TaskFinished`, `TaskFailed`, `TaskCancelled`, `ObjectFreed`, `ActorChanged`): a worker's
`TaskReturned` becomes `TaskFinished` only if the task still counts (it was not cancelled by
force meanwhile).
Every event carries the time it happened, as the shell's clock read it: the core never reads a
clock.

Events are read-only by convention, not frozen: a frozen dataclass is built through
`object.__setattr__`, four times slower, and the event loop builds several events per task.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbray.core.actors import ActorState
from nbray.core.ids import DRIVER, ObjectId, TaskId, WorkerId
from nbray.core.task import ErrorInfo, TaskSpec


@dataclass(slots=True)
class RuntimeStarted:
    time: float


@dataclass(slots=True)
class TaskSubmitted:
    spec: TaskSpec
    time: float
    body: object = None  # the shell's, for the worker: published without it


@dataclass(slots=True)
class TaskStarted:
    task_id: TaskId
    worker_id: WorkerId
    time: float


@dataclass(slots=True)
class TaskReturned:
    """A worker reports that its task returned. `values` are opaque to the core (serialized
    results, one per return id); it hands them back in `StoreValues` if the result counts."""

    task_id: TaskId
    worker_id: WorkerId
    values: tuple[object, ...]
    sizes: tuple[int, ...]
    contained: tuple[tuple[ObjectId, ...], ...]  # per value: the refs inside it
    time: float


@dataclass(slots=True)
class TaskYielded:
    """A streaming task yielded a value (opaque, as in `TaskReturned`) as a new object."""

    task_id: TaskId
    worker_id: WorkerId
    object_id: ObjectId
    value: object
    size: int
    contained_ids: tuple[ObjectId, ...]
    time: float


@dataclass(slots=True)
class TaskBounced:
    """A worker handed back a task queued on it, unstarted: the task it runs waits in
    `get`/`wait`, perhaps for that very task."""

    task_id: TaskId
    worker_id: WorkerId
    time: float


@dataclass(slots=True)
class TaskOutput:
    """Text a task wrote to its stdout or stderr (Python or C code alike), in order."""

    task_id: TaskId | None  # None: written by the worker outside any task
    worker_id: WorkerId
    stream: str  # "stdout" or "stderr"
    text: str
    time: float


@dataclass(slots=True)
class TaskRaised:
    """A worker reports that its task raised. `value` is the serialized exception (opaque).
    `made`: what a generator with `num_returns=N` yielded before it raised, for the first of
    its return ids, each as (value, size, the refs inside it), as in `TaskReturned`."""

    task_id: TaskId
    worker_id: WorkerId
    error: ErrorInfo
    value: object
    time: float
    made: tuple[tuple[object, int, tuple[ObjectId, ...]], ...] = ()


@dataclass(slots=True)
class TaskFinished:
    task_id: TaskId
    worker_id: WorkerId
    time: float


@dataclass(slots=True)
class TaskFailed:
    task_id: TaskId
    worker_id: WorkerId | None
    error: ErrorInfo
    time: float


@dataclass(slots=True)
class TaskCancelled:
    task_id: TaskId
    time: float


@dataclass(slots=True)
class CancelRequested:
    task_id: TaskId
    force: bool
    time: float
    recursive: bool = True  # also cancel the tasks it submitted


@dataclass(slots=True)
class ObjectCreated:
    """A value was stored: by `put` (fed in by the shell) or as a task's result (published)."""

    object_id: ObjectId
    size: int
    time: float
    contained_ids: tuple[ObjectId, ...] = ()
    task_id: TaskId | None = None
    owner: WorkerId = DRIVER


@dataclass(slots=True)
class ActorKillRequested:
    actor_id: TaskId
    no_restart: bool
    time: float


@dataclass(slots=True)
class ActorChanged:
    """An actor became alive (constructed), restarting, or dead (`cause` says why)."""

    actor_id: TaskId
    state: ActorState
    time: float
    cause: str = ""


@dataclass(slots=True)
class RefsChanged:
    """A process's holds on objects changed: `ObjectRef`s made or collected, views of stored
    memory taken or released. `deltas` pairs an object with the change of its count."""

    worker_id: WorkerId
    deltas: tuple[tuple[ObjectId, int], ...]
    time: float


@dataclass(slots=True)
class ObjectFreed:
    object_id: ObjectId
    time: float


@dataclass(slots=True)
class WorkerStarted:
    worker_id: WorkerId
    pid: int
    time: float


@dataclass(slots=True)
class WorkerDied:
    """A worker process exited. `exit_code` is negative for a signal, as in `subprocess`."""

    worker_id: WorkerId
    exit_code: int | None
    time: float


@dataclass(slots=True)
class WorkerBlocked:
    """The worker's task waits in `get`/`wait`: its CPU is lent to other tasks meanwhile."""

    worker_id: WorkerId
    time: float


@dataclass(slots=True)
class WorkerUnblocked:
    worker_id: WorkerId
    time: float


@dataclass(slots=True)
class TimeReached:
    """The time a `WakeAt` asked for has come (the shell's clock)."""

    time: float


Event = (
    RuntimeStarted
    | TaskSubmitted
    | TaskStarted
    | TaskReturned
    | TaskYielded
    | TaskBounced
    | TaskOutput
    | TaskRaised
    | TaskFinished
    | TaskFailed
    | TaskCancelled
    | CancelRequested
    | ActorKillRequested
    | ActorChanged
    | ObjectCreated
    | RefsChanged
    | ObjectFreed
    | WorkerStarted
    | WorkerDied
    | WorkerBlocked
    | WorkerUnblocked
    | TimeReached
)
