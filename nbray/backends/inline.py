"""The inline backend: the same scheduler, run synchronously on the caller's thread.

For debugging (`nbray.init(local_mode=True)`): tasks run in the calling process, so a debugger,
`print` and breakpoints work inside them, yet scheduling, dependencies, resources, errors and the
event stream behave as in the local backend. Workers are virtual: a spawned worker starts at
once, and a dispatched task runs as soon as the instructions around it are carried out.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from nbray.core import events as ev
from nbray.core.failures import ACTOR_EXITED
from nbray.core.ids import ObjectId, TaskId, WorkerId
from nbray.core.scheduler import Snapshot
from nbray.core.task import TaskSpec
from nbray.exceptions import RaySystemError
from nbray.local.driver import IDS, Driver
from nbray.local.object_store import Payload
from nbray.local.object_table import StoredError
from nbray.local.runtime import Runtime
from nbray.local.tasks import (
    ActorHost,
    FunctionCache,
    Raised,
    Returned,
    Submitter,
    TaskBody,
    exits_actor,
    place_results,
    run_task,
)
from nbray.options import RuntimeConfig
from nbray.runtime_context import ContextInfo
from nbray.runtime_env import Environment
from nbray.serialization import serialize

T = TypeVar("T")


class InlinePool:
    queues_tasks = False  # a task runs at once, on the caller's stack

    def __init__(self) -> None:
        self.started: deque[WorkerId] = deque()
        self.stopped: deque[WorkerId] = deque()
        self.runs: deque[
            tuple[WorkerId, TaskSpec, TaskBody, Mapping[ObjectId, Payload], tuple[int, ...]]
        ]
        self.runs = deque()
        self.functions = FunctionCache()
        self.hosts: dict[TaskId | None, ActorHost] = {None: ActorHost()}  # by actor
        self._actor_on: dict[WorkerId, TaskId] = {}  # each actor's (virtual) worker

    def spawn(self, worker_id: WorkerId) -> None:
        self.started.append(worker_id)

    def stop(self, worker_id: WorkerId) -> None:
        self.stopped.append(worker_id)
        self.forget_actor(worker_id)

    def forget_actor(self, worker_id: WorkerId) -> None:
        actor_id = self._actor_on.pop(worker_id, None)
        if actor_id is not None:  # the actor is killed, dead, or restarting: a fresh host
            host = self.hosts.pop(actor_id, None)
            if host is not None:
                host.close()

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()
        self.hosts.clear()

    def interrupt(self, worker_id: WorkerId, task_id: TaskId) -> None:
        pass  # the task runs on this very thread: it can only be interrupted by Ctrl-C

    def dispatch(
        self,
        worker_id: WorkerId,
        spec: TaskSpec,
        body: TaskBody,
        resolved: Mapping[ObjectId, Payload],
        gpu_ids: tuple[int, ...],
    ) -> None:
        if spec.actor_id is not None:
            self._actor_on[worker_id] = spec.actor_id
        self.runs.append((worker_id, spec, body, resolved, gpu_ids))


class InlineBackend(Driver):
    kind = "inline"

    def __init__(self, config: RuntimeConfig) -> None:
        super().__init__(config)
        self._pool = InlinePool()
        self._runtime = Runtime(config, self._pool, self.table, self.store)
        self._runtime.subscribe(self.names.on_actor_changed, ev.ActorChanged)  # type: ignore[arg-type]
        self._running: list[WorkerId] = []  # the virtual workers whose tasks are on the stack
        self._hosts_running: list[ActorHost] = []
        self._specs_running: list[tuple[TaskSpec, Environment | None]] = []
        self._dropped_in_tasks: list[ObjectId] = []
        self._send(ev.RuntimeStarted(time.time()))

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    def snapshot(self) -> Snapshot:
        return self._runtime.scheduler.snapshot()

    def _on_runtime_thread(self, function: Callable[[], T]) -> T:
        return function()

    def _send(self, event: ev.Event) -> None:
        self._runtime.handle(event)
        self._drain()

    def _drain(self) -> None:
        pool = self._pool
        while pool.started or pool.stopped or pool.runs:
            if pool.started:
                self._runtime.handle(
                    ev.WorkerStarted(pool.started.popleft(), os.getpid(), time.time())
                )
            elif pool.stopped:
                self._runtime.handle(ev.WorkerDied(pool.stopped.popleft(), None, time.time()))
            else:
                self._run(*pool.runs.popleft())

    def _run(
        self,
        worker_id: WorkerId,
        spec: TaskSpec,
        body: TaskBody,
        resolved: Mapping[ObjectId, Payload],
        gpu_ids: tuple[int, ...],
    ) -> None:
        host = self._pool.hosts.setdefault(spec.actor_id, ActorHost())
        if not body.method:  # an actor's calls keep the devices its constructor got
            host.gpu_ids = gpu_ids
        self._running.append(worker_id)
        self._hosts_running.append(host)
        env = host.environment_of(body)  # set and undone around each call: this is the driver
        self._specs_running.append((spec, env))
        try:
            outcome = run_task(
                lambda: host.callable_for(body, self._pool.functions),
                spec.name,
                body,
                resolved,
                lambda oid, _: self._read(oid),
                lambda item: self._yield(spec, worker_id, item),
                env,
            )
            if isinstance(outcome, Returned):
                outcome = place_results(outcome, spec.name, self.place)
        finally:
            self._running.pop()
            self._hosts_running.pop()
            self._specs_running.pop()
        now = time.time()
        if exits_actor(body, outcome):  # the actor ended itself: its (virtual) worker is gone
            self._pool.forget_actor(worker_id)
            event: ev.Event = ev.WorkerDied(worker_id, ACTOR_EXITED, now)
        elif isinstance(outcome, Raised):
            made = tuple((v, v.size, v.contained_ids) for v in outcome.made)
            event = ev.TaskRaised(spec.task_id, worker_id, outcome.error, outcome.value, now, made)
        else:
            sizes = tuple(v.size for v in outcome.values)
            contained = tuple(v.contained_ids for v in outcome.values)
            event = ev.TaskReturned(spec.task_id, worker_id, outcome.values, sizes, contained, now)
        self._runtime.handle(event)
        while self._dropped_in_tasks:
            super().release(self._dropped_in_tasks.pop())

    def submitter(self) -> Submitter:
        """Inside a task (on this very stack), what it submits inherits its environment."""
        if not self._specs_running:
            return super().submitter()
        return super().submitter()._replace(environment=self._specs_running[-1][1])

    def context_info(self) -> ContextInfo:
        if not self._specs_running:
            return super().context_info()
        spec, env = self._specs_running[-1]
        return (
            super()
            .context_info()
            ._replace(task_id=spec.task_id, actor_id=spec.actor_id, runtime_env=env)
        )

    def release(self, object_id: ObjectId) -> None:
        """A ref dropped while a task runs is released after the task's outcome, as a worker
        does (`WorkerClient.send`): the outcome may hold it (`return nbray.put(x)`)."""
        if self._running:
            self._dropped_in_tasks.append(object_id)
        else:
            super().release(object_id)

    def gpu_ids(self) -> list[int]:
        return list(self._hosts_running[-1].gpu_ids) if self._hosts_running else []

    def in_actor_method(self) -> bool:
        return bool(self._hosts_running) and self._hosts_running[-1].instance is not None

    def _yield(self, spec: TaskSpec, worker_id: WorkerId, item: Any) -> None:
        value = self.place(serialize(item, what="value yielded by a streaming task"))
        oid = IDS.object_id()
        event = ev.TaskYielded(
            spec.task_id, worker_id, oid, value, value.size, value.contained_ids, time.time()
        )
        self._runtime.handle(event)

    def _wait_ready(
        self, object_ids: list[ObjectId], num_ready: int, timeout: float | None, wake_on_error: bool
    ) -> list[ObjectId]:
        if not self._enough(object_ids, num_ready, wake_on_error):
            # Inside a task, lend its resources so the tasks it waits for can run right here.
            blocked = self._running[-1] if self._running else None
            if blocked is not None:
                self._runtime.handle(ev.WorkerBlocked(blocked, time.time()))
            self._drain()
            if blocked is not None:
                self._runtime.handle(ev.WorkerUnblocked(blocked, time.time()))
        if timeout is None and not self._enough(object_ids, num_ready, wake_on_error):
            raise RaySystemError(
                "In local mode these objects can never become ready: the tasks that make them "
                "cannot run (they wait for resources or arguments that never come)."
            )
        return [oid for oid in object_ids if self.table.lookup(oid) is not None]

    def _enough(self, object_ids: list[ObjectId], num_ready: int, wake_on_error: bool) -> bool:
        entries = [self.table.lookup(oid) for oid in object_ids]
        if wake_on_error and any(isinstance(e, StoredError) for e in entries):
            return True
        return sum(e is not None for e in entries) >= num_ready

    def _close(self) -> None:
        self._pool.close()  # no processes; actors' instances and event loops
