"""What the pure scheduler costs per task, with no process or thread involved.

    python -m bench.scheduler [--profile]

It replays what the event loop feeds the scheduler for `get([noop.remote() for _ in range(n)])`
on two workers, with pipelining: each step brings a few submissions and the result of each
worker's task; the refs are dropped at the end. The event loop spends this much of every task's
time here.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from collections import deque

from nbray.core import events as ev
from nbray.core.ids import DRIVER, IdAllocator, WorkerId
from nbray.core.instructions import Dispatch, SpawnWorker
from nbray.core.resources import Resources
from nbray.core.scheduler import SchedulerConfig, SchedulerState
from nbray.core.task import TaskSpec

SUBMITTED_PER_STEP = 4  # what a step takes from the inbox while the caller submits
DROPPED_PER_STEP = 64  # refs released per step at the end


def run(tasks: int = 20_000, workers: int = 2) -> float:
    """Seconds per task."""
    config = SchedulerConfig(Resources.of(workers), workers, 2 * workers, pipeline_below=1.0)
    state = SchedulerState(config)
    sent: dict[WorkerId, deque[TaskSpec]] = {}
    for spawn in state.handle(ev.RuntimeStarted(0.0)):
        if isinstance(spawn, SpawnWorker):
            state.handle(ev.WorkerStarted(spawn.worker_id, 1, 0.0))
            sent[spawn.worker_id] = deque()
    ids = IdAllocator()
    to_submit = deque(TaskSpec(ids.task_id(), "noop", (ids.object_id(),)) for _ in range(tasks))
    to_drop = [ev.RefsChanged(DRIVER, ((s.return_ids[0], -1),), 0.0) for s in to_submit]
    started = time.perf_counter()
    now = 0.0
    while to_submit or any(sent.values()):
        now += 1e-5
        events: list[ev.Event] = []
        for _ in range(min(SUBMITTED_PER_STEP, len(to_submit))):
            events.append(ev.TaskSubmitted(to_submit.popleft(), now))
        for worker_id, queue in sent.items():
            if queue:
                spec = queue.popleft()
                events.append(ev.TaskReturned(spec.task_id, worker_id, (b"",), (1,), ((),), now))
        for instruction in state.handle(*events):
            if isinstance(instruction, Dispatch):
                sent[instruction.worker_id].append(instruction.spec)
    for i in range(0, len(to_drop), DROPPED_PER_STEP):
        state.handle(*to_drop[i : i + DROPPED_PER_STEP])
    return (time.perf_counter() - started) / tasks


if __name__ == "__main__":
    if "--profile" in sys.argv:
        cProfile.run("run()", "/tmp/scheduler.prof")
        pstats.Stats("/tmp/scheduler.prof").sort_stats("tottime").print_stats(25)
    else:
        print(f"scheduler: {min(run() for _ in range(5)) * 1e6:.1f} µs per task")
