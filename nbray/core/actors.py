"""Actors as the scheduler sees them: a worker of their own, and a queue of method calls.

An actor is born from its creation task: once that task is ready and the actor's resources fit,
a dedicated worker is spawned and the constructor runs there. The actor then holds those
resources for its life; its methods take none. Method calls wait in one queue per actor, in the
order they were submitted, and up to `max_concurrency` of them run at once. The queue's head
waits for its arguments; the calls behind it wait too, so order is kept.

The actor lives while its creation task's result (the object every handle refers to) is
reachable: handles are counted like refs, in every process, and pending calls hold it. When it
is freed, or `kill` is called, the actor's worker is stopped. If the worker dies and restarts
remain, the constructor runs again in a new worker; otherwise the actor is dead and every call,
queued or new, fails with the cause.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from nbray.core.ids import TaskId, WorkerId
from nbray.core.task import ErrorInfo, TaskSpec


class ActorState(enum.Enum):
    PENDING = "pending"  # its constructor has not run yet
    ALIVE = "alive"
    RESTARTING = "restarting"  # its worker died; the constructor runs again in a new one
    DEAD = "dead"


@dataclass(slots=True)
class Actor:
    creation: TaskSpec
    creation_body: object  # run again on a restart
    state: ActorState = ActorState.PENDING
    worker: WorkerId | None = None
    queue: deque[TaskId] = field(default_factory=deque)  # method calls not yet started
    running: set[TaskId] = field(default_factory=set)
    restarts_left: int = 0
    death: ErrorInfo | None = None

    @property
    def name(self) -> str:
        return self.creation.name
