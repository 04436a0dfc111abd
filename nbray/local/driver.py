"""The half of a backend that runs on the caller's threads: it turns API calls into events for the
scheduler, puts values in the object store and reads them out. Subclasses say how events reach
the runtime (`_send`), how a caller waits for objects (`_wait_ready`) and how to run something on
the runtime's thread (`_on_runtime_thread`: spilling and restoring need what only it knows)."""

from __future__ import annotations

import concurrent.futures
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from nbray.core import events as ev
from nbray.core.ids import DRIVER, IdAllocator, ObjectId, TaskId, format_id
from nbray.core.resources import Resources
from nbray.core.scheduler import Snapshot
from nbray.core.task import ErrorKind, TaskKind, TaskState
from nbray.exceptions import (
    GetTimeoutError,
    ObjectLostError,
    ObjectStoreFullError,
    SerializationError,
    raisable,
)
from nbray.local import protocol
from nbray.local.actor_names import ActorNames, NamedActor
from nbray.local.object_store import (
    INLINE_LIMIT,
    NOT_IN_MEMORY,
    InStore,
    ObjectStore,
    Payload,
    Spilled,
    block_size_of,
)
from nbray.local.object_table import ObjectTable, StoredError
from nbray.local.runtime import Runtime, Subscriber, describe_unhandled
from nbray.local.tasks import ActorTarget, Submitter, make_task
from nbray.object_ref import ObjectInfo, ObjectRef, RefState, set_tracker, split_ready
from nbray.options import RuntimeConfig, TaskOptions
from nbray.placement import Node
from nbray.runtime_context import ContextInfo
from nbray.serialization import FunctionBlob, Serialized, deserialize, serialize

T = TypeVar("T")

# One allocator for the whole driver process: ids never repeat, even across init/shutdown, so a
# ref kept from an earlier runtime can never name a new runtime's object.
IDS = IdAllocator(DRIVER)


class Driver:
    kind = "driver"

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.table = ObjectTable()
        self.store = ObjectStore(config.object_store_memory, config.spill_directory)
        self.context_provider: Callable[[], object] | None = None
        self.names = ActorNames(self.table.is_known)  # the backends feed it ActorChanged
        self.namespace = config.namespace or f"anonymous-{uuid.uuid4()}"  # as Ray's, per job
        self._open = True
        self.failure: str | None = None  # why the runtime died, if it did: every call says so
        self.output_handler: Callable[[ev.TaskOutput], None] | None = None
        self.node = Node.new()
        self._submitter = Submitter(DRIVER, self.node, config.runtime_env)
        set_tracker(self)

    # ---- to be provided by each backend --------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        raise NotImplementedError

    def _send(self, event: ev.Event) -> None:
        raise NotImplementedError

    def _wait_ready(
        self, object_ids: list[ObjectId], num_ready: int, timeout: float | None, wake_on_error: bool
    ) -> list[ObjectId]:
        raise NotImplementedError

    def snapshot(self) -> Snapshot:
        raise NotImplementedError

    def _on_runtime_thread(self, function: Callable[[], T]) -> T:
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
        actor: ActorTarget | None = None,
    ) -> list[ObjectRef[Any]]:
        context = self.context_provider() if self.context_provider else None
        where = self.submitter()
        spec, body = make_task(IDS, where, function, args, kwargs, options, context, None, actor)
        self.table.expect(spec.return_ids)
        self._send(ev.TaskSubmitted(spec, time.time(), body))
        return [ObjectRef(oid, spec.name, spec.task_id, self) for oid in spec.return_ids]

    def submitter(self) -> Submitter:
        """What tasks submitted now inherit: the runtime's environment, from the driver."""
        return self._submitter

    def put(self, value: Any) -> ObjectRef[Any]:
        serialized = serialize(value, what="value passed to put")
        oid = IDS.object_id()
        self.table.store(oid, self.place(serialized))
        self._send(ev.ObjectCreated(oid, serialized.size, time.time(), serialized.contained_ids))
        return ObjectRef(oid, "put", None, self)

    def get(
        self, refs: Sequence[ObjectRef[Any]], timeout: float | None, return_exceptions: bool = False
    ) -> list[Any]:
        __tracebackhide__ = True
        ids = [ref.id for ref in refs]
        self._check_known(refs)
        ready = self._wait_ready(ids, len(ids), timeout, wake_on_error=not return_exceptions)
        entries = [self.table.lookup(oid) for oid in ids]
        for entry in entries:
            if isinstance(entry, StoredError):
                entry.fetched = True
                if not return_exceptions:
                    raise raisable(entry.error())
        if len(ready) < len(ids):
            waiting = len(ids) - len(ready)
            raise GetTimeoutError(
                f"get timed out after {timeout} s: {waiting} of {len(ids)} objects are not ready. "
                "Raise the timeout, or use nbray.wait to take the results that are ready."
            )
        return [
            raisable(e.error()) if isinstance(e, StoredError) else self._read(oid)
            for oid, e in zip(ids, entries, strict=True)
        ]

    def future(self, ref: ObjectRef[Any]) -> concurrent.futures.Future[Any]:
        self._check_known([ref])
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def resolve() -> None:
            try:
                future.set_result(self.get([ref], timeout=0)[0])
            except BaseException as error:  # the task's error, or the runtime shut down
                future.set_exception(error)

        self.table.when_ready(ref.id, resolve)
        return future

    def next_streamed(
        self, end: ObjectRef[Any], index: int, timeout: float | None
    ) -> ObjectRef[Any] | None:
        """The `index`-th item of a streaming task, waiting for it; None once the stream ended
        without it."""
        self._check_known([end])
        found = self.table.next_in_stream(end.task_id(), index, end.id, timeout)  # type: ignore[arg-type]
        if found is None:
            return None
        self.acquire(found)  # a ref handed out by the generator counts like any other
        return ObjectRef(found, end.origin, end.task_id(), self)

    def ref_state(self, ref: ObjectRef[Any]) -> RefState:
        entry = self.table.lookup(ref.id)
        if isinstance(entry, StoredError):
            cancelled = entry.info.kind is ErrorKind.CANCELLED
            return RefState.CANCELLED if cancelled else RefState.FAILED
        if entry is not None:
            return RefState.FINISHED
        task_id = ref.task_id()
        if task_id is not None:
            state = self._on_runtime_thread(lambda: self.runtime.scheduler.task_state(task_id))
            if state is TaskState.RUNNING:
                return RefState.RUNNING
        return RefState.PENDING

    def object_info(self, ref: ObjectRef[Any]) -> ObjectInfo:
        entry = self.table.lookup(ref.id)
        if isinstance(entry, Serialized):
            return ObjectInfo(RefState.FINISHED, entry.size, "inline")
        if isinstance(entry, InStore):
            return ObjectInfo(RefState.FINISHED, entry.size, "shared memory")
        if isinstance(entry, Spilled):
            return ObjectInfo(RefState.FINISHED, entry.size, "spilled to disk")
        return ObjectInfo(self.ref_state(ref), None, "")

    def ref_exception(self, ref: ObjectRef[Any]) -> BaseException | None:
        entry = self.table.lookup(ref.id)
        if not isinstance(entry, StoredError):
            return None
        entry.fetched = True  # looked at: handled
        return raisable(entry.error())

    def wait(
        self, refs: Sequence[ObjectRef[Any]], num_returns: int, timeout: float | None
    ) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]:
        self._check_known(refs)
        ready_ids = self._wait_ready([r.id for r in refs], num_returns, timeout, False)
        return split_ready(refs, ready_ids, num_returns)

    def cancel(self, ref: ObjectRef[Any], force: bool, recursive: bool) -> None:
        task_id = ref.task_id()
        if task_id is None:
            return
        if force:
            kind = self._on_runtime_thread(lambda: self.runtime.scheduler.task_kind(task_id))
            if kind is TaskKind.ACTOR_METHOD:  # killing its worker would kill the actor
                raise ValueError(
                    "force=True is not supported for actor tasks (it would kill the actor): "
                    "cancel the call without force, or end the actor with nbray.kill(actor)."
                )
        self.cancel_task(task_id, force, recursive)

    def cancel_task(self, task_id: TaskId, force: bool, recursive: bool) -> None:
        self._send(ev.CancelRequested(task_id, force, time.time(), recursive))

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self.runtime.subscribe(callback)

    def on_output(self, event: ev.TaskOutput) -> None:
        """The driver's own subscriber to TaskOutput: what tasks print goes to the output
        handler, or to this process's stdout/stderr (as Ray's log_to_driver)."""
        handler = self.output_handler or echo_output
        handler(event)

    def gpu_ids(self) -> list[int]:
        return []  # the driver is given no GPUs: tasks are

    def context_info(self) -> ContextInfo:
        return ContextInfo(
            self.node.node_id, self.namespace, DRIVER, None, None, self.config.runtime_env
        )

    def assigned_resources(self, task_id: TaskId) -> Resources:
        return self._on_runtime_thread(lambda: self.runtime.scheduler.assigned_resources(task_id))

    def in_actor_method(self) -> bool:
        return False

    # ---- actors ----------------------------------------------------------------------------

    def kill_actor(self, actor_id: TaskId, no_restart: bool) -> None:
        if no_restart:  # its name is free once kill returns, as in Ray
            self.names.forget(actor_id)
        self._send(ev.ActorKillRequested(actor_id, no_restart, time.time()))

    def claim_actor_name(self, namespace: str | None, name: str, handle: Any) -> Any:
        """Name the actor of `handle`; the handle of the live actor that has the name already,
        if any (then nothing changes)."""
        creation = handle._creation
        entry = NamedActor(creation.task_id(), creation.id, serialize(handle))
        taken = self.names.claim((namespace or self.namespace, name), entry)
        return None if taken is None else deserialize(taken.handle)

    def named_actor(self, namespace: str | None, name: str) -> Any:
        """The handle of the live actor named so; None if there is none."""
        entry = self.names.lookup((namespace or self.namespace, name))
        return None if entry is None else deserialize(entry.handle)

    def actor_names(self, all_namespaces: bool) -> list[tuple[str, str]]:
        return self.names.names(None if all_namespaces else self.namespace)

    def answer_names(self, request: protocol.NameRequest) -> Any:
        """A task's request about actor names (on the event loop: the handles stay pickled)."""
        if isinstance(request, protocol.ListNames):
            names = self.actor_names(request.all_namespaces)
            return protocol.NamesReply(request.request_id, names)
        key = (request.namespace or self.namespace, request.name)
        if isinstance(request, protocol.ClaimName):
            entry = NamedActor(request.actor_id, request.handle_id, request.handle)
            taken = self.names.claim(key, entry)
        else:
            taken = self.names.lookup(key)
        return protocol.NameReply(request.request_id, None if taken is None else taken.handle)

    def shutdown(self) -> None:
        if not self._open:
            return
        self._open = False
        set_tracker(None)
        self._close()
        self.store.close()
        self.table.close()
        for error in self.table.unfetched_errors():
            self.runtime.report(describe_unhandled(error))

    # ---- the object store ----------------------------------------------------------------

    def place(self, value: Serialized) -> Payload:
        """Where a new value goes: inline if small, else a block of the arena (spilling older
        objects to disk if the arena is full)."""
        if value.size < INLINE_LIMIT:
            return value
        block_size = block_size_of(value)
        if block_size > self.store.capacity:
            raise self._store_full(value.size, "it is larger than the whole store")
        location = self.store.write(value)
        if location is None and self._on_runtime_thread(lambda: self.runtime.make_room(block_size)):
            location = self.store.write(value)
        if location is None:
            raise self._store_full(value.size, "what it holds is in use, so none could be spilled")
        return location

    def _read(self, object_id: ObjectId) -> Any:
        try:
            return self._load(object_id)
        except SystemExit as error:  # the value's own unpickling code: it must not exit us
            raise SerializationError(
                f"Unpickling the value of object {format_id(object_id)} raised "
                f"SystemExit({error.code!r}); its class's __reduce__ or __setstate__ exits."
            ) from error

    def _load(self, object_id: ObjectId) -> Any:
        while True:  # an object may move between memory and disk meanwhile: look again
            entry = self.table.lookup(object_id)
            if isinstance(entry, Serialized):
                return deserialize(entry)
            if isinstance(entry, Spilled):
                if not self._on_runtime_thread(lambda: self.runtime.restore(object_id)):
                    loaded = self.store.load_spilled(object_id, self.table)
                    if loaded is not None:  # (else restored meanwhile: read it from memory)
                        return deserialize(loaded)
                continue
            value = self.store.read(object_id, self.table, self)
            if value is not NOT_IN_MEMORY:
                return value

    def _store_full(self, size: int, why: str) -> ObjectStoreFullError:
        used, largest = self.store.usage()
        in_memory = sum(isinstance(e, InStore) for _, e in self.table.entries())
        return ObjectStoreFullError(
            f"The object store cannot take a new object of {_mb(size)}: {why}. It holds "
            f"{in_memory} objects in {_mb(used)} of its {_mb(self.store.capacity)} (largest free "
            f"block {_mb(largest)}; {_mb(self.store.spilled_bytes)} spilled to disk). Objects "
            "in use are those viewed by arrays you hold from get, needed by queued or running "
            "tasks, or held by workers. Delete refs and arrays you no longer need, or start "
            "nbray with a larger store: nbray.init(object_store_memory=...)."
        )

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


def echo_output(event: ev.TaskOutput) -> None:
    stream = sys.stdout if event.stream == "stdout" else sys.stderr
    stream.write(event.text)
    stream.flush()


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"
