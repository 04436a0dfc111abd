"""The local runtime's event-loop thread: the one owner of all runtime state.

Theory of operation
-------------------

    user threads                      event-loop thread                      worker processes
    ------------                      -----------------                      ----------------
    submit/put/cancel/ref GC --post--> inbox (SimpleQueue) + wakeup eventfd
                                        |
                                        v
                          epoll([wakeup, channels..., pidfds...], timeout)   <-- messages, exits
                                        |
                          events --> Runtime.handle --> scheduler --> instructions
                                        |                                 |
                                        |          spawn/dispatch/kill ---+--> ProcessPool
    get/wait <--- ObjectTable <--- store/free                            |
                                        |
                          answer workers blocked in get/wait (their own deadlines)

There is exactly one blocking call, an epoll wait over the wakeup eventfd, every worker channel
and every worker's pidfd (registered again only when the pool's set of them changes), with the
nearest deadline (a worker's `get`/`wait`, the scheduler's `WakeAt`) as its timeout. A worker
dying is just another event.
A post writes to the eventfd only while the loop sleeps there, once per nap: an awake loop looks
at the inbox before it sleeps again, so a busy loop takes many posts per step at no extra cost.
User threads never touch the scheduler; they read values from the thread-safe ObjectTable directly,
so a `get` of a ready object costs no round trip through this thread. Posting is safe from
`__del__` (SimpleQueue is reentrant).
"""

from __future__ import annotations

import os
import queue
import select
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from nbray.core import events as ev
from nbray.core.ids import WorkerId, format_id
from nbray.exceptions import ObjectLostError, RaySystemError
from nbray.local import protocol
from nbray.local.object_store import InStore
from nbray.local.object_table import StoredError
from nbray.local.runtime import Runtime
from nbray.local.worker_pool import ProcessPool, WorkerProcess
from nbray.serialization import Serialized, serialize

_STOP = object()


@dataclass(eq=False)
class _Call:
    function: Callable[[], Any]
    future: Future[Any]


@dataclass(eq=False)
class _WorkerRequest:
    """A task blocked in `get`/`wait`, answered when its objects are ready or its time is up."""

    worker_id: WorkerId
    message: protocol.GetObjects | protocol.WaitObjects
    deadline: float | None
    blocked: bool = False


class EventLoop:
    def __init__(
        self,
        runtime: Runtime,
        pool: ProcessPool,
        on_failure: Callable[[str], None],
        answer_names: Callable[[protocol.NameRequest], Any],
    ) -> None:
        self._runtime = runtime
        self._answer_names = answer_names  # the actor names registry answers tasks' requests
        self._on_failure = on_failure  # told why, if the loop ever ends by an error
        self._table = runtime.table
        self._pool = pool
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Edge-triggered, an eventfd needs no reading: each write wakes the loop once (its
        # counter cannot overflow in practice).
        self._wakeup = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._epoll = select.epoll()
        self._epoll.register(self._wakeup, select.EPOLLIN | select.EPOLLET)
        self._registered: dict[int, WorkerProcess] = {}  # the workers' descriptors in epoll
        self._registered_generation = -1
        self._requests: list[_WorkerRequest] = []
        self._blocks_in_flight: dict[WorkerId, set[int]] = {}
        self._thread = threading.Thread(target=self._run, name="nbray-event-loop", daemon=True)
        self.failure: str | None = None  # why the loop ended, if by an error
        self._running = True
        self._sleeping = False  # in (or about to enter) epoll: posts must wake it
        self._naps = 0  # how many times the loop went to sleep
        self._woken_nap = -1  # the last nap a post woke with a write: later posts need none

    def start(self) -> None:
        self._thread.start()

    def post(self, item: Any) -> None:
        """Hand an event (or a call) to the loop; any thread, even inside `__del__`."""
        self._inbox.put(item)
        # A write wakes the loop only if it sleeps (or is about to), and once per nap: an awake
        # loop looks at the inbox before it sleeps again, so posts to a busy loop cost no
        # syscall and no hand-off of the GIL, and a second write would only wake it again for
        # nothing. A Ctrl-C right after the put leaves the item to the next wakeup.
        if not self._sleeping:
            return
        nap = self._naps  # read after the flag: a nap begun meanwhile has a new number
        if self._woken_nap == nap:
            return
        try:  # noqa: SIM105 (contextlib.suppress: a Python call, where Ctrl-C can strike)
            os.eventfd_write(self._wakeup, 1)
        except OSError:  # closed: the loop is gone
            pass
        self._woken_nap = nap  # after the write: a Ctrl-C before it costs only a second write

    def call(self, function: Callable[[], Any]) -> Any:
        """Run `function` on the loop thread and return its result (for consistent snapshots)."""
        if threading.current_thread() is self._thread:
            return function()  # already there (a callback run by the loop itself)
        if not self._thread.is_alive():
            raise RaySystemError(
                f"The nbray runtime is not running ({self.failure or 'it was shut down'}); "
                "call nbray.init() to start a new one."
            )
        future: Future[Any] = Future()
        self.post(_Call(function, future))
        return future.result()

    def stop(self) -> None:
        self.post(_STOP)
        self._thread.join()
        os.close(self._wakeup)

    # ---- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        why = "nbray was shut down"
        try:
            self._runtime.handle(ev.RuntimeStarted(time.time()))
            while self._running:
                self._step()
        except BaseException as error:
            traceback.print_exc()
            self.failure = f"{type(error).__name__}: {error}"
            why = f"the nbray runtime died ({self.failure})"
            self._on_failure(self.failure)
            self._runtime.report(
                "nbray: the runtime's event loop crashed (above): its workers are stopped and "
                "its objects gone. Start a new runtime with nbray.init() (%nbray restart in a "
                "notebook); please report this as a bug.\n"
            )
        finally:
            self._pool.close()
            self._table.close(why)
            self._epoll.close()
            self._refuse_pending_calls(why)

    def _refuse_pending_calls(self, why: str) -> None:
        """Calls posted after the last step must not wait forever for a loop that is gone."""
        for item in self._take_inbox():
            if isinstance(item, _Call):
                item.future.set_exception(RaySystemError(f"The call failed: {why}."))

    def _take_inbox(self) -> list[Any]:
        """Everything posted so far, in order."""
        taken: list[Any] = []
        while not self._inbox.empty():  # this thread alone takes: not empty, then a get works
            taken.append(self._inbox.get_nowait())
        return taken

    def _step(self) -> None:
        self._register_workers()
        events: list[ev.Event] = []
        calls: list[_Call] = []
        for fd, _ in self._sleep():
            worker = self._registered.get(fd)  # None: the wakeup
            if worker is not None and worker.worker_id in self._pool.workers:  # not reaped yet
                events += self._from_worker(worker, pidfd_fired=fd == worker.pidfd)
        for item in self._take_inbox():
            if item is _STOP:
                self._running = False
            elif isinstance(item, _Call):
                calls.append(item)
            else:
                events.append(item)
        wake_at = self._runtime.wake_at
        if wake_at is not None and time.time() >= wake_at:
            self._runtime.wake_at = None
            events.append(ev.TimeReached(time.time()))
        if events:
            self._runtime.handle(*events)
        self._answer_requests()
        trim_due = self._runtime.store.trim_due()
        if trim_due is not None and time.monotonic() >= trim_due:
            self._runtime.store.trim()
        for call in calls:
            try:
                call.future.set_result(call.function())
            except BaseException as error:  # the caller's to handle: never the loop's end
                call.future.set_exception(error)

    def _sleep(self) -> list[tuple[int, int]]:
        """Block until a worker or a post needs the loop. Set before the inbox is checked, the
        flag makes any post that the check misses write to the wakeup eventfd."""
        self._naps += 1
        self._sleeping = True
        timeout = 0.0 if not self._inbox.empty() else self._timeout()
        try:
            return self._epoll.poll(timeout)
        finally:
            self._sleeping = False

    def _register_workers(self) -> None:
        if self._pool.generation == self._registered_generation:
            return
        for fd in self._registered:
            try:  # noqa: SIM105
                self._epoll.unregister(fd)
            except OSError:  # closed (a reaped worker's): epoll forgot it then
                pass
        self._registered = dict(self._pool.waitables())
        for fd in self._registered:
            self._epoll.register(fd, select.EPOLLIN)
        self._registered_generation = self._pool.generation

    def _timeout(self) -> float | None:
        """Until the nearest deadline: of a worker's get/wait, of the scheduler's WakeAt, or of
        giving the store's freed memory back."""
        wake_at = self._runtime.wake_at
        timeout = None if wake_at is None else max(0.0, wake_at - time.time())
        deadline = self._runtime.store.trim_due()  # (time.monotonic(), as requests' deadlines)
        for request in self._requests:
            if request.deadline is not None and (deadline is None or request.deadline < deadline):
                deadline = request.deadline
        if deadline is not None:
            until = max(0.0, deadline - time.monotonic())
            timeout = until if timeout is None else min(timeout, until)
        # epoll counts milliseconds in an int: a longer sleep (a worker's own message can ask
        # for any) would raise OverflowError and end the loop; waking hourly costs nothing.
        return None if timeout is None else min(timeout, 3600.0)

    # ---- messages from workers become events ---------------------------------------------

    def _from_worker(self, worker: WorkerProcess, pidfd_fired: bool) -> list[ev.Event]:
        try:
            messages = self._pool.read(worker)
        except protocol.BadMessage as error:  # the pool stopped it: its death follows
            messages = error.before
            self._report_refused(worker, error)
        events = []
        for message in messages:
            try:
                events.append(self._translate(worker.worker_id, message))
            except protocol.BadMessage as error:  # well-formed, but not what nbray would send
                self._pool.refuse(worker)
                self._report_refused(worker, error)
                break
        if pidfd_fired:  # its last messages (read above) come before its death
            exit_code = self._pool.reap(worker)
            self._requests = [r for r in self._requests if r.worker_id != worker.worker_id]
            for offset in self._blocks_in_flight.pop(worker.worker_id, set()):
                self._runtime.store.free(offset)  # it died writing them
            events.append(ev.WorkerDied(worker.worker_id, exit_code, time.time()))
        return [e for e in events if e is not None]

    def _report_refused(self, worker: WorkerProcess, error: protocol.BadMessage) -> None:
        self._runtime.report(
            f"nbray: worker {worker.worker_id} (pid {worker.process.pid}) was stopped: its "
            f"channel carried something that is not an nbray message: {error}. Its task, if "
            "any, counts as crashed. Did a task hand its descriptors to another program?\n"
        )

    def _translate(self, worker_id: WorkerId, message: Any) -> ev.Event | None:
        now = time.time()
        if isinstance(message, (protocol.TaskDone, protocol.TaskError)):
            self._settle_blocks(worker_id, message, task_ended=True)
            if self._requests:  # a task interrupted in get/wait no longer wants the answer
                self._requests = [r for r in self._requests if r.worker_id != worker_id]
        if isinstance(message, protocol.TaskDone):
            sizes = tuple(v.size for v in message.values)
            contained = tuple(v.contained_ids for v in message.values)
            return ev.TaskReturned(
                message.task_id, worker_id, message.values, sizes, contained, now
            )
        if isinstance(message, protocol.TaskError):
            made = tuple((v, v.size, v.contained_ids) for v in message.made)
            value = message.value
            if type(value) is InStore:  # a large exception: kept as bytes, its block freed
                value = self._runtime.store.take(value)
            return ev.TaskRaised(message.task_id, worker_id, message.error, value, now, made)
        if isinstance(message, protocol.Bounced):
            return ev.TaskBounced(message.task_id, worker_id, now)
        if isinstance(message, protocol.Output):
            return ev.TaskOutput(message.task_id, worker_id, message.stream, message.text, now)
        if isinstance(message, protocol.HoldsChanged):
            return ev.RefsChanged(worker_id, message.deltas, now)
        if isinstance(message, protocol.WorkerReady):
            return ev.WorkerStarted(worker_id, message.pid, now)
        if isinstance(message, protocol.SubmitTask):
            self._table.expect(message.spec.return_ids)
            return ev.TaskSubmitted(message.spec, now, message.body)
        if isinstance(message, protocol.Allocate):
            self._allocate(worker_id, message)
            return None
        if isinstance(message, protocol.Yielded):
            self._settle_blocks(worker_id, message, task_ended=False)
            value = message.value
            return ev.TaskYielded(
                message.task_id,
                worker_id,
                message.object_id,
                value,
                value.size,
                value.contained_ids,
                now,
            )
        if isinstance(message, protocol.PutObject):
            self._settle_blocks(worker_id, message, task_ended=False)
            value = message.value
            self._table.store(message.object_id, value)
            return ev.ObjectCreated(
                message.object_id, value.size, now, value.contained_ids, None, worker_id
            )
        if isinstance(message, protocol.AssignedResources):
            resources = self._runtime.scheduler.assigned_resources(message.task_id)
            self._pool.send(worker_id, protocol.ResourcesReply(message.request_id, dict(resources)))
            return None
        if isinstance(message, (protocol.ClaimName, protocol.LookupName, protocol.ListNames)):
            self._pool.send(worker_id, self._answer_names(message))
            return None
        if isinstance(message, (protocol.GetObjects, protocol.WaitObjects)):
            timeout = message.timeout
            deadline = None if timeout is None else time.monotonic() + timeout
            self._requests.append(_WorkerRequest(worker_id, message, deadline))
            return None
        raise RaySystemError(f"nbray bug: unexpected message from worker {worker_id}: {message!r}")

    # ---- blocks of the arena lent to workers ---------------------------------------------

    def _allocate(self, worker_id: WorkerId, message: protocol.Allocate) -> None:
        size, capacity = message.size, self._runtime.store.capacity
        offset = self._runtime.allocate(size) if 0 < size <= capacity else None
        why = ""
        if offset is None:
            cause = (
                "it is larger than the whole store"
                if size > capacity
                else "what it holds is in use, so none could be spilled"
            )
            why = (
                f"The object store cannot take a value of {size / 2**20:,.1f} MiB made in a task: "
                f"{cause} ({capacity / 2**20:,.1f} MiB). Start nbray with a larger store "
                "(nbray.init(object_store_memory=...)) or return smaller results."
            )
        else:
            self._blocks_in_flight.setdefault(worker_id, set()).add(offset)
        self._pool.send(worker_id, protocol.Allocated(message.request_id, offset, why))

    def _settle_blocks(self, worker_id: WorkerId, message: Any, task_ended: bool) -> None:
        """Blocks a worker wrote become objects; at the end of a task, the blocks it was lent
        but did not deliver (it failed while placing its results) are freed."""
        values = message.values if isinstance(message, protocol.TaskDone) else ()
        if isinstance(message, (protocol.PutObject, protocol.Yielded, protocol.TaskError)):
            values = (message.value,)
        in_flight = self._blocks_in_flight.get(worker_id)
        delivered = [v.offset for v in values if type(v) is InStore]
        if delivered and not (in_flight and in_flight.issuperset(delivered)):
            raise protocol.BadMessage("it names blocks of the object store it was not lent")
        if not in_flight:
            return
        in_flight.difference_update(delivered)
        if task_ended:
            for offset in in_flight:
                self._runtime.store.free(offset)
            in_flight.clear()

    # ---- tasks blocked in get/wait -------------------------------------------------------

    def _answer_requests(self) -> None:
        events: list[ev.Event] = []
        now = time.monotonic()
        for request in list(self._requests):
            reply = self._reply(
                request, timed_out=request.deadline is not None and now >= request.deadline
            )
            if reply is not None:
                self._requests.remove(request)
                self._pool.send(request.worker_id, reply)
                if request.blocked:
                    events.append(ev.WorkerUnblocked(request.worker_id, time.time()))
            elif not request.blocked:
                request.blocked = True  # lend its CPU while it waits, so what it waits for can run
                events.append(ev.WorkerBlocked(request.worker_id, time.time()))
        if events:
            self._runtime.handle(*events)

    def _reply(self, request: _WorkerRequest, timed_out: bool) -> Any:
        message = request.message
        values: dict[Any, Any] = {}  # what is ready, by id
        errors: dict[Any, Serialized] = {}
        for oid in message.object_ids:
            entry = self._table.lookup(oid)
            if entry is None and not self._table.is_known(oid):
                errors[oid] = serialize(ObjectLostError(f"Object {format_id(oid)} does not exist."))
            elif isinstance(entry, StoredError):
                entry.fetched = True
                errors[oid] = entry.wire()
            elif entry is not None:
                values[oid] = entry
        if isinstance(message, protocol.WaitObjects):
            ready = tuple(oid for oid in message.object_ids if oid in values or oid in errors)
            if len(ready) >= message.num_returns or timed_out:
                return protocol.WaitReply(message.request_id, ready)
            return None
        done = len(values) + len(errors) == len(message.object_ids)
        if done or timed_out or (errors and not message.return_exceptions):
            failed = errors and not message.return_exceptions
            payloads = {} if failed else {oid: self._runtime.payload_of(oid) for oid in values}
            return protocol.ObjectsReply(
                message.request_id, payloads, errors, timed_out and not done
            )
        return None
