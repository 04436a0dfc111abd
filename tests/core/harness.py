"""Drive a SchedulerState synchronously with a fake clock, validating after every step."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

from nbray.core import events as ev
from nbray.core.ids import DRIVER, IdAllocator, ObjectId, TaskId, WorkerId
from nbray.core.instructions import Dispatch, Instruction, Publish, SpawnWorker
from nbray.core.resources import Resources
from nbray.core.scheduler import SchedulerConfig, SchedulerState
from nbray.core.task import ErrorInfo, ErrorKind, TaskKind, TaskSpec


class Harness:
    def __init__(
        self,
        cpus: float = 2,
        gpus: float = 0,
        workers: int = 2,
        max_workers: int = 4,
        pipeline_below: float = 0.001,  # in the harness's time: one event is one second
        **custom: float,
    ):
        total = Resources.of(cpus, gpus, custom)
        config = SchedulerConfig(total, workers, max_workers, pipeline_below)
        self.state = SchedulerState(config)
        self.ids = IdAllocator()
        self.clock = itertools.count(1)
        self.pids = itertools.count(1000)

    def handle(self, *events: ev.Event) -> list[Instruction]:
        out = self.state.handle(*events)
        self.state.validate()
        return out

    def now(self) -> float:
        return float(next(self.clock))

    def start(self) -> list[WorkerId]:
        """Start the runtime and its workers; the ids of the workers now idle."""
        spawned = [
            i.worker_id
            for i in self.handle(ev.RuntimeStarted(self.now()))
            if isinstance(i, SpawnWorker)
        ]
        for worker_id in spawned:
            self.handle(ev.WorkerStarted(worker_id, next(self.pids), self.now()))
        return spawned

    def spec(
        self,
        name: str = "f",
        deps: Sequence[ObjectId] = (),
        contained: Sequence[ObjectId] = (),
        num_returns: int = 1,
        max_retries: int = 0,
        **resources: float,
    ) -> TaskSpec:
        cpus = resources.pop("CPU", 1)
        gpus = resources.pop("GPU", 0)
        return TaskSpec(
            task_id=self.ids.task_id(),
            name=name,
            return_ids=tuple(self.ids.object_id() for _ in range(num_returns)),
            dependencies=tuple(deps),
            contained_ids=tuple(contained),
            resources=Resources.of(cpus, gpus, resources),
            max_retries=max_retries,
        )

    def actor(self, cpus: float = 0, max_restarts: int = 0, max_concurrency: int = 1) -> TaskSpec:
        """The creation task of an actor."""
        spec = self.spec("Actor", CPU=cpus)
        return replace(
            spec,
            kind=TaskKind.ACTOR_CREATION,
            actor_id=spec.task_id,
            max_restarts=max_restarts,
            max_concurrency=max_concurrency,
        )

    def call(self, actor: TaskSpec, deps: Sequence[ObjectId] = ()) -> TaskSpec:
        """A method call on `actor`, holding its handle like the shell does."""
        spec = self.spec("Actor.method", deps=deps, contained=actor.return_ids, CPU=0)
        return replace(spec, kind=TaskKind.ACTOR_METHOD, actor_id=actor.task_id)

    def submit(self, spec: TaskSpec) -> list[Instruction]:
        return self.handle(ev.TaskSubmitted(spec, self.now()))

    def put(self, contained: Sequence[ObjectId] = ()) -> ObjectId:
        oid = self.ids.object_id()
        self.handle(ev.ObjectCreated(oid, 8, self.now(), tuple(contained)))
        return oid

    def returned(
        self, spec: TaskSpec, worker: WorkerId, contained: Sequence[ObjectId] = ()
    ) -> list[Instruction]:
        values = tuple(f"value of {oid}" for oid in spec.return_ids)
        sizes = tuple(8 for _ in spec.return_ids)
        contents = tuple(tuple(contained) for _ in spec.return_ids)
        return self.handle(
            ev.TaskReturned(spec.task_id, worker, values, sizes, contents, self.now())
        )

    def drop(self, oid: ObjectId, holder: WorkerId = DRIVER, count: int = 1) -> list[Instruction]:
        return self.handle(ev.RefsChanged(holder, ((oid, -count),), self.now()))

    def raised(self, spec: TaskSpec, worker: WorkerId) -> list[Instruction]:
        error = ErrorInfo(ErrorKind.TASK_ERROR, "boom", "ValueError", "Traceback ...")
        return self.handle(
            ev.TaskRaised(spec.task_id, worker, error, b"pickled ValueError", self.now())
        )


def dispatched(instructions: Sequence[Instruction]) -> dict[TaskId, WorkerId]:
    return {i.spec.task_id: i.worker_id for i in instructions if isinstance(i, Dispatch)}


def published(instructions: Sequence[Instruction]) -> list[type]:
    return [type(e) for i in instructions if isinstance(i, Publish) for e in i.events]


def of_type(instructions: Sequence[Instruction], kind: type) -> list[Instruction]:
    return [i for i in instructions if isinstance(i, kind)]
