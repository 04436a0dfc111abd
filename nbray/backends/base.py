"""The seam between the Ray-compatible API and what runs tasks: one small typed protocol.

Implemented by `nbray.local.backend.LocalBackend` (worker processes, the default),
`nbray.backends.inline.InlineBackend` (the same scheduler, synchronously in-process) and, inside
worker processes, `nbray.local.worker_client.WorkerClient`. One contract test suite runs against
every backend (tests/contract/).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from nbray.core.events import Event
from nbray.core.scheduler import Snapshot
from nbray.object_ref import ObjectRef
from nbray.options import TaskOptions
from nbray.serialization import FunctionBlob


class Backend(Protocol):
    kind: str

    def submit(
        self,
        function: FunctionBlob,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        options: TaskOptions,
    ) -> list[ObjectRef[Any]]: ...

    def put(self, value: Any) -> ObjectRef[Any]: ...

    def get(self, refs: Sequence[ObjectRef[Any]], timeout: float | None) -> list[Any]: ...

    def wait(
        self, refs: Sequence[ObjectRef[Any]], num_returns: int, timeout: float | None
    ) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]: ...

    def cancel(self, ref: ObjectRef[Any], force: bool, recursive: bool) -> None: ...

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]: ...

    def snapshot(self) -> Snapshot: ...

    def shutdown(self) -> None: ...
