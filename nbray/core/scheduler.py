"""The scheduler as a pure state machine: `SchedulerState.handle(*events) -> list[Instruction]`.

Theory of operation
-------------------
The scheduler owns the state of every live task, object and worker, and nothing else touches it.
A shell (the local runtime's event-loop thread, or the inline backend) feeds it events — facts
that happened, each stamped with the shell's clock — and carries out the instructions it returns,
in order. It never performs I/O, reads a clock or spawns anything itself, so every decision can be
driven and checked synchronously in tests, with `validate()` after each step.

    user threads ──TaskSubmitted, ObjectCreated, RefsChanged, CancelRequested─┐
    workers ───────TaskReturned, TaskRaised, WorkerBlocked/Unblocked─────────┤
    processes ─────WorkerStarted, WorkerDied────────────────────────────────┤
                                                                              ▼
                                                                    SchedulerState.handle
                                                                              │
      Dispatch, SpawnWorker, StopWorker, InterruptTask, Store*, FreeObjects, Publish(events)

Tasks move through `TaskState`; every move is one method named `_transition_<from>_<to>`, listed
in `_TRANSITIONS`, and logged so that `story(task_id)` tells a task's history. An illegal move
raises `InvalidTransition` with that history.

A task is READY when all its top-level dependencies are available; it runs when its resources
fit in what is available and a worker is idle. Ready tasks wait in one FIFO queue per resource
shape, so a task that does not fit never blocks smaller ones behind it; among the shapes that
fit, the oldest task goes first.

Pipelining: when no worker is idle, a ready task may be QUEUED on a busy worker whose task is
short (its function's last run took under `config.pipeline_below` seconds) and has the same
resource shape: it is sent at once and inherits the worker and its resources when the running
task ends, so the worker never idles between short tasks and the shell handles several results
per wakeup. The guess may be wrong: once the task ahead has run `pipeline_below` (a `WakeAt`
deadline, so that no event is needed), the first idle worker takes the queued task back (its
worker is told to skip it), so the wait this adds is bounded. Only plain tasks without GPUs or
max_calls are queued or queued behind. A queued task has not started: a worker whose task
blocks in get/wait bounces it (`TaskBounced`: it may be what the task waits for), a worker that
dies or is stopped gives it back, and a cancelled one is skipped (`InterruptTask` names it);
none of these spends a retry.

Objects are freed when nothing can reach them any more: see `references.py`.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from nbray.core import events as ev
from nbray.core import failures
from nbray.core.actors import Actor, ActorState
from nbray.core.gpus import GpuDevices
from nbray.core.ids import ObjectId, TaskId, WorkerId, format_id
from nbray.core.instructions import (
    AppendToStream,
    DiscardValues,
    Dispatch,
    FreeObjects,
    Instruction,
    InterruptTask,
    Publish,
    SpawnWorker,
    StopWorker,
    StoreError,
    StoreValues,
    WakeAt,
)
from nbray.core.references import ObjectState, References
from nbray.core.resources import Resources
from nbray.core.task import ErrorInfo, ErrorKind, TaskKind, TaskSpec, TaskState

STORY_LENGTH = 50_000
MAX_STARTUP_FAILURES = 3
_NOTHING = Resources()


class WorkerState(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    BLOCKED = "blocked"  # its task waits in get/wait and lent its resources
    ACTOR = "actor"  # an actor's own worker: runs its methods, holds its resources
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    total: Resources
    num_workers: int
    max_workers: int
    pipeline_below: float = 0.0  # seconds: a task this short may have another queued behind
    idle_timeout: float = 10.0  # seconds: a worker beyond `num_workers` idle this long exits

    def __post_init__(self) -> None:
        if not 0 <= self.num_workers <= self.max_workers or self.max_workers < 1:
            raise ValueError(f"Need 0 <= num_workers <= max_workers and max_workers >= 1: {self}")


class Transition(NamedTuple):
    task_id: TaskId
    start: TaskState | None
    finish: TaskState
    cause: str
    time: float


class InvalidTransition(RuntimeError):
    def __init__(
        self, task_id: TaskId, start: TaskState, finish: TaskState, story: list[Transition]
    ):
        lines = "\n".join(f"  {t.start} -> {t.finish} ({t.cause}, t={t.time})" for t in story)
        super().__init__(
            f"Task {format_id(task_id)} cannot move from {start} to {finish}. Its story:\n{lines}"
        )
        self.story = story


@dataclass(slots=True)
class _Task:
    spec: TaskSpec
    body: object  # the shell's, for the worker
    state: TaskState
    retries_left: int
    waiting_for: int = 0  # how many of its (distinct) arguments are still pending
    worker: WorkerId | None = None
    cancel_requested: bool = False
    error: ErrorInfo | None = None  # why it failed, set with the move to FAILED
    error_value: object = None  # the worker's serialized exception, if it raised
    started: float = 0.0  # when it began running, as far as the scheduler knows
    made: int = 0  # how many of its return values it made before it failed


@dataclass(slots=True)
class _Worker:
    state: WorkerState
    task: TaskId | None = None
    queued: TaskId | None = None  # sent to it, to run once `task` ends
    holds: Resources = _NOTHING
    calls: dict[bytes, int] = field(default_factory=dict)  # tasks run, by function (max_calls)
    actor: TaskId | None = None  # the actor this worker was spawned for
    gpus: tuple[int, ...] = ()  # the devices its task (or actor) uses
    idle_since: float = 0.0


@dataclass(frozen=True, slots=True)
class TaskView:
    task_id: TaskId
    name: str
    state: TaskState
    worker_id: WorkerId | None
    context: object


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The scheduler's live state as plain data, for `%nbray status` and the sidebar."""

    tasks: tuple[TaskView, ...]
    objects: dict[ObjectId, ObjectState]
    workers: dict[WorkerId, WorkerState]
    total: Resources
    available: Resources


class SchedulerState:
    def __init__(self, config: SchedulerConfig) -> None:
        self.config = config
        self._tasks: dict[TaskId, _Task] = {}
        self._refs = References()
        self._children: dict[TaskId, list[TaskId]] = {}  # tasks submitted by unfinished tasks
        self._actors: dict[TaskId, Actor] = {}
        self._actor_of_handle: dict[ObjectId, TaskId] = {}  # creation result -> actor
        self._actors_to_pump: set[TaskId] = set()
        self._objects = self._refs.objects
        self._workers: dict[WorkerId, _Worker] = {}
        self._ready: dict[Resources, deque[TaskId]] = {}
        self._idle: list[WorkerId] = []
        self._num_queued = 0  # tasks queued behind another on a busy worker
        self._wake_at: float | None = None  # the time of the last WakeAt still to come
        self._available = config.total
        self._short: dict[bytes, bool] = {}  # by function: did its last run take < pipeline_below
        self._gpus = GpuDevices(config.total.get("GPU", 0))
        self._next_worker = 1
        self._startup_failures = 0
        # One entry per move of every task, kept long: plain tuples of plain values (states by
        # value), which the garbage collector stops tracking, made Transitions when asked for.
        self._log: deque[tuple[TaskId, str | None, str, str, float]] = deque(maxlen=STORY_LENGTH)
        self._out: list[Instruction] = []
        self._published: list[ev.Event] = []

    # ---- the one way in ------------------------------------------------------------------

    def handle(self, *events: ev.Event) -> list[Instruction]:
        """Apply `events` in order; return what the shell must do, in order."""
        out: list[Instruction] = []
        published: list[ev.Event] = []
        self._out, self._published = out, published
        for event in events:
            _HANDLERS[type(event)](self, event)
        self._schedule(events[-1].time if events else 0.0)
        if published:  # last, and once: subscribers see the step done, at a fraction of the cost
            out.append(Publish(published))
        self._out, self._published = [], []
        return out

    # ---- queries (read only) -------------------------------------------------------------

    def story(self, task_id: TaskId) -> list[Transition]:
        return [
            Transition(
                tid, None if start is None else TaskState(start), TaskState(finish), cause, time
            )
            for tid, start, finish, cause, time in self._log
            if tid == task_id
        ]

    def task_state(self, task_id: TaskId) -> TaskState | None:
        task = self._tasks.get(task_id)
        return task.state if task else None

    def assigned_resources(self, task_id: TaskId) -> Resources:
        """What the task holds while it runs (an actor's method: what its actor holds)."""
        task = self._tasks.get(task_id)
        if task is None:
            return Resources()
        actor = self._actors.get(task.spec.actor_id) if task.spec.actor_id is not None else None
        return actor.creation.resources if actor is not None else task.spec.resources

    def task_kind(self, task_id: TaskId) -> TaskKind | None:
        task = self._tasks.get(task_id)
        return task.spec.kind if task else None

    def spill_candidates(self, min_size: int) -> list[ObjectId]:
        return self._refs.spill_candidates(min_size)

    def object_state(self, object_id: ObjectId) -> ObjectState | None:
        obj = self._objects.get(object_id)
        return obj.state if obj else None

    def snapshot(self) -> Snapshot:
        return Snapshot(
            tasks=tuple(
                TaskView(t.spec.task_id, t.spec.name, t.state, t.worker, t.spec.context)
                for t in self._tasks.values()
            ),
            objects={oid: o.state for oid, o in self._objects.items()},
            workers={wid: w.state for wid, w in self._workers.items()},
            total=self.config.total,
            available=self._available,
        )

    # ---- events --------------------------------------------------------------------------

    def _on_runtime_started(self, event: ev.RuntimeStarted) -> None:
        for _ in range(self.config.num_workers):
            self._spawn_worker()

    def _on_task_submitted(self, event: ev.TaskSubmitted) -> None:
        spec = event.spec
        if spec.task_id in self._tasks:
            raise ValueError(f"Task {format_id(spec.task_id)} was submitted twice.")
        self._publish(ev.TaskSubmitted(spec, event.time))  # without its body
        for oid in spec.return_ids:
            self._refs.create(oid, ObjectState.PENDING, spec.owner)
        self._refs.pin(spec.captured_ids)
        self._refs.hold_for_task(_held_by(spec), +1)
        task = _Task(spec, event.body, TaskState.WAITING_FOR_ARGS, spec.max_retries)
        self._tasks[spec.task_id] = task
        if spec.parent in self._tasks:
            self._children.setdefault(spec.parent, []).append(spec.task_id)
        self._log_transition(task, None, "submitted", event.time)
        failure = self._register_dependencies(task)
        if failure is None and not spec.resources.fits_in(self.config.total):
            failure = failures.unschedulable(spec, self.config.total)
        if failure is None and spec.infeasible:
            failure = ErrorInfo(ErrorKind.UNSCHEDULABLE, spec.infeasible)
        if spec.kind is TaskKind.ACTOR_CREATION:
            self._actors[spec.task_id] = Actor(spec, event.body, restarts_left=spec.max_restarts)
            self._actor_of_handle[spec.return_ids[0]] = spec.task_id
            if spec.detached:  # alive without handles, until it dies
                self._refs.pin(spec.return_ids)
        elif spec.kind is TaskKind.ACTOR_METHOD:
            failure = failure or self._enqueue_call(task)
        if failure is not None:
            self._transition(task, TaskState.FAILED, failure.kind.name.lower(), event.time, failure)
        elif not task.waiting_for:
            self._transition(task, TaskState.READY, "arguments available", event.time)

    def _on_object_created(self, event: ev.ObjectCreated) -> None:
        self._refs.create(event.object_id, ObjectState.READY, event.owner, event.size)
        self._refs.set_contents(event.object_id, event.contained_ids)
        self._publish(event)

    def _on_task_returned(self, event: ev.TaskReturned) -> None:
        task = self._running_on(event.task_id, event.worker_id)
        if task is None:  # cancelled by force meanwhile, or an actor's constructor run again
            self._emit(DiscardValues(event.values))
            self._restarted(event.task_id, event.worker_id, None, event.time)
            return
        if len(event.values) != len(task.spec.return_ids):  # a worker's fault: the task's error
            self._emit(DiscardValues(event.values))
            message = (
                f"nbray bug: task {task.spec.name} returned {len(event.values)} values for "
                f"{len(task.spec.return_ids)} return ids; please report it."
            )
            error = ErrorInfo(ErrorKind.TASK_ERROR, message, "RuntimeError")
            self._transition(task, TaskState.FAILED, "returned a wrong count", event.time, error)
            return
        if task.spec.kind is TaskKind.ACTOR_CREATION:
            self._actor_is_alive(self._actors[task.spec.task_id], event.time)
        results = zip(task.spec.return_ids, event.sizes, event.contained, strict=True)
        created = self._record_results(task, results, event.time)
        self._emit(StoreValues(task.spec.return_ids, event.values))
        self._transition(task, TaskState.FINISHED, "returned", event.time)
        self._published += created  # after TaskFinished

    def _on_task_yielded(self, event: ev.TaskYielded) -> None:
        task = self._running_on(event.task_id, event.worker_id)
        if task is None:
            self._emit(DiscardValues((event.value,)))
            return
        # The stream's end holds its items until the caller's generator takes (and counts) them.
        self._refs.create(event.object_id, ObjectState.READY, None, event.size)
        self._refs.set_contents(event.object_id, event.contained_ids)
        self._refs.add_content(task.spec.return_ids[0], event.object_id)
        self._emit(StoreValues((event.object_id,), (event.value,)))
        self._emit(AppendToStream(event.task_id, event.object_id))
        created = ev.ObjectCreated(event.object_id, event.size, event.time, event.contained_ids)
        self._publish(replace(created, task_id=event.task_id))

    def _on_task_bounced(self, event: ev.TaskBounced) -> None:
        task = self._tasks.get(event.task_id)
        if task is None or task.worker != event.worker_id:
            return  # taken back or cancelled meanwhile: the report comes too late to count
        if task.state is TaskState.QUEUED:
            self._transition(task, TaskState.READY, "bounced by its busy worker", event.time)
        elif task.state is TaskState.RUNNING and task.cancel_requested:
            # Cancelled after it was sent, before it began: its worker skipped it.
            self._transition(task, TaskState.CANCELLED, "skipped by its worker", event.time)

    def _on_task_output(self, event: ev.TaskOutput) -> None:
        self._publish(event)  # a fact for the notebook to route: nothing to decide

    def _on_task_raised(self, event: ev.TaskRaised) -> None:
        task = self._running_on(event.task_id, event.worker_id)
        if task is None:
            self._restarted(event.task_id, event.worker_id, event.error, event.time)
            return
        if task.cancel_requested:
            self._transition(task, TaskState.CANCELLED, "interrupted", event.time)
        elif event.error.retryable and task.retries_left > 0 and task.spec.actor_id is None:
            task.retries_left -= 1
            self._transition(task, TaskState.READY, "raised; retrying", event.time)
        elif (
            event.error.retryable
            and task.retries_left > 0
            and task.spec.kind is TaskKind.ACTOR_METHOD
        ):
            self._retry_calls(self._actors[task.spec.actor_id], [task], "raised", event.time)  # type: ignore[index]
        else:
            self._keep_made(task, event)
            self._transition(task, TaskState.FAILED, "raised", event.time, event.error, event.value)

    def _keep_made(self, task: _Task, event: ev.TaskRaised) -> None:
        """A generator with num_returns=N that raised: what it yielded first is kept (as Ray);
        only the return ids after those fail."""
        made = event.made[: len(task.spec.return_ids) - 1]
        if not made:
            return
        ids = task.spec.return_ids[: len(made)]
        self._emit(StoreValues(ids, tuple(value for value, _, _ in made)))
        made_ids = zip(ids, made, strict=True)
        results = ((oid, size, contained) for oid, (_, size, contained) in made_ids)
        for created in self._record_results(task, results, event.time):
            self._resolve(created.object_id, ObjectState.READY, None, event.time)
            self._publish(created)
        task.made = len(made)

    def _record_results(
        self,
        task: _Task,
        results: Iterable[tuple[ObjectId, int, tuple[ObjectId, ...]]],
        time: float,
    ) -> list[ev.ObjectCreated]:
        """Sizes and contents of the values a task made; the facts to publish about them."""
        created = []
        for oid, size, contained in results:
            self._objects[oid].size = size
            self._refs.set_contents(oid, contained)
            created.append(ev.ObjectCreated(oid, size, time, contained, task.spec.task_id))
        return created

    def _on_time_reached(self, event: ev.TimeReached) -> None:
        pass  # what is due now, `_schedule` decides after every step

    def _on_cancel_requested(self, event: ev.CancelRequested) -> None:
        task = self._tasks.get(event.task_id)
        if task is None or task.state.is_terminal:
            return  # cancelling a finished task does nothing
        if event.recursive:  # children first: a cancelled parent no longer waits for them
            for child in self._children.get(event.task_id, ()):
                self._on_cancel_requested(replace(event, task_id=child))
        if task.state is TaskState.QUEUED:  # sent, not started: its worker will skip it
            self._emit(InterruptTask(task.worker, task.spec.task_id))  # type: ignore[arg-type]
            self._transition(task, TaskState.CANCELLED, "cancelled before it started", event.time)
        elif task.state is not TaskState.RUNNING:
            self._transition(task, TaskState.CANCELLED, "cancelled", event.time)
        elif event.force and task.spec.kind is not TaskKind.ACTOR_METHOD:  # (never the actor)
            assert task.worker is not None
            self._stop_worker(task.worker, event.time)
            self._transition(task, TaskState.CANCELLED, "cancelled by force", event.time)
        elif not task.cancel_requested:
            task.cancel_requested = True
            assert task.worker is not None
            self._emit(InterruptTask(task.worker, task.spec.task_id))

    def _on_refs_changed(self, event: ev.RefsChanged) -> None:
        for oid, delta in event.deltas:
            self._refs.adjust(event.worker_id, oid, delta)
        for oid, _ in event.deltas:
            self._collect(oid, event.time)

    def _on_worker_started(self, event: ev.WorkerStarted) -> None:
        worker = self._workers.get(event.worker_id)
        if worker is None or worker.state is not WorkerState.STARTING:
            return  # stopped while it was starting
        self._startup_failures = 0
        self._publish(event)
        if worker.actor is None:
            worker.state = WorkerState.IDLE
            worker.idle_since = event.time
            self._idle.append(event.worker_id)
        else:
            worker.state = WorkerState.ACTOR
            self._construct(self._actors[worker.actor], event.worker_id, event.time)

    def _on_worker_died(self, event: ev.WorkerDied) -> None:
        worker = self._workers.pop(event.worker_id, None)
        if worker is None:
            return
        self._publish(event)
        for oid in self._refs.forget_holder(event.worker_id):
            self._collect(oid, event.time)
        if worker.state is WorkerState.STARTING:
            self._on_startup_failure(event)
        elif worker.state is WorkerState.IDLE:
            self._idle.remove(event.worker_id)
        self._available += worker.holds
        worker.holds = _NOTHING
        self._give_back_queued(worker, "its worker died before it started", event.time)
        if worker.gpus:
            owner = self._tasks.get(worker.task) if worker.task is not None else None
            spec = owner.spec if owner is not None else self._actors[worker.actor].creation  # type: ignore[index]
            self._give_back_gpus(worker, spec)
        if worker.actor is not None:
            actor = self._actors[worker.actor]
            self._actor_worker_died(actor, event)
            self._forget_if_gone(actor)
            return
        task = self._tasks.get(worker.task) if worker.task is not None else None
        if task is None or task.state is not TaskState.RUNNING:
            return
        if task.cancel_requested:
            self._transition(task, TaskState.CANCELLED, "worker died while cancelling", event.time)
        elif task.retries_left > 0:
            task.retries_left -= 1
            self._transition(task, TaskState.READY, "worker died; retrying", event.time)
        else:
            error = failures.worker_crashed(task.spec, event.exit_code)
            self._transition(task, TaskState.FAILED, "worker died", event.time, error)

    def _on_worker_blocked(self, event: ev.WorkerBlocked) -> None:
        worker = self._workers.get(event.worker_id)
        if worker is not None and worker.state is WorkerState.BUSY:
            worker.state = WorkerState.BLOCKED
            self._available += worker.holds
            worker.holds = _NOTHING

    def _on_worker_unblocked(self, event: ev.WorkerUnblocked) -> None:
        worker = self._workers.get(event.worker_id)
        if worker is not None and worker.state is WorkerState.BLOCKED:
            assert worker.task is not None
            worker.state = WorkerState.BUSY
            # Taking the resources back may oversubscribe for a moment, as in Ray: the task
            # resumes at once rather than queueing behind the tasks it lent its CPU to.
            worker.holds = self._tasks[worker.task].spec.resources
            self._available -= worker.holds

    def _on_startup_failure(self, event: ev.WorkerDied) -> None:
        self._startup_failures += 1
        if self._startup_failures < MAX_STARTUP_FAILURES:
            return
        error = failures.workers_cannot_start(self._startup_failures, event.exit_code)
        for queue in self._ready.values():
            for task_id in queue:
                task = self._tasks.get(task_id)
                if task is not None and task.state is TaskState.READY:
                    self._transition(
                        task, TaskState.FAILED, "workers cannot start", event.time, error
                    )

    # ---- transitions ---------------------------------------------------------------------

    def _transition(
        self,
        task: _Task,
        finish: TaskState,
        cause: str,
        time: float,
        error: ErrorInfo | None = None,
        value: object = None,
    ) -> None:
        start = task.state
        method = _TRANSITIONS.get((start, finish))
        if method is None:
            raise InvalidTransition(task.spec.task_id, start, finish, self.story(task.spec.task_id))
        task.state = finish
        task.error, task.error_value = error, value
        self._log_transition(task, start, cause, time)
        method(self, task, time)
        if finish.is_terminal:
            self._retire(task, time)

    def _transition_waiting_ready(self, task: _Task, time: float) -> None:
        if task.spec.kind is TaskKind.ACTOR_METHOD:
            self._actors_to_pump.add(task.spec.actor_id)  # type: ignore[arg-type]
        else:
            self._ready.setdefault(task.spec.resources, deque()).append(task.spec.task_id)

    def _transition_running_ready(self, task: _Task, time: float) -> None:
        self._release_worker(task, time)
        self._transition_waiting_ready(task, time)

    def _transition_queued_ready(self, task: _Task, time: float) -> None:
        self._release_worker(task, time)
        # At the front: it was the oldest of its shape when it was queued.
        self._ready.setdefault(task.spec.resources, deque()).appendleft(task.spec.task_id)

    def _transition_ready_queued(self, task: _Task, time: float) -> None:
        worker_id = task.worker
        assert worker_id is not None
        self._workers[worker_id].queued = task.spec.task_id
        self._num_queued += 1
        self._emit(Dispatch(task.spec, worker_id, body=task.body))

    def _transition_queued_running(self, task: _Task, time: float) -> None:
        worker = self._workers[task.worker]  # type: ignore[index]
        worker.task, worker.queued = task.spec.task_id, None
        self._num_queued -= 1
        if worker.state is not WorkerState.BUSY:  # its task ended blocked: nothing handed over
            worker.state, worker.holds = WorkerState.BUSY, task.spec.resources
            self._available -= worker.holds
        task.started = time
        self._publish(ev.TaskStarted(task.spec.task_id, task.worker, time))  # type: ignore[arg-type]

    def _transition_ready_running(self, task: _Task, time: float) -> None:
        worker_id = task.worker
        assert worker_id is not None
        worker = self._workers[worker_id]
        if task.spec.actor_id is None:  # a plain task takes an idle worker and its resources
            worker.state, worker.task, worker.holds = (
                WorkerState.BUSY,
                task.spec.task_id,
                task.spec.resources,
            )
            self._available -= task.spec.resources
            worker.gpus = self._take_gpus(task.spec)
            task.started = time
        else:  # the actor's own worker, whose resources (and GPUs) the actor holds
            self._actors[task.spec.actor_id].running.add(task.spec.task_id)
        self._emit(Dispatch(task.spec, worker_id, worker.gpus, task.body))
        self._publish(ev.TaskStarted(task.spec.task_id, worker_id, time))

    def _transition_running_finished(self, task: _Task, time: float) -> None:
        if task.spec.kind is TaskKind.TASK:
            if len(self._short) > 10_000:  # functions defined in a loop: forget the old ones
                self._short.clear()
            self._short[task.spec.function_key] = time - task.started < self.config.pipeline_below
        assert task.worker is not None
        self._publish(ev.TaskFinished(task.spec.task_id, task.worker, time))
        self._release_worker(task, time)  # after: the task queued behind it starts now
        for oid in task.spec.return_ids:
            self._resolve(oid, ObjectState.READY, None, time)

    def _transition_any_cancelled(self, task: _Task, time: float) -> None:
        error = ErrorInfo(ErrorKind.CANCELLED, f"Task {task.spec.name} was cancelled.")
        self._emit(StoreError(task.spec.return_ids, error, None, task.spec.name))
        self._publish(ev.TaskCancelled(task.spec.task_id, time))
        self._release_worker(task, time)
        for oid in task.spec.return_ids:
            self._resolve(oid, ObjectState.FAILED, error, time)

    def _transition_any_failed(self, task: _Task, time: float) -> None:
        error = task.error
        assert error is not None, "a move to FAILED needs the error"
        failed = task.spec.return_ids[task.made :]  # all, unless a generator made some first
        self._emit(StoreError(failed, error, task.error_value, task.spec.name))
        self._publish(ev.TaskFailed(task.spec.task_id, task.worker, error, time))
        self._release_worker(task, time)
        for oid in failed:
            self._resolve(oid, ObjectState.FAILED, error, time)

    # ---- helpers -------------------------------------------------------------------------

    def _emit(self, instruction: Instruction) -> None:
        self._out.append(instruction)

    def _publish(self, event: ev.Event) -> None:
        self._published.append(event)

    def _log_transition(
        self, task: _Task, start: TaskState | None, cause: str, time: float
    ) -> None:
        self._log.append(
            (task.spec.task_id, start and start._value_, task.state._value_, cause, time)
        )

    def _running_on(self, task_id: TaskId, worker_id: WorkerId) -> _Task | None:
        task = self._tasks.get(task_id)
        if task is None or task.state is not TaskState.RUNNING or task.worker != worker_id:
            return None
        return task

    def _register_dependencies(self, task: _Task) -> ErrorInfo | None:
        """Wait for the task's arguments; the error if one of them can never be had."""
        failure: ErrorInfo | None = None
        if not task.spec.dependencies:
            return None
        for oid in dict.fromkeys(task.spec.dependencies):
            obj = self._objects.get(oid)
            if obj is None:
                failure = failure or failures.object_lost(task.spec, oid)
                continue
            if obj.state is ObjectState.FAILED:
                failure = failure or failures.dependency_failed(task.spec, oid, obj.error)
            elif obj.state is ObjectState.PENDING:
                task.waiting_for += 1
                if obj.waiting_tasks is None:
                    obj.waiting_tasks = []
                obj.waiting_tasks.append(task.spec.task_id)
        return failure

    def _resolve(
        self, oid: ObjectId, state: ObjectState, error: ErrorInfo | None, time: float
    ) -> None:
        obj = self._objects[oid]
        obj.state, obj.error = state, error
        waiting, obj.waiting_tasks = obj.waiting_tasks or (), None
        for task_id in waiting:
            task = self._tasks.get(task_id)
            if task is None or task.state is not TaskState.WAITING_FOR_ARGS:
                continue
            if state is ObjectState.FAILED:
                failure = failures.dependency_failed(task.spec, oid, error)
                self._transition(task, TaskState.FAILED, "argument failed", time, failure)
                continue
            task.waiting_for -= 1
            if not task.waiting_for:
                self._transition(task, TaskState.READY, "arguments available", time)
        self._collect(oid, time)

    def _retire(self, task: _Task, time: float) -> None:
        """Forget a finished task, releasing its hold on its arguments."""
        del self._tasks[task.spec.task_id]
        self._children.pop(task.spec.task_id, None)
        if task.spec.kind is TaskKind.ACTOR_CREATION and task.state is not TaskState.FINISHED:
            self._creation_ended(task, time)
        held = _held_by(task.spec)
        self._refs.hold_for_task(held, -1)
        for oid in held:
            self._collect(oid, time)

    def _collect(self, oid: ObjectId, time: float) -> None:
        freed = self._refs.collect(oid)
        if freed:
            self._emit(FreeObjects(tuple(freed)))
            for freed_id in freed:
                self._publish(ev.ObjectFreed(freed_id, time))
                actor_id = self._actor_of_handle.pop(freed_id, None)
                if actor_id is not None:
                    actor = self._actors[actor_id]
                    if actor.state is not ActorState.DEAD:
                        self._actor_is_dead(actor, "no handle to it is left", time)
                    self._forget_if_gone(actor)

    def _release_worker(self, task: _Task, time: float) -> WorkerId | None:
        """The task no longer runs (or is no longer queued) on its worker; the worker goes on to
        the task queued behind, or becomes idle."""
        if task.spec.actor_id is not None:  # the actor keeps its worker and resources
            worker_id, task.worker = task.worker, None
            actor = self._actors.get(task.spec.actor_id)
            if actor is not None and task.spec.task_id in actor.running:
                actor.running.discard(task.spec.task_id)
                self._actors_to_pump.add(task.spec.actor_id)
            return worker_id
        worker_id, task.worker = task.worker, None
        worker = self._workers.get(worker_id) if worker_id is not None else None
        if worker is not None and worker.queued == task.spec.task_id:
            worker.queued = None
            self._num_queued -= 1
        elif worker is not None and worker.task == task.spec.task_id:
            worker.task = None
            # A busy worker keeps what it holds for its queued task (of the same shape).
            if worker.queued is None or worker.state is not WorkerState.BUSY:
                self._available += worker.holds
                worker.holds = _NOTHING
                self._give_back_gpus(worker, task.spec)
            if worker.state in (WorkerState.BUSY, WorkerState.BLOCKED):
                if worker.queued is not None:
                    queued = self._tasks[worker.queued]
                    self._transition(queued, TaskState.RUNNING, "its worker is free", time)
                else:
                    worker.state = WorkerState.IDLE
                    worker.idle_since = time
                    self._idle.append(worker_id)  # type: ignore[arg-type]
                    self._count_call(worker_id, task.spec, time)  # type: ignore[arg-type]
        return worker_id

    def _give_back_queued(self, worker: _Worker, cause: str, time: float) -> None:
        """The task queued on a worker that stops will not run there: ready again."""
        if worker.queued is None:
            return
        self._transition(self._tasks[worker.queued], TaskState.READY, cause, time)
        if worker.queued is not None:  # a dead worker, out of the table: not cleared by that
            worker.queued = None
            self._num_queued -= 1

    def _count_call(self, worker_id: WorkerId, spec: TaskSpec, time: float) -> None:
        """max_calls: a worker that ran enough tasks of a function is replaced (a fresh process
        for code that leaks memory or state)."""
        if not spec.max_calls:
            return
        worker = self._workers[worker_id]
        calls = worker.calls[spec.function_key] = worker.calls.get(spec.function_key, 0) + 1
        if calls >= spec.max_calls:
            self._stop_worker(worker_id, time)

    def _spawn_worker(self) -> None:
        worker_id = WorkerId(self._next_worker)
        self._next_worker += 1
        self._workers[worker_id] = _Worker(WorkerState.STARTING)
        self._emit(SpawnWorker(worker_id))

    def _stop_worker(self, worker_id: WorkerId, time: float) -> None:
        worker = self._workers[worker_id]
        if worker.state is WorkerState.IDLE:
            self._idle.remove(worker_id)
        worker.state = WorkerState.STOPPING
        self._available += worker.holds
        worker.holds = _NOTHING
        self._emit(StopWorker(worker_id))
        self._give_back_queued(worker, "its worker is stopping", time)

    def _take_gpus(self, spec: TaskSpec) -> tuple[int, ...]:
        devices = self._gpus.assign(spec.resources.get("GPU", 0))
        assert devices is not None, "dispatched without free devices"
        return devices

    def _give_back_gpus(self, worker: _Worker, spec: TaskSpec) -> None:
        self._gpus.release(worker.gpus, spec.resources.get("GPU", 0))
        worker.gpus = ()

    # ---- actors --------------------------------------------------------------------------

    def _enqueue_call(self, task: _Task) -> ErrorInfo | None:
        """Queue a method call behind the actor's earlier ones; the error if the actor is dead."""
        actor = self._actors.get(task.spec.actor_id)  # type: ignore[arg-type]
        if actor is None:
            return failures.actor_died(task.spec.name, "it no longer exists")
        if actor.state is ActorState.DEAD:
            return actor.death
        actor.queue.append(task.spec.task_id)
        return None

    def _place_actor(self, actor: Actor) -> None:
        """Spawn the actor's own worker, holding its resources from now on."""
        worker_id = WorkerId(self._next_worker)
        self._next_worker += 1
        resources = actor.creation.resources
        gpus = self._take_gpus(actor.creation)
        self._workers[worker_id] = _Worker(
            WorkerState.STARTING, holds=resources, actor=actor.creation.task_id, gpus=gpus
        )
        self._available -= resources
        actor.worker = worker_id
        creation = self._tasks.get(actor.creation.task_id)
        if creation is not None:
            creation.worker = worker_id
        self._emit(SpawnWorker(worker_id))

    def _construct(self, actor: Actor, worker_id: WorkerId, time: float) -> None:
        creation = self._tasks.get(actor.creation.task_id)
        if creation is not None and creation.state is TaskState.READY:
            self._transition(creation, TaskState.RUNNING, "constructing", time)
        else:  # a restart: the creation task is long finished, run its constructor again
            gpus = self._workers[worker_id].gpus
            self._emit(Dispatch(actor.creation, worker_id, gpus, actor.creation_body))

    def _restarted(
        self, task_id: TaskId, worker_id: WorkerId, error: ErrorInfo | None, time: float
    ) -> None:
        actor = self._actors.get(task_id)
        if actor is None or actor.state is not ActorState.RESTARTING or actor.worker != worker_id:
            return
        if error is None:
            self._actor_is_alive(actor, time)
        else:
            cause = f"its constructor raised {error.type_name} on restart: {error.message}"
            self._actor_is_dead(actor, cause, time)

    def _creation_ended(self, creation: _Task, time: float) -> None:
        """An actor whose creation task failed or was cancelled — its constructor raised, its
        request can never be met, an argument failed — is dead: its calls must not wait."""
        actor = self._actors.get(creation.spec.task_id)
        if actor is None or actor.state is ActorState.DEAD:
            return
        error = creation.error
        if error is None:
            cause = "its creation was cancelled"
        elif error.kind is ErrorKind.TASK_ERROR:
            cause = f"its constructor raised {error.type_name}: {error.message}"
        else:
            cause = error.message
        self._actor_is_dead(actor, cause, time)

    def _actor_is_alive(self, actor: Actor, time: float) -> None:
        self._set_actor_state(actor, ActorState.ALIVE, time)
        self._actors_to_pump.add(actor.creation.task_id)

    def _set_actor_state(
        self, actor: Actor, state: ActorState, time: float, cause: str = ""
    ) -> None:
        actor.state = state
        self._publish(ev.ActorChanged(actor.creation.task_id, state, time, cause))

    def _pump(self, actor: Actor, time: float) -> None:
        """Start the actor's next calls, in order, as far as its concurrency allows."""
        while actor.state is ActorState.ALIVE and actor.queue:
            if len(actor.running) >= actor.creation.max_concurrency:
                return
            head = self._tasks.get(actor.queue[0])
            if head is None or head.state.is_terminal:
                actor.queue.popleft()  # cancelled while queued
                continue
            if head.state is not TaskState.READY:
                return  # the head waits for its arguments; the calls behind it wait too
            actor.queue.popleft()
            head.worker = actor.worker
            self._transition(head, TaskState.RUNNING, "dispatched to its actor", time)

    def _on_actor_kill_requested(self, event: ev.ActorKillRequested) -> None:
        actor = self._actors.get(event.actor_id)
        if actor is None or actor.state is ActorState.DEAD:
            return
        if event.no_restart:
            self._actor_is_dead(actor, "it was killed with nbray.kill", event.time)
        elif actor.worker is not None and actor.worker in self._workers:
            self._stop_worker(actor.worker, event.time)  # its death restarts it, if any remain

    def _actor_worker_died(self, actor: Actor, event: ev.WorkerDied) -> None:
        cause = failures.actor_crashed_cause(event.exit_code)
        calls = [t for t in actor.running if t != actor.creation.task_id]  # it may run again
        current = actor.state is not ActorState.DEAD and actor.worker == event.worker_id
        ended_itself = event.exit_code == failures.ACTOR_EXITED  # not a crash: no restart
        if current and actor.restarts_left > 0 and not ended_itself:
            actor.restarts_left -= 1
            error = failures.actor_restarting(actor.name, cause, actor.restarts_left)
            tasks = [self._tasks[t] for t in sorted(calls)]  # in submission order
            again = [t for t in tasks if t.retries_left > 0 and not t.cancel_requested]
            self._retry_calls(actor, again, "its actor died", event.time)
            calls = [t.spec.task_id for t in tasks if t not in again]
            self._fail_actor_calls(actor, calls, error, event.time)
            self._set_actor_state(actor, ActorState.RESTARTING, event.time, cause)
            self._place_actor(actor)
            return
        self._fail_actor_calls(actor, calls, failures.actor_died(actor.name, cause), event.time)
        if current:
            self._actor_is_dead(actor, cause, event.time)

    def _retry_calls(self, actor: Actor, calls: list[_Task], why: str, time: float) -> None:
        """Run these calls again (max_task_retries), first, in their order, once the actor
        can: after its restart, or at once."""
        for task in reversed(calls):
            task.retries_left -= 1
            actor.queue.appendleft(task.spec.task_id)
            self._transition(task, TaskState.READY, f"{why}; retrying", time)

    def _actor_is_dead(self, actor: Actor, cause: str, time: float) -> None:
        self._set_actor_state(actor, ActorState.DEAD, time, cause)
        actor.death = failures.actor_died(actor.name, cause)
        actor.creation_body = None  # its constructor's arguments: it will never run again
        worker = self._workers.get(actor.worker) if actor.worker is not None else None
        if worker is not None and worker.state is not WorkerState.STOPPING:
            self._stop_worker(actor.worker, time)  # type: ignore[arg-type]
        calls = [*actor.running, *actor.queue, actor.creation.task_id]
        actor.queue.clear()
        self._fail_actor_calls(actor, calls, actor.death, time)
        if actor.creation.detached:  # its handles may go now, like any actor's
            handle = actor.creation.return_ids[0]
            self._refs.unpin(handle)
            self._collect(handle, time)

    def _forget_if_gone(self, actor: Actor) -> None:
        """A dead actor nobody can call any more (its handle is freed) and whose worker has
        exited leaves no trace: a notebook may create thousands."""
        if (
            actor.state is not ActorState.DEAD
            or actor.creation.return_ids[0] in self._actor_of_handle
        ):
            return
        if actor.worker is None or actor.worker not in self._workers:
            del self._actors[actor.creation.task_id]

    def _fail_actor_calls(
        self, actor: Actor, task_ids: list[TaskId], error: ErrorInfo, time: float
    ) -> None:
        for task_id in task_ids:
            task = self._tasks.get(task_id)
            if task is not None and not task.state.is_terminal:
                self._transition(task, TaskState.FAILED, "actor died", time, error)

    # ---- scheduling ----------------------------------------------------------------------

    def _schedule(self, time: float) -> None:
        if self._idle and self._num_queued:
            self._take_back_queued(time)
        if not self._ready and not self._actors_to_pump:
            if self._idle and len(self._workers) > self.config.num_workers:
                self._reap_idle_workers(time)
            return  # nothing waits to run
        pumped, self._actors_to_pump = self._actors_to_pump, set()
        for actor_id in pumped:
            if actor_id in self._actors:
                self._pump(self._actors[actor_id], time)
        while (task := self._oldest_runnable()) is not None:
            if task.spec.kind is TaskKind.ACTOR_CREATION:
                self._dequeue(task)
                self._place_actor(self._actors[task.spec.task_id])
                continue
            if not self._idle:
                self._maybe_spawn()
                break
            task.worker = self._idle.pop()
            self._dequeue(task)
            self._transition(task, TaskState.RUNNING, "dispatched", time)
        if self._ready and self.config.pipeline_below:
            self._queue_behind_short_tasks(time)

    def _queue_behind_short_tasks(self, time: float) -> None:
        """Pipelining (see the module's docstring): queue on each busy worker whose task is short
        the oldest ready task of the same shape."""
        for worker_id, worker in self._workers.items():
            if worker.state is not WorkerState.BUSY or worker.queued is not None:
                continue
            task = self._tasks[worker.task]  # type: ignore[index]
            running = task.spec
            if not (_pipelines(running) and self._short.get(running.function_key)):
                continue
            if time - task.started >= self.config.pipeline_below:
                continue  # short last time, not this time
            queue = self._ready.get(running.resources)
            head = self._tasks.get(queue[0]) if queue else None
            if head is None or head.state is not _READY or not _pipelines(head.spec):
                continue
            self._dequeue(head)
            head.worker = worker_id
            self._transition(head, TaskState.QUEUED, "queued behind a short task", time)

    def _take_back_queued(self, time: float) -> None:
        """A worker is idle while a task waits queued behind one that has run longer than
        `pipeline_below`: the guess that it was short was wrong, and the queued task could
        wait for it forever. Take the queued task back (its worker will skip it) for the idle
        worker to run. (Should it have begun meanwhile, its first worker interrupts it at once
        and its report is ignored.)"""
        due: float | None = None  # when the next of the tasks still as short as guessed is not
        wanted = len(self._idle)  # one task for each idle worker
        for worker_id, worker in self._workers.items():
            if worker.state is not WorkerState.BUSY or worker.queued is None or not wanted:
                continue
            deadline = self._tasks[worker.task].started + self.config.pipeline_below  # type: ignore[index]
            if time < deadline:
                due = deadline if due is None else min(due, deadline)
                continue
            queued = self._tasks[worker.queued]
            self._emit(InterruptTask(worker_id, queued.spec.task_id))
            self._transition(queued, TaskState.READY, "taken back for an idle worker", time)
            wanted -= 1
        if due is not None:  # an idle worker must not wait for an event that never comes
            self._wake_up_by(due, time)

    def _reap_idle_workers(self, time: float) -> None:
        """Workers started beyond the configured pool (for oversubscribed or nested work) exit
        once idle for `idle_timeout`, longest idle first, down to the pool."""
        pool = [w for w in self._workers.values() if w.actor is None and w.state is not _STOPPING]
        surplus = len(pool) - self.config.num_workers
        while surplus > 0 and self._idle:
            worker_id = self._idle[0]  # the longest idle: `_schedule` takes from the end
            due = self._workers[worker_id].idle_since + self.config.idle_timeout
            if time < due:
                self._wake_up_by(due, time)
                return
            self._stop_worker(worker_id, time)
            surplus -= 1

    def _wake_up_by(self, due: float, time: float) -> None:
        """Have the shell send TimeReached at `due` at the latest (one deadline is kept: the
        earliest; every step rechecks what is due)."""
        pending = self._wake_at if self._wake_at is not None and self._wake_at > time else None
        if pending is None or due < pending:
            self._wake_at = due
            self._emit(WakeAt(due))

    def _dequeue(self, task: _Task) -> None:
        queue = self._ready[task.spec.resources]
        queue.popleft()
        if not queue:
            del self._ready[task.spec.resources]

    def _oldest_runnable(self) -> _Task | None:
        """The oldest ready task whose resources fit what is available now."""
        best: _Task | None = None
        tasks = self._tasks
        for shape, queue in list(self._ready.items()):
            while queue and ((task := tasks.get(queue[0])) is None or task.state is not _READY):
                queue.popleft()  # cancelled or failed while queued
            if not queue:
                del self._ready[shape]
            elif (
                (best is None or queue[0] < best.spec.task_id)
                and shape.fits_in(self._available)
                and self._gpus.can_assign(shape.get("GPU", 0))
            ):
                best = task
        return best

    def _maybe_spawn(self) -> None:
        active = [
            w
            for w in self._workers.values()
            if w.state is not WorkerState.BLOCKED and w.actor is None
        ]
        starting = any(w.state is WorkerState.STARTING for w in active)
        if not starting and len(active) < self.config.max_workers:
            self._spawn_worker()

    # ---- invariants ----------------------------------------------------------------------

    def validate(self) -> None:
        """Check every invariant of the whole state; raise AssertionError at the first broken."""
        held = _NOTHING
        for wid, worker in self._workers.items():
            held += worker.holds
            busy = worker.state in (WorkerState.BUSY, WorkerState.BLOCKED)
            assert busy == (worker.task is not None), f"worker {wid} {worker.state} {worker.task}"
            idle = worker.state is WorkerState.IDLE
            assert idle == (wid in self._idle), f"worker {wid} and the idle list disagree"
            if worker.actor is not None and worker.state is not WorkerState.STOPPING:
                resources = self._actors[worker.actor].creation.resources
                assert worker.holds == resources, f"actor worker {wid} holds {worker.holds}"
            if busy:
                task = self._tasks[worker.task]  # type: ignore[index]
                assert task.state is TaskState.RUNNING and task.worker == wid, f"worker {wid}"
                blocked = worker.state is WorkerState.BLOCKED
                assert worker.holds == (_NOTHING if blocked else task.spec.resources)
            if worker.queued is not None:
                assert busy, f"worker {wid} is {worker.state} with a queued task"
                queued_task = self._tasks[worker.queued]
                assert queued_task.state is TaskState.QUEUED and queued_task.worker == wid
                assert queued_task.spec.resources == task.spec.resources, "queued: other shape"
        assert len(self._idle) == len(set(self._idle)), "a worker is idle twice"
        num_queued = sum(w.queued is not None for w in self._workers.values())
        assert num_queued == self._num_queued, f"{self._num_queued} queued, {num_queued} found"
        assert held + self._available == self.config.total, f"{held} + {self._available} leaks"
        queued = [tid for queue in self._ready.values() for tid in queue]
        task_holds: dict[ObjectId, int] = {}
        for tid, task in self._tasks.items():
            assert not task.state.is_terminal, f"task {tid} is terminal but kept"
            for oid in _held_by(task.spec):
                task_holds[oid] = task_holds.get(oid, 0) + 1
            if task.state is TaskState.WAITING_FOR_ARGS:
                pending = {o for o in task.spec.dependencies if self.object_state(o) is _PENDING}
                assert task.waiting_for == len(pending) > 0, f"task {tid} waits wrongly"

            if task.state is TaskState.READY:
                expected = 1
                if task.spec.kind is TaskKind.ACTOR_METHOD:
                    assert tid in self._actors[task.spec.actor_id].queue, f"call {tid} not queued"  # type: ignore[index]
                    expected = 0
                elif task.spec.kind is TaskKind.ACTOR_CREATION and task.worker is not None:
                    expected = 0  # placed: its worker is starting
                assert queued.count(tid) == expected, f"ready task {tid} is queued wrongly"
            if task.state is TaskState.RUNNING:
                assert task.worker in self._workers, f"task {tid} runs on a missing worker"
            if task.state is TaskState.QUEUED:
                assert self._workers[task.worker].queued == tid, f"task {tid} is not queued"  # type: ignore[index]
                assert tid not in queued, f"queued task {tid} is also ready"
        self._refs.validate(task_holds)
        self._gpus.validate()


def _pipelines(spec: TaskSpec) -> bool:
    """Can this task be queued on a worker, or have one queued behind it?"""
    return spec.kind is TaskKind.TASK and not spec.max_calls and not spec.resources.get("GPU")


def _held_by(spec: TaskSpec) -> tuple[ObjectId, ...]:
    """The objects an unfinished task keeps alive: its arguments, top-level and nested."""
    if not spec.contained_ids and len(spec.dependencies) < 2:
        return spec.dependencies  # most often (): nothing to deduplicate
    return tuple(dict.fromkeys((*spec.dependencies, *spec.contained_ids)))


_T = TaskState
_READY = TaskState.READY
_STOPPING = WorkerState.STOPPING
_PENDING = ObjectState.PENDING
_UNFINISHED = (_T.WAITING_FOR_ARGS, _T.READY, _T.QUEUED, _T.RUNNING)
_Method = Callable[[SchedulerState, _Task, float], None]
_TRANSITIONS: dict[tuple[TaskState, TaskState], _Method] = {
    (_T.WAITING_FOR_ARGS, _T.READY): SchedulerState._transition_waiting_ready,
    (_T.READY, _T.RUNNING): SchedulerState._transition_ready_running,
    (_T.RUNNING, _T.FINISHED): SchedulerState._transition_running_finished,
    (_T.RUNNING, _T.READY): SchedulerState._transition_running_ready,
    (_T.READY, _T.QUEUED): SchedulerState._transition_ready_queued,
    (_T.QUEUED, _T.RUNNING): SchedulerState._transition_queued_running,
    (_T.QUEUED, _T.READY): SchedulerState._transition_queued_ready,
    **{(s, _T.FAILED): SchedulerState._transition_any_failed for s in _UNFINISHED},
    **{(s, _T.CANCELLED): SchedulerState._transition_any_cancelled for s in _UNFINISHED},
}

_HANDLERS: dict[type, Callable[[SchedulerState, ev.Event], None]] = {
    ev.RuntimeStarted: SchedulerState._on_runtime_started,  # type: ignore[dict-item]
    ev.TimeReached: SchedulerState._on_time_reached,  # type: ignore[dict-item]
    ev.TaskSubmitted: SchedulerState._on_task_submitted,  # type: ignore[dict-item]
    ev.ObjectCreated: SchedulerState._on_object_created,  # type: ignore[dict-item]
    ev.TaskReturned: SchedulerState._on_task_returned,  # type: ignore[dict-item]
    ev.TaskYielded: SchedulerState._on_task_yielded,  # type: ignore[dict-item]
    ev.TaskBounced: SchedulerState._on_task_bounced,  # type: ignore[dict-item]
    ev.TaskRaised: SchedulerState._on_task_raised,  # type: ignore[dict-item]
    ev.TaskOutput: SchedulerState._on_task_output,  # type: ignore[dict-item]
    ev.CancelRequested: SchedulerState._on_cancel_requested,  # type: ignore[dict-item]
    ev.ActorKillRequested: SchedulerState._on_actor_kill_requested,  # type: ignore[dict-item]
    ev.RefsChanged: SchedulerState._on_refs_changed,  # type: ignore[dict-item]
    ev.WorkerStarted: SchedulerState._on_worker_started,  # type: ignore[dict-item]
    ev.WorkerDied: SchedulerState._on_worker_died,  # type: ignore[dict-item]
    ev.WorkerBlocked: SchedulerState._on_worker_blocked,  # type: ignore[dict-item]
    ev.WorkerUnblocked: SchedulerState._on_worker_unblocked,  # type: ignore[dict-item]
}
