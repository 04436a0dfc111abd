"""Identifiers of tasks, objects and workers.

Ids are plain ints so they hash and compare fast on the hot path. Every process allocates task
and object ids in its own namespace (the high bits hold the process's worker id, 0 for the
driver), so a task submitted from inside a worker never collides with one from the driver.
"""

from __future__ import annotations

import itertools
from typing import NewType

TaskId = NewType("TaskId", int)
ObjectId = NewType("ObjectId", int)
WorkerId = NewType("WorkerId", int)

DRIVER = WorkerId(0)
_NAMESPACE_SHIFT = 40


class IdAllocator:
    """Hands out task and object ids unique across the runtime.

    `next()` on an `itertools.count` is atomic under the GIL, so any thread may allocate.
    """

    def __init__(self, namespace: WorkerId = DRIVER) -> None:
        self._counter = itertools.count(1 + (namespace << _NAMESPACE_SHIFT))

    def task_id(self) -> TaskId:
        return TaskId(next(self._counter))

    def object_id(self) -> ObjectId:
        return ObjectId(next(self._counter))


def namespace_of(any_id: int) -> WorkerId:
    """The worker whose process allocated `any_id` (0: the driver)."""
    return WorkerId(any_id >> _NAMESPACE_SHIFT)


def format_id(any_id: int) -> str:
    """A short, stable spelling for people: `3` from the driver, `w2:5` from worker 2."""
    namespace = any_id >> _NAMESPACE_SHIFT
    local = any_id & ((1 << _NAMESPACE_SHIFT) - 1)
    return f"{local}" if namespace == 0 else f"w{namespace}:{local}"
