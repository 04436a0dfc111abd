"""Random walks through the scheduler: every step must keep `validate()` true and lose nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nbray.core import events as ev
from nbray.core.instructions import (
    Dispatch,
    FreeObjects,
    SpawnWorker,
    StopWorker,
    StoreError,
    StoreValues,
)
from nbray.core.scheduler import ObjectState
from tests.core.harness import Harness

ACTIONS = [
    *("submit", "put", "return", "raise", "die", "cancel", "drop", "block", "unblock", "start"),
    "bounce",
]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_walks_keep_the_invariants(data: st.DataObject) -> None:
    h = Harness(cpus=2, gpus=1, workers=2, max_workers=3, pipeline_below=4)  # some pipelining
    starting: set = set()
    running: dict = {}  # task id -> (spec, worker)
    specs: dict = {}
    objects: list = []
    resolved: set = set()
    freed: set = set()

    def apply(out: list) -> None:
        for instruction in out:
            if isinstance(instruction, SpawnWorker):
                starting.add(instruction.worker_id)
            elif isinstance(instruction, Dispatch):
                running[instruction.spec.task_id] = (
                    specs[instruction.spec.task_id],
                    instruction.worker_id,
                )
            elif isinstance(instruction, StopWorker):
                running.update({t: v for t, v in running.items() if v[1] != instruction.worker_id})
            elif isinstance(instruction, (StoreValues, StoreError)):
                assert not set(instruction.object_ids) & resolved, "an object was stored twice"
                resolved.update(instruction.object_ids)
            elif isinstance(instruction, FreeObjects):
                assert set(instruction.object_ids) <= resolved, "freed before it was stored"
                freed.update(instruction.object_ids)

    apply(h.handle(ev.RuntimeStarted(h.now())))
    for _ in range(data.draw(st.integers(10, 60))):
        action = data.draw(st.sampled_from(ACTIONS))
        if action == "start" and starting:
            worker = data.draw(st.sampled_from(sorted(starting)))
            starting.discard(worker)
            apply(h.handle(ev.WorkerStarted(worker, 1, h.now())))
        elif action == "submit":
            live = [o for o in objects if o not in freed]
            deps = data.draw(st.lists(st.sampled_from(live), max_size=2)) if live else []
            spec = h.spec(
                deps=deps,
                num_returns=data.draw(st.integers(1, 2)),
                max_retries=data.draw(st.integers(0, 1)),
                CPU=data.draw(st.sampled_from([0, 0.5, 1, 2, 3])),
                GPU=data.draw(st.sampled_from([0, 0, 0.5])),
            )
            specs[spec.task_id] = spec
            objects.extend(spec.return_ids)
            apply(h.submit(spec))
        elif action == "put":
            oid = h.put()
            resolved.add(oid)
            objects.append(oid)
        elif (
            action in ("return", "raise", "die", "block", "unblock", "cancel", "bounce") and running
        ):
            task_id = data.draw(st.sampled_from(sorted(running)))
            spec, worker = running[task_id]
            if action in ("return", "raise", "die"):
                del running[task_id]
            if action == "return":
                apply(h.returned(spec, worker))
            elif action == "raise":
                apply(h.raised(spec, worker))
            elif action == "die":
                apply(h.handle(ev.WorkerDied(worker, -9, h.now())))
            elif action == "bounce":
                apply(h.handle(ev.TaskBounced(task_id, worker, h.now())))
            elif action == "cancel":
                apply(h.handle(ev.CancelRequested(task_id, data.draw(st.booleans()), h.now())))
            else:
                event = ev.WorkerBlocked if action == "block" else ev.WorkerUnblocked
                apply(h.handle(event(worker, h.now())))
        elif action == "drop" and objects:
            oid = data.draw(st.sampled_from(objects))
            holder = data.draw(st.sampled_from([0, 1, 2]))
            delta = data.draw(st.sampled_from([-1, -1, +1]))
            apply(h.handle(ev.RefsChanged(holder, ((oid, delta),), h.now())))

    # Nothing is lost: every object the scheduler still tracks as available was stored.
    for oid in objects:
        state = h.state.object_state(oid)
        if state in (ObjectState.READY, ObjectState.FAILED):
            assert oid in resolved and oid not in freed
