"""Actors in the scheduler: their own worker, ordered calls, failures, restarts, lifetime."""

from __future__ import annotations

import pytest

from nbray.core import events as ev
from nbray.core.ids import WorkerId
from nbray.core.instructions import Dispatch, SpawnWorker, StopWorker, StoreError
from nbray.core.task import ErrorKind, TaskSpec
from tests.core.harness import Harness, dispatched, of_type


def start_actor(h: Harness, actor: TaskSpec) -> WorkerId:
    (spawn,) = of_type(h.submit(actor), SpawnWorker)
    worker = spawn.worker_id  # type: ignore[attr-defined]
    out = h.handle(ev.WorkerStarted(worker, 1, h.now()))
    assert dispatched(out) == {actor.task_id: worker}  # the constructor runs first
    return worker  # type: ignore[no-any-return]


def alive_actor(h: Harness, **options: int) -> tuple[TaskSpec, WorkerId]:
    actor = h.actor(**options)
    worker = start_actor(h, actor)
    h.returned(actor, worker)
    return actor, worker


def test_an_actor_gets_its_own_worker_and_runs_calls_in_order_one_at_a_time() -> None:
    h = Harness(cpus=1, workers=1)
    (pool_worker,) = h.start()
    h.submit(h.spec("hog"))  # the only CPU is busy: actor calls take none
    actor = h.actor()
    worker = start_actor(h, actor)
    assert worker != pool_worker
    calls = [h.call(actor) for _ in range(3)]
    for call in calls:
        assert dispatched(h.submit(call)) == {}  # waits for the constructor
    assert dispatched(h.returned(actor, worker)) == {calls[0].task_id: worker}
    assert dispatched(h.returned(calls[0], worker)) == {calls[1].task_id: worker}
    assert dispatched(h.returned(calls[1], worker)) == {calls[2].task_id: worker}


def test_a_call_waiting_for_its_argument_holds_back_the_calls_behind_it() -> None:
    h = Harness(cpus=1, workers=1)
    (pool_worker,) = h.start()
    actor, worker = alive_actor(h)
    slow = h.spec("slow")
    h.submit(slow)
    first, second = h.call(actor, deps=slow.return_ids), h.call(actor)
    h.submit(first)
    assert dispatched(h.submit(second)) == {}
    assert dispatched(h.returned(slow, pool_worker)) == {first.task_id: worker}


def test_concurrency_lets_calls_overlap() -> None:
    h = Harness()
    h.start()
    actor, _worker = alive_actor(h, max_concurrency=2)
    running = {}
    for _ in range(3):
        running |= dispatched(h.submit(h.call(actor)))
    assert len(running) == 2


def test_a_failing_constructor_kills_the_actor_and_its_calls_say_why() -> None:
    h = Harness()
    h.start()
    actor = h.actor(cpus=1)
    worker = start_actor(h, actor)
    call = h.call(actor)
    h.submit(call)
    out = h.raised(actor, worker)
    assert StopWorker(worker) in out
    stores = {s.object_ids: s.error for s in of_type(out, StoreError)}  # type: ignore[attr-defined]
    assert stores[call.return_ids].kind is ErrorKind.ACTOR_DIED
    assert "constructor raised ValueError" in stores[call.return_ids].message
    late = h.call(actor)
    assert of_type(h.submit(late), StoreError)[0].error.kind is ErrorKind.ACTOR_DIED  # type: ignore[attr-defined]


def test_a_crashed_actor_restarts_while_it_may_and_then_dies() -> None:
    h = Harness()
    h.start()
    actor, worker = alive_actor(h, max_restarts=1)
    running, queued = h.call(actor), h.call(actor)
    h.submit(running)
    h.submit(queued)
    out = h.handle(ev.WorkerDied(worker, -9, h.now()))
    (failed,) = of_type(out, StoreError)
    assert failed.object_ids == running.return_ids  # type: ignore[attr-defined]
    assert "is restarting (0 restart(s) left" in failed.error.message  # type: ignore[attr-defined]
    assert "is dead" not in failed.error.message  # type: ignore[attr-defined]
    (spawn,) = of_type(out, SpawnWorker)
    new_worker = spawn.worker_id  # type: ignore[attr-defined]
    out = h.handle(ev.WorkerStarted(new_worker, 2, h.now()))
    assert [i.spec.task_id for i in of_type(out, Dispatch)] == [actor.task_id]  # type: ignore[attr-defined]
    assert dispatched(h.returned(actor, new_worker)) == {queued.task_id: new_worker}
    out = h.handle(ev.WorkerDied(new_worker, -9, h.now()))
    assert "SIGKILL" in of_type(out, StoreError)[0].error.message  # type: ignore[attr-defined]
    assert "is dead" in of_type(out, StoreError)[0].error.message  # type: ignore[attr-defined]
    assert not of_type(out, SpawnWorker)


def test_kill_stops_the_actor_and_fails_its_calls() -> None:
    h = Harness()
    h.start()
    actor, worker = alive_actor(h, max_restarts=5)
    call = h.call(actor)
    h.submit(call)
    out = h.handle(ev.ActorKillRequested(actor.task_id, True, h.now()))
    assert StopWorker(worker) in out
    assert "nbray.kill" in of_type(out, StoreError)[0].error.message  # type: ignore[attr-defined]
    assert not of_type(h.handle(ev.WorkerDied(worker, -9, h.now())), SpawnWorker)


def test_an_actor_lives_while_a_handle_or_a_pending_call_does() -> None:
    h = Harness()
    h.start()
    actor, worker = alive_actor(h)
    call = h.call(actor)
    h.submit(call)
    handle = actor.return_ids[0]
    assert StopWorker(worker) not in h.drop(handle)  # the pending call holds it
    assert StopWorker(worker) in h.returned(call, worker)


@pytest.mark.parametrize("ending", ["killed, then its handle dropped", "its handle dropped"])
def test_a_dead_actor_nobody_can_call_leaves_no_trace(ending: str) -> None:
    h = Harness()
    h.start()
    actors = [alive_actor(h) for _ in range(3)]
    for actor, worker in actors:
        if ending.startswith("killed"):
            h.handle(ev.ActorKillRequested(actor.task_id, True, h.now()))
            assert h.state._actors[actor.task_id].creation_body is None  # its arguments go now
        h.drop(actor.return_ids[0])
        assert actor.task_id in h.state._actors  # its worker is still exiting
        h.handle(ev.WorkerDied(worker, -9, h.now()))
        assert actor.task_id not in h.state._actors
    assert h.state._actors == {} and h.state._actor_of_handle == {}
