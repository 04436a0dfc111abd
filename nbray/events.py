"""The runtime's event stream: facts about tasks, objects and workers, for any observer.

    unsubscribe = nbray.events.subscribe(print)   # called on the runtime's thread, keep it quick
    nbray.events.snapshot()                       # the live state, consistent, as plain data

Every backend publishes the same events; the notebook widgets, magics and the JupyterLab sidebar
are folds over this stream. Task events name the task by id; `TaskSubmitted` carries its spec,
with the caller's context (set by `set_context_provider`) in `spec.context`. Events come in the
order they happened, a step of the runtime at a time (after that step's work is done), and are
read-only: share them, do not change them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nbray.api import (
    current_backend,
    set_blocking_observer,
    set_context_provider,
    set_output_handler,
)
from nbray.core.events import (
    Event,
    ObjectCreated,
    ObjectFreed,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskOutput,
    TaskStarted,
    TaskSubmitted,
    WorkerDied,
    WorkerStarted,
)
from nbray.core.ids import TaskId
from nbray.core.scheduler import Snapshot
from nbray.object_ref import ObjectInfo, ObjectRef


def subscribe(callback: Callable[[Event], None]) -> Callable[[], None]:
    """Call `callback(event)` for each event of the running runtime; returns `unsubscribe`."""
    unsubscribe: Callable[[], None] = current_backend().subscribe(callback)
    return unsubscribe


def cancel_task(task_id: TaskId, force: bool = False) -> None:
    """Cancel a task named by its id (as the events name tasks), like `nbray.cancel(ref)`."""
    current_backend().cancel_task(task_id, force, recursive=True)


def object_info(ref: ObjectRef[Any]) -> ObjectInfo:
    """The state of the object a ref names, its size once made and where it lives."""
    info: ObjectInfo = current_backend().object_info(ref)
    return info


def snapshot() -> Snapshot:
    """The runtime's live tasks, objects, workers and resources, as of now."""
    state: Snapshot = current_backend().snapshot()
    return state


__all__ = [
    "Event",
    "ObjectCreated",
    "ObjectFreed",
    "ObjectInfo",
    "Snapshot",
    "TaskCancelled",
    "TaskFailed",
    "TaskFinished",
    "TaskOutput",
    "TaskStarted",
    "TaskSubmitted",
    "WorkerDied",
    "WorkerStarted",
    "cancel_task",
    "object_info",
    "set_blocking_observer",
    "set_context_provider",
    "set_output_handler",
    "snapshot",
    "subscribe",
]
