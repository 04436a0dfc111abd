"""What the pure scheduler costs per task, with no process or thread involved.

    python -m bench.scheduler [--profile]

Each task is submitted, dispatched, returns, and its ref is dropped: the events a no-op task
makes in the local runtime. The event loop spends this much of every task's time here.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time

from nbray.core import events as ev
from nbray.core.ids import DRIVER, IdAllocator
from nbray.core.instructions import Dispatch, Instruction, SpawnWorker
from nbray.core.resources import Resources
from nbray.core.scheduler import SchedulerConfig, SchedulerState
from nbray.core.task import TaskSpec


def run(tasks: int = 20_000, workers: int = 2) -> float:
    """Seconds per task: all submitted at once, then run to the end two at a time."""
    state = SchedulerState(SchedulerConfig(Resources.of(workers), workers, 2 * workers))
    for spawn in state.handle(ev.RuntimeStarted(0.0)):
        if isinstance(spawn, SpawnWorker):
            state.handle(ev.WorkerStarted(spawn.worker_id, 1, 0.0))
    ids = IdAllocator()
    specs = [TaskSpec(ids.task_id(), "noop", (ids.object_id(),)) for _ in range(tasks)]
    started = time.perf_counter()
    out: list[Instruction] = []
    for spec in specs:
        out += state.handle(ev.TaskSubmitted(spec, 1.0))
    while dispatched := [i for i in out if isinstance(i, Dispatch)]:
        out = []
        for d in dispatched:
            spec = d.spec
            returned = ev.TaskReturned(spec.task_id, d.worker_id, (b"",), (1,), ((),), 2.0)
            out += state.handle(returned)
            out += state.handle(ev.RefsChanged(DRIVER, ((spec.return_ids[0], -1),), 3.0))
    return (time.perf_counter() - started) / tasks


if __name__ == "__main__":
    if "--profile" in sys.argv:
        cProfile.run("run()", "/tmp/scheduler.prof")
        pstats.Stats("/tmp/scheduler.prof").sort_stats("tottime").print_stats(25)
    else:
        print(f"scheduler: {min(run() for _ in range(5)) * 1e6:.1f} µs per task")
