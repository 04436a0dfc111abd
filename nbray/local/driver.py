"""The half of a backend that runs on the caller's threads: it turns API calls into events for the
scheduler and reads values out of the object table. Subclasses say how events reach the runtime
(`_send`) and how a caller waits for objects (`_wait_ready`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from nbray.core import events as ev
from nbray.core.ids import DRIVER, IdAllocator, ObjectId
from nbray.core.scheduler import Snapshot
from nbray.exceptions import GetTimeoutError, ObjectLostError, RayError, RayTaskError
from nbray.local.object_table import ObjectTable, StoredError
from nbray.local.runtime import Runtime, Subscriber, describe_unhandled
from nbray.local.tasks import make_task_spec
from nbray.object_ref import ObjectRef, set_tracker
from nbray.options import RuntimeConfig, TaskOptions
from nbray.serialization import FunctionBlob, deserialize, serialize

# One allocator for the whole driver process: ids never repeat, even across init/shutdown, so a
# ref kept from an earlier runtime can never name a new runtime's object.
_IDS = IdAllocator(DRIVER)


class Driver:
    kind = "driver"

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.table = ObjectTable()
        self.context_provider: Callable[[], object] | None = None
        self._open = True
        set_tracker(self)

    # ---- to be provided by each backend --------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        raise NotImplementedError

    def _send(self, *events: ev.Event) -> None:
        raise NotImplementedError

    def _wait_ready(
        self, object_ids: list[ObjectId], num_ready: int, timeout: float | None, wake_on_error: bool
    ) -> list[ObjectId]:
        raise NotImplementedError

    def snapshot(self) -> Snapshot:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    # ---- the backend API -----------------------------------------------------------------

    def submit(
        self,
        function: FunctionBlob,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        options: TaskOptions,
    ) -> list[ObjectRef[Any]]:
        context = self.context_provider() if self.context_provider else None
        spec = make_task_spec(_IDS, function, args, kwargs, options, DRIVER, context)
        self.table.expect(spec.return_ids)
        self._send(ev.TaskSubmitted(spec, time.time()))
        return [ObjectRef(oid, spec.name, spec.task_id, self.release) for oid in spec.return_ids]

    def put(self, value: Any) -> ObjectRef[Any]:
        serialized = serialize(value, what="value passed to put")
        oid = _IDS.object_id()
        self.table.store(oid, serialized)
        self._send(ev.ObjectCreated(oid, serialized.size, time.time(), serialized.contained_ids))
        return ObjectRef(oid, "put", None, self.release)

    def get(self, refs: Sequence[ObjectRef[Any]], timeout: float | None) -> list[Any]:
        ids = [ref.id for ref in refs]
        self._check_known(refs)
        ready = self._wait_ready(ids, len(ids), timeout, wake_on_error=True)
        entries = [self.table.lookup(oid) for oid in ids]
        for entry in entries:
            if isinstance(entry, StoredError):
                entry.fetched = True
                raise raisable(entry.error)
        if len(ready) < len(ids):
            waiting = len(ids) - len(ready)
            raise GetTimeoutError(
                f"get timed out after {timeout} s: {waiting} of {len(ids)} objects are not ready. "
                "Raise the timeout, or use nbray.wait to take the results that are ready."
            )
        return [deserialize(entry) for entry in entries]  # type: ignore[arg-type]

    def wait(
        self, refs: Sequence[ObjectRef[Any]], num_returns: int, timeout: float | None
    ) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]:
        self._check_known(refs)
        ready_ids = self._wait_ready([r.id for r in refs], num_returns, timeout, False)
        return split_ready(refs, ready_ids, num_returns)

    def cancel(self, ref: ObjectRef[Any], force: bool) -> None:
        task_id = ref.task_id()
        if task_id is not None:
            self._send(ev.CancelRequested(task_id, force, time.time()))

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self.runtime.subscribe(callback)

    def shutdown(self) -> None:
        if not self._open:
            return
        self._open = False
        set_tracker(None)
        self._close()
        self.table.close()
        for error in self.table.unfetched_errors():
            self.runtime.report(describe_unhandled(error.error))

    # ---- helpers -------------------------------------------------------------------------

    def acquire(self, object_id: ObjectId) -> None:
        """A ref or view of `object_id` appeared in this process (RefTracker)."""
        if self._open:
            self._send(ev.RefsChanged(DRIVER, ((object_id, +1),), time.time()))

    def release(self, object_id: ObjectId) -> None:
        """A ref or view went away: called from `__del__` or finalizers on any thread, so it
        only enqueues (RefTracker)."""
        if self._open:
            self._send(ev.RefsChanged(DRIVER, ((object_id, -1),), time.time()))

    def _check_known(self, refs: Sequence[ObjectRef[Any]]) -> None:
        for ref in refs:
            if not self.table.is_known(ref.id):
                raise ObjectLostError(
                    f"{ref!r} does not exist in this runtime: it was freed, or it belongs to a "
                    "runtime that was shut down. Re-run the code that created it."
                )


def split_ready(
    refs: Sequence[ObjectRef[Any]], ready_ids: Iterable[ObjectId], num_returns: int
) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]:
    """`wait`'s answer: up to `num_returns` ready refs and all the others, both in input order."""
    ready_set = set(ready_ids)
    ready = [r for r in refs if r.id in ready_set][:num_returns]
    chosen = {r.id for r in ready}
    return ready, [r for r in refs if r.id not in chosen]


def raisable(error: RayError) -> BaseException:
    """The exception `get` raises for a stored error: typed like the task's own exception."""
    if isinstance(error, RayTaskError):
        return error.with_remote_traceback()
    return error.with_traceback(None)
