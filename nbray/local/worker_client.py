"""The backend inside a worker process: `get`, `wait`, `put` and `.remote()` called by a task.

A worker runs one task at a time on its main thread, so a request is simply sent and its reply
read from the same channel. The only other messages there are tasks queued behind the running
one (pipelining): those that come before the reply are bounced back unstarted, since the running
task may be waiting for one of them. An actor that runs calls concurrently switches to
`receive_concurrently`: a reader thread then owns the channel, queues the calls it receives and
hands each reply to the call waiting for it.

It is also the worker's `RefTracker`: refs and views gained and lost here are netted and sent
ahead of the next message, so the driver learns what the worker still holds before it hears
that a task ended (and before it could free what that task passed on).
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from nbray.core.ids import IdAllocator, ObjectId, TaskId, WorkerId
from nbray.exceptions import GetTimeoutError, ObjectStoreFullError, RaySystemError, raisable
from nbray.local import protocol
from nbray.local.object_store import INLINE_LIMIT, Arena, InStore, Payload, block_size_of
from nbray.local.output import OutputCapture
from nbray.local.tasks import ActorHost, ActorTarget, FunctionCache, Submitter, make_task
from nbray.object_ref import ObjectRef, split_ready
from nbray.options import TaskOptions
from nbray.placement import Node
from nbray.runtime_context import ContextInfo
from nbray.runtime_env import Environment
from nbray.serialization import FunctionBlob, Serialized, deserialize, serialize

if TYPE_CHECKING:
    from concurrent.futures import Future


class WorkerClient:
    kind = "worker"
    failure = None  # a worker's backend lives as long as its process

    def __init__(
        self,
        channel: protocol.Channel,
        worker_id: WorkerId,
        arena: Arena,
        node: Node,
        namespace: str = "",
    ) -> None:
        self._channel = channel
        self._arena = arena
        self.worker_id = worker_id
        self.node = node
        self.namespace = namespace
        self._ids = IdAllocator(worker_id)
        self._request_ids = itertools.count(1)
        self._changes: list[tuple[ObjectId, int]] = []  # appended from __del__ too: a list is safe
        self._local = threading.local()  # the task each thread runs
        self._send_lock = threading.Lock()
        self._waiting: dict[int, Future[Any]] | None = None  # concurrent mode: replies by request
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.host = ActorHost()  # what this worker runs: its actor, and its task's GPUs
        self.functions = FunctionCache()
        self.capture: OutputCapture | None = None
        self.output_task: TaskId | None = None  # the task its output is tagged with

    def gpu_ids(self) -> list[int]:
        return list(self.host.gpu_ids)

    @property
    def current_task(self) -> TaskId | None:
        return getattr(self._local, "task", None)

    @current_task.setter
    def current_task(self, task_id: TaskId | None) -> None:
        self._local.task = task_id

    @property
    def current_env(self) -> Environment | None:
        """The runtime_env of the task this thread runs: what the tasks it submits inherit."""
        return getattr(self._local, "env", None)

    @current_env.setter
    def current_env(self, env: Environment | None) -> None:
        self._local.env = env

    def submitter(self) -> Submitter:
        return Submitter(self.worker_id, self.node, self.current_env)

    def context_info(self) -> ContextInfo:
        return ContextInfo(
            self.node.node_id, self.namespace, self.worker_id, self.current_task,
            self.host.actor_id, self.current_env,
        )  # fmt: skip

    def assigned_resources(self, task_id: TaskId) -> dict[str, float]:
        request = protocol.AssignedResources(next(self._request_ids), task_id)
        return dict(self._request(request).resources)

    def acquire(self, object_id: ObjectId) -> None:
        self._changes.append((object_id, +1))

    def release(self, object_id: ObjectId) -> None:
        self._changes.append((object_id, -1))

    def send(self, message: Any) -> None:
        """Send `message` to the driver, with the changes of what this worker holds: the holds
        taken before it, the holds dropped after it. The message may hand a dropped hold on
        (a task returning a ref it made: `return nbray.put(x)`); the driver must see the value
        that holds the ref before the worker's ref goes, or it frees the object in between."""
        with self._send_lock:
            changes, self._changes = self._changes, []
            if not changes:
                self._channel.send(message)
                return
            net: Counter[ObjectId] = Counter()
            for oid, delta in changes:
                net[oid] += delta
            taken = tuple((oid, d) for oid, d in net.items() if d > 0)
            dropped = tuple((oid, d) for oid, d in net.items() if d < 0)
            if taken:
                self._channel.send(protocol.HoldsChanged(taken))
            self._channel.send(message)
            if dropped:
                self._channel.send(protocol.HoldsChanged(dropped))

    # ---- concurrent mode (actors with max_concurrency > 1) -------------------------------

    def receive_concurrently(self) -> None:
        self._waiting = {}
        threading.Thread(target=self._receive, name="nbray-receiver", daemon=True).start()

    def next_call(self) -> protocol.ExecuteTask | None:
        """The next call the driver sent; None once the driver is gone."""
        call: protocol.ExecuteTask | None = self._calls.get()
        return call

    def _receive(self) -> None:
        assert self._waiting is not None
        while True:
            try:
                message = self._channel.receive()
            except (EOFError, OSError):
                self._calls.put(None)
                return
            if isinstance(message, protocol.ExecuteTask):
                self._calls.put(message)
            elif (waiter := self._waiting.pop(message.request_id, None)) is not None:
                waiter.set_result(message)

    def submit(
        self,
        function: FunctionBlob,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        options: TaskOptions,
        actor: ActorTarget | None = None,
    ) -> list[ObjectRef[Any]]:
        spec, body = make_task(
            self._ids,
            self.submitter(),
            function,
            args,
            kwargs,
            options,
            None,
            self.current_task,
            actor,
        )
        self.send(protocol.SubmitTask(spec, body))
        return [ObjectRef(oid, spec.name, spec.task_id, self) for oid in spec.return_ids]

    def put(self, value: Any) -> ObjectRef[Any]:
        serialized = serialize(value, what="value passed to put")
        oid = self._ids.object_id()
        self.send(protocol.PutObject(oid, self.place(serialized)))
        return ObjectRef(oid, "put", None, self)

    def get(
        self, refs: Sequence[ObjectRef[Any]], timeout: float | None, return_exceptions: bool = False
    ) -> list[Any]:
        ids = tuple(ref.id for ref in refs)
        reply: protocol.ObjectsReply = self._request(
            protocol.GetObjects(next(self._request_ids), ids, timeout, return_exceptions)
        )
        for oid in ids:
            if oid in reply.errors and not return_exceptions:
                raise raisable(deserialize(reply.errors[oid]))
        if reply.timed_out:
            raise GetTimeoutError(
                f"get timed out after {timeout} s: {len(ids) - len(reply.values)} of {len(ids)} "
                "objects are not ready."
            )
        return [
            raisable(deserialize(reply.errors[oid]))
            if oid in reply.errors
            else self.load(oid, reply.values[oid])
            for oid in ids
        ]

    def wait(
        self, refs: Sequence[ObjectRef[Any]], num_returns: int, timeout: float | None
    ) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]:
        message = protocol.WaitObjects(
            next(self._request_ids), tuple(r.id for r in refs), num_returns, timeout
        )
        return split_ready(refs, self._request(message).ready, num_returns)

    def yield_item(self, task_id: TaskId, value: Any) -> None:
        """A streaming task's next item, sent at once."""
        serialized = serialize(value, what="value yielded by a streaming task")
        self.send(protocol.Yielded(task_id, self._ids.object_id(), self.place(serialized)))

    def next_streamed(self, end: ObjectRef[Any], index: int, timeout: float | None) -> NoReturn:
        _not_in_a_task("iterating a streaming generator")

    # ---- the object store ----------------------------------------------------------------

    def load(self, object_id: ObjectId, payload: Payload) -> Any:
        """A value sent by the driver; views of the arena count as this worker's holds."""
        if isinstance(payload, InStore):
            return self._arena.read(payload, lambda: self._pinned(object_id))
        return deserialize(payload)

    def _pinned(self, object_id: ObjectId) -> Callable[[], None]:
        self.acquire(object_id)
        return lambda: self.release(object_id)

    def place(self, value: Serialized) -> Payload:
        """Where a value made here goes: inline if small, else a block the driver allots."""
        if value.size < INLINE_LIMIT:
            return value
        size = block_size_of(value)
        reply: protocol.Allocated = self._request(protocol.Allocate(next(self._request_ids), size))
        if reply.offset is None:
            raise ObjectStoreFullError(reply.message)
        return self._arena.write(reply.offset, value)

    def _request(self, message: Any) -> Any:
        if self._waiting is not None:  # concurrent mode: the reader thread routes the reply
            from concurrent.futures import Future  # an actor's threads only: not at start

            routed: Future[Any] = Future()
            self._waiting[message.request_id] = routed
            self.send(message)
            return routed.result()
        self.send(message)
        while True:
            reply = self._channel.receive()
            if isinstance(reply, protocol.ExecuteTask):
                self.functions.keep(reply.body)  # it may bring a function's only shipment
                self.send(protocol.Bounced(reply.task_id))
            elif getattr(reply, "request_id", None) == message.request_id:
                return reply
            # else: the answer to a request an interrupt (cancel) abandoned: drop it

    def in_actor_method(self) -> bool:
        return self.host.instance is not None  # an actor's worker runs only its methods

    def cancel(self, ref: ObjectRef[Any], force: bool, recursive: bool) -> NoReturn:
        _not_in_a_task("cancel")

    def cancel_task(self, task_id: TaskId, force: bool, recursive: bool) -> NoReturn:
        _not_in_a_task("cancel")

    def future(self, ref: ObjectRef[Any]) -> NoReturn:
        _not_in_a_task("ObjectRef.future / await")

    def ref_state(self, ref: ObjectRef[Any]) -> NoReturn:
        _not_in_a_task("ObjectRef.state")

    def ref_exception(self, ref: ObjectRef[Any]) -> NoReturn:
        _not_in_a_task("ObjectRef.exception")

    def kill_actor(self, actor_id: TaskId, no_restart: bool) -> NoReturn:
        _not_in_a_task("nbray.kill")

    def claim_actor_name(self, namespace: str | None, name: str, handle: Any) -> Any:
        creation = handle._creation
        request = protocol.ClaimName(
            next(self._request_ids), namespace, name, creation.task_id(), creation.id,
            serialize(handle),
        )  # fmt: skip
        return self._handle_in(self._request(request))

    def named_actor(self, namespace: str | None, name: str) -> Any:
        request = protocol.LookupName(next(self._request_ids), namespace, name)
        return self._handle_in(self._request(request))

    def actor_names(self, all_namespaces: bool) -> list[tuple[str, str]]:
        reply = self._request(protocol.ListNames(next(self._request_ids), all_namespaces))
        return [(namespace, name) for namespace, name in reply.names]

    def _handle_in(self, reply: protocol.NameReply) -> Any:
        return None if reply.handle is None else deserialize(reply.handle)

    def subscribe(self, callback: Callable[[Any], None]) -> NoReturn:
        _not_in_a_task("subscribing to runtime events")

    def snapshot(self) -> NoReturn:
        _not_in_a_task("snapshot")

    def shutdown(self) -> NoReturn:
        _not_in_a_task("shutdown")


def _not_in_a_task(what: str) -> NoReturn:
    raise RaySystemError(f"{what} is not available inside a task; call it from the driver.")
