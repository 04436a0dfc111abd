"""Instructions: commands from the scheduler to the shell that runs it.

Read-only by convention, not frozen (several are built per task; see `events`)."""

from __future__ import annotations

from dataclasses import dataclass

from nbray.core.events import Event
from nbray.core.ids import ObjectId, TaskId, WorkerId
from nbray.core.task import ErrorInfo, TaskSpec


@dataclass(slots=True)
class SpawnWorker:
    worker_id: WorkerId


@dataclass(slots=True)
class StopWorker:
    worker_id: WorkerId


@dataclass(slots=True)
class Dispatch:
    """Run `spec` (with the `body` it was submitted with) on `worker_id`; its top-level
    dependencies are available in the store. `gpu_ids` are the devices it may use (its
    CUDA_VISIBLE_DEVICES)."""

    spec: TaskSpec
    worker_id: WorkerId
    gpu_ids: tuple[int, ...] = ()
    body: object = None


@dataclass(slots=True)
class InterruptTask:
    """Raise `KeyboardInterrupt` inside `task_id` on this worker if it runs there now, or make
    the worker skip it if it is queued there; a task that has ended is left alone."""

    worker_id: WorkerId
    task_id: TaskId


@dataclass(slots=True)
class StoreValues:
    """Store a task's serialized results, one per object id (handed back from `TaskReturned`)."""

    object_ids: tuple[ObjectId, ...]
    values: tuple[object, ...]


@dataclass(slots=True)
class AppendToStream:
    """A streaming task's next item is `object_id`: its generator in the caller may take it."""

    task_id: TaskId
    object_id: ObjectId


@dataclass(slots=True)
class DiscardValues:
    """A task's results arrived after it stopped counting (cancelled by force): drop them."""

    values: tuple[object, ...]


@dataclass(slots=True)
class StoreError:
    """Make these objects raise when fetched: `value` is a worker's serialized exception; without
    it the shell builds the exception from `error` (copying the stored error of
    `error.cause_object` when another object's failure caused this one)."""

    object_ids: tuple[ObjectId, ...]
    error: ErrorInfo
    value: object = None
    task_name: str = ""


@dataclass(slots=True)
class FreeObjects:
    object_ids: tuple[ObjectId, ...]


@dataclass(slots=True)
class WakeAt:
    """Send `TimeReached` at `time` (event time) if no event comes before: a decision is due
    then. A later `WakeAt` replaces an earlier one."""

    time: float


@dataclass(slots=True)
class Publish:
    """Tell subscribers of the runtime's event stream that `events` happened, in order."""

    events: list[Event]


Instruction = (
    SpawnWorker
    | StopWorker
    | Dispatch
    | InterruptTask
    | StoreValues
    | DiscardValues
    | AppendToStream
    | StoreError
    | FreeObjects
    | WakeAt
    | Publish
)
