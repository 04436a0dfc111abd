"""What a task is (its spec), the states it moves through, and what a failure says about itself."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from nbray.core.ids import DRIVER, ObjectId, TaskId, WorkerId
from nbray.core.resources import Resources

ONE_CPU = Resources({"CPU": 1})


class TaskKind(enum.Enum):
    TASK = "task"
    ACTOR_CREATION = "actor creation"  # runs the constructor on the actor's own new worker
    ACTOR_METHOD = "actor method"  # runs on the actor's worker, in submission order


class TaskState(enum.Enum):
    WAITING_FOR_ARGS = "waiting for args"
    READY = "ready"
    QUEUED = "queued"  # sent to a worker, to run when the (short) task it runs now ends
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    # Members are singletons compared by identity: hash them as objects, in C (Enum's own
    # __hash__ is Python code, and every transition looks one up).
    __hash__ = object.__hash__

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({TaskState.FINISHED, TaskState.FAILED, TaskState.CANCELLED})


@dataclass(slots=True)
class TaskSpec:
    """Everything the scheduler needs to know about one task, and what subscribers see of it.

    What a worker needs to run it (function and serialized arguments) is the shell's `body`,
    carried beside the spec in `TaskSubmitted` and `Dispatch`: the core never looks inside it, and
    it is never published. `context` is the caller's opaque tag (the notebook layer puts the cell
    there). Read-only by convention, not frozen: a frozen dataclass is built field by field
    through `object.__setattr__`, five times slower, and one is built for every task.
    """

    task_id: TaskId
    name: str
    return_ids: tuple[ObjectId, ...]
    dependencies: tuple[ObjectId, ...] = ()  # top-level ref arguments: resolved before it runs
    contained_ids: tuple[ObjectId, ...] = ()  # refs nested in the arguments: passed as refs
    captured_ids: tuple[ObjectId, ...] = ()  # refs in the function's closure: pinned for good
    resources: Resources = ONE_CPU
    max_retries: int = 3
    max_calls: int = 0  # a worker is replaced after this many tasks of `function_key` (0: never)
    function_key: bytes = b""
    parent: TaskId | None = None  # the task that submitted this one, if any
    kind: TaskKind = TaskKind.TASK
    actor_id: TaskId | None = None  # the actor's creation task, for its creation and methods
    max_restarts: int = 0  # actor creation: how often a dead actor is brought back
    max_concurrency: int = 1  # actor creation: how many of its methods may run at once
    detached: bool = False  # actor creation: it lives until killed, handles or not
    owner: WorkerId = DRIVER
    context: object = None
    infeasible: str = ""  # why it can never run here, whatever is free (a place it asks for)


class ErrorKind(enum.Enum):
    """Why a task produced an error instead of values; the shell maps each to an exception type."""

    TASK_ERROR = "the task raised an exception"
    WORKER_CRASHED = "the worker process running the task died"
    CANCELLED = "the task was cancelled"
    UNSCHEDULABLE = "no worker can ever satisfy the task's resource request"
    DEPENDENCY_FAILED = "an argument of the task failed"
    OBJECT_LOST = "an argument of the task no longer exists"
    WORKERS_CANNOT_START = "worker processes fail to start"
    ACTOR_DIED = "the actor is dead"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failure as plain data, safe to publish to any subscriber."""

    kind: ErrorKind
    message: str
    type_name: str = ""
    traceback: str = ""
    cause_object: ObjectId | None = None
    retryable: bool = False  # the task asked to be retried on this exception (retry_exceptions)
