"""The runtime: feeds events to the scheduler and carries out its instructions.

It is owned by one thread at a time — the event-loop thread of the local backend, or the caller's
thread in the inline backend — and decides nothing itself: where to run what is the scheduler's
call; how to start a process or send a message is the worker pool's.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Protocol

from nbray.core import events as ev
from nbray.core import instructions as ins
from nbray.core.ids import ObjectId, TaskId, WorkerId
from nbray.core.scheduler import SchedulerConfig, SchedulerState
from nbray.core.task import ErrorKind, TaskSpec
from nbray.exceptions import RayError
from nbray.local.object_store import INLINE_LIMIT, InStore, ObjectStore, Payload, Spilled
from nbray.local.object_table import ERROR_TYPES, ObjectTable, StoredError
from nbray.local.tasks import TaskBody
from nbray.options import RuntimeConfig, machine_cpus
from nbray.serialization import Serialized

Subscriber = Callable[[ev.Event], None]


class WorkerPool(Protocol):
    # Can a worker take a task while it runs one (run them in order, hand back those it holds
    # while its task waits in get/wait, skip the cancelled)? Then the scheduler pipelines.
    queues_tasks: bool

    def spawn(self, worker_id: WorkerId) -> None: ...
    def stop(self, worker_id: WorkerId) -> None: ...
    def interrupt(self, worker_id: WorkerId, task_id: TaskId) -> None: ...
    def dispatch(
        self,
        worker_id: WorkerId,
        spec: TaskSpec,
        body: TaskBody,
        resolved: Mapping[ObjectId, Payload],
        gpu_ids: tuple[int, ...],
    ) -> None: ...


_REPORTABLE = frozenset({ErrorKind.TASK_ERROR, ErrorKind.WORKER_CRASHED, ErrorKind.UNSCHEDULABLE})


PIPELINE_BELOW = 0.001  # seconds: a task whose function last ran shorter gets one queued behind


def scheduler_config(config: RuntimeConfig, queues_tasks: bool) -> SchedulerConfig:
    # Workers for the CPUs the machine has start at once; more (num_cpus may oversubscribe it)
    # as tasks wait for them, one at a time, up to twice the CPUs asked for, so zero- and
    # fractional-CPU tasks can share the machine.
    started = min(config.num_cpus, machine_cpus())
    max_workers = max(2 * config.num_cpus, 2)
    pipeline_below = PIPELINE_BELOW if queues_tasks else 0.0
    return SchedulerConfig(config.total(), started, max_workers, pipeline_below)


class Runtime:
    def __init__(
        self,
        config: RuntimeConfig,
        pool: WorkerPool,
        table: ObjectTable,
        store: ObjectStore,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.scheduler = SchedulerState(scheduler_config(config, pool.queues_tasks))
        self.pool = pool
        self.table = table
        self.store = store
        self.report = report or _print_to_stderr
        self._subscribers: tuple[tuple[Subscriber, type[ev.Event] | None], ...] = ()
        self._subscribers_lock = threading.Lock()
        self.wake_at: float | None = None  # (time.time()) when the scheduler wants TimeReached

    def handle(self, *events: ev.Event) -> None:
        for instruction in self.scheduler.handle(*events):
            _CARRY_OUT[type(instruction)](self, instruction)

    # ---- the event stream ----------------------------------------------------------------

    def subscribe(
        self, callback: Subscriber, kind: type[ev.Event] | None = None
    ) -> Callable[[], None]:
        """Call `callback(event)` for every runtime event (or only those of type `kind`), on
        the runtime's thread, until the returned function is called. Callbacks must be quick
        and must not block."""
        entry = (callback, kind)
        with self._subscribers_lock:
            self._subscribers = (*self._subscribers, entry)

        def unsubscribe() -> None:
            with self._subscribers_lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not entry)

        return unsubscribe

    def _publish(self, instruction: ins.Publish) -> None:
        for callback, kind in self._subscribers:
            for event in instruction.events:
                if kind is not None and type(event) is not kind:
                    continue  # a type check, not a call of a callback that ignores it
                try:
                    callback(event)
                except BaseException as error:  # a broken subscriber must not stop the runtime
                    warnings.warn(
                        f"nbray event subscriber {callback!r} raised {error!r}", stacklevel=1
                    )

    # ---- instructions --------------------------------------------------------------------

    def _spawn(self, instruction: ins.SpawnWorker) -> None:
        self.pool.spawn(instruction.worker_id)

    def _stop(self, instruction: ins.StopWorker) -> None:
        self.pool.stop(instruction.worker_id)

    def _wake_at(self, instruction: ins.WakeAt) -> None:
        self.wake_at = instruction.time

    def _interrupt(self, instruction: ins.InterruptTask) -> None:
        self.pool.interrupt(instruction.worker_id, instruction.task_id)

    def _dispatch(self, instruction: ins.Dispatch) -> None:
        resolved = {oid: self.payload_of(oid) for oid in instruction.spec.dependencies}
        body = instruction.body
        assert isinstance(body, TaskBody)
        self.pool.dispatch(
            instruction.worker_id, instruction.spec, body, resolved, instruction.gpu_ids
        )

    def _store_values(self, instruction: ins.StoreValues) -> None:
        for oid, value in zip(instruction.object_ids, instruction.values, strict=True):
            assert isinstance(value, (Serialized, InStore))
            self.table.store(oid, value)

    def _append_to_stream(self, instruction: ins.AppendToStream) -> None:
        self.table.append_to_stream(instruction.task_id, instruction.object_id)

    def _discard_values(self, instruction: ins.DiscardValues) -> None:
        for value in instruction.values:
            if isinstance(value, InStore):
                self.store.free(value.offset)

    def _store_error(self, instruction: ins.StoreError) -> None:
        entry = self._error_entry(instruction)
        for oid in instruction.object_ids:
            self.table.store(oid, entry)

    def _error_entry(self, instruction: ins.StoreError) -> StoredError:
        info, value = instruction.error, instruction.value
        if info.cause_object is not None:
            cause = self.table.lookup(info.cause_object)
            if isinstance(cause, StoredError):  # the same error, reported once (as the cause)
                return StoredError(cause.info, cause.pickled, cause.task_name, reportable=False)
        pickled = value if isinstance(value, Serialized) else None
        return StoredError(info, pickled, instruction.task_name, info.kind in _REPORTABLE)

    def _free(self, instruction: ins.FreeObjects) -> None:
        for oid in instruction.object_ids:
            entry = self.table.free(oid)
            if isinstance(entry, InStore):
                self.store.free(entry.offset)
            elif isinstance(entry, Spilled):
                self.store.discard(entry)
            elif isinstance(entry, StoredError) and entry.reportable and not entry.fetched:
                self.report(describe_unhandled(entry))

    # ---- memory: on the runtime's thread, which knows who may be reading what -------------

    def payload_of(self, object_id: ObjectId) -> Payload:
        """How to send a ready value to a worker: restored from disk first if it was spilled
        (or, if the arena cannot take it back, read from disk inline)."""
        entry = self.table.lookup(object_id)
        if isinstance(entry, Spilled) and not self.restore(object_id):
            loaded = self.store.load_spilled(object_id, self.table)
            if loaded is not None:  # (else a user thread's read restored it meanwhile)
                return loaded
        entry = self.table.lookup(object_id)
        assert isinstance(entry, (Serialized, InStore)), f"{object_id} is not ready: {entry}"
        return entry

    def restore(self, object_id: ObjectId) -> bool:
        entry = self.table.lookup(object_id)
        if not isinstance(entry, Spilled):
            return True
        return self.store.restore(object_id, self.table) or (
            self.make_room(entry.block.block_size) and self.store.restore(object_id, self.table)
        )

    def make_room(self, size: int) -> bool:
        """Spill objects nobody can be reading, oldest first, until a block of `size` fits."""
        if self.store.usage()[1] >= size:
            return True
        for object_id in self.scheduler.spill_candidates(min_size=INLINE_LIMIT):
            try:
                spilled = self.store.spill(object_id, self.table)
            except OSError as error:  # the disk is full too
                self.report(f"nbray: could not spill objects to disk: {error}\n")
                return False
            if spilled and self.store.usage()[1] >= size:
                return True
        return False

    def allocate(self, size: int) -> int | None:
        """A block for a value a worker is about to write, making room if need be."""
        offset = self.store.allocate(size)
        if offset is None and self.make_room(size):
            offset = self.store.allocate(size)
        return offset


def describe_unhandled(entry: StoredError) -> str:
    """The report of an error nobody fetched, from its plain facts (on the runtime's thread:
    nothing of the user's is unpickled)."""
    info = entry.info
    what = f"Task {entry.task_name}" if entry.task_name else "A task"
    if info.kind is ErrorKind.TASK_ERROR:
        detail = info.traceback.rstrip() or f"{info.type_name}: {info.message}"
    else:
        detail = f"{ERROR_TYPES.get(info.kind, RayError).__name__}: {info.message}"
    return (
        f"nbray: {what} failed and nobody fetched its result, so here is its error "
        f"(call nbray.get on the ref to handle it yourself):\n{detail}\n"
    )


def _print_to_stderr(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


_CARRY_OUT: dict[type, Callable[[Runtime, ins.Instruction], None]] = {
    ins.SpawnWorker: Runtime._spawn,  # type: ignore[dict-item]
    ins.StopWorker: Runtime._stop,  # type: ignore[dict-item]
    ins.InterruptTask: Runtime._interrupt,  # type: ignore[dict-item]
    ins.Dispatch: Runtime._dispatch,  # type: ignore[dict-item]
    ins.StoreValues: Runtime._store_values,  # type: ignore[dict-item]
    ins.DiscardValues: Runtime._discard_values,  # type: ignore[dict-item]
    ins.AppendToStream: Runtime._append_to_stream,  # type: ignore[dict-item]
    ins.StoreError: Runtime._store_error,  # type: ignore[dict-item]
    ins.FreeObjects: Runtime._free,  # type: ignore[dict-item]
    ins.WakeAt: Runtime._wake_at,  # type: ignore[dict-item]
    ins.Publish: Runtime._publish,  # type: ignore[dict-item]
}
