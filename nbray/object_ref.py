"""`ObjectRef`: the name of a value in the object store, like a future.

The ref returned by `.remote()` or `put` is the owner's ref: when it is garbage collected, the
runtime is told (through a callback that only enqueues, so it is safe in `__del__` on any thread).
Refs rebuilt by unpickling are borrowed: the value that carried them keeps their object alive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from nbray.core.ids import ObjectId, TaskId, format_id
from nbray.serialization import record_contained_ref

R = TypeVar("R")


class ObjectRef(Generic[R]):
    __slots__ = ("__weakref__", "_id", "_on_release", "_origin", "_task_id")

    def __init__(
        self,
        object_id: ObjectId,
        origin: str = "",
        task_id: TaskId | None = None,
        on_release: Callable[[ObjectId], None] | None = None,
    ) -> None:
        self._id = object_id
        self._origin = origin
        self._task_id = task_id
        self._on_release = on_release

    @property
    def id(self) -> ObjectId:
        return self._id

    @property
    def origin(self) -> str:
        """What made the object: the task's function name, or "put"."""
        return self._origin

    def task_id(self) -> TaskId | None:
        """The task that makes this object (None for `put`)."""
        return self._task_id

    def hex(self) -> str:
        return f"{self._id:016x}"

    def __hash__(self) -> int:
        return hash(self._id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectRef) and other._id == self._id

    def __repr__(self) -> str:
        origin = f", {self._origin}" if self._origin else ""
        return f"ObjectRef({format_id(self._id)}{origin})"

    def __reduce__(self) -> tuple[Any, ...]:
        record_contained_ref(self._id)
        return _borrowed_ref, (self._id, self._origin, self._task_id)

    def __del__(self) -> None:
        if self._on_release is not None:
            self._on_release(self._id)


def _borrowed_ref(object_id: ObjectId, origin: str, task_id: TaskId | None) -> ObjectRef[Any]:
    return ObjectRef(object_id, origin, task_id)
