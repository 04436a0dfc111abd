"""The scheduler state machine, driven synchronously: exact instructions, no processes, no clock."""

from __future__ import annotations

import signal
from dataclasses import replace

import pytest

from nbray.core import events as ev
from nbray.core.ids import WorkerId
from nbray.core.instructions import (
    AppendToStream,
    DiscardValues,
    Dispatch,
    FreeObjects,
    InterruptTask,
    Publish,
    SpawnWorker,
    StopWorker,
    StoreError,
    StoreValues,
    WakeAt,
)
from nbray.core.resources import Resources
from nbray.core.scheduler import (
    MAX_STARTUP_FAILURES,
    InvalidTransition,
    ObjectState,
    SchedulerConfig,
    SchedulerState,
    WorkerState,
)
from nbray.core.task import ErrorInfo, ErrorKind, TaskSpec, TaskState
from tests.core.harness import Harness, dispatched, of_type, published


def test_runtime_start_spawns_the_configured_workers() -> None:
    h = Harness(cpus=3, workers=3)
    out = h.handle(ev.RuntimeStarted(0.0))
    assert out == [SpawnWorker(1), SpawnWorker(2), SpawnWorker(3)]  # type: ignore[arg-type]


def test_ready_task_is_dispatched_to_an_idle_worker_and_its_facts_published() -> None:
    h = Harness()
    h.start()
    spec = h.spec()
    out = h.submit(spec)
    assert [type(i) for i in out] == [Dispatch, Publish]  # the facts last, in one instruction
    assert published(out) == [ev.TaskSubmitted, ev.TaskStarted]
    worker = dispatched(out)[spec.task_id]

    out = h.returned(spec, worker)
    assert out[0] == StoreValues(spec.return_ids, (f"value of {spec.return_ids[0]}",))
    assert published(out) == [ev.TaskFinished, ev.ObjectCreated]
    assert h.state.object_state(spec.return_ids[0]) is ObjectState.READY
    assert h.state.snapshot().workers[worker] is WorkerState.IDLE


def test_published_submission_does_not_carry_the_task_body() -> None:
    h = Harness()
    h.start()
    out = h.handle(ev.TaskSubmitted(h.spec(), h.now(), body=b"args"))
    assert of_type(out, Publish)[0].events[0].body is None  # type: ignore[attr-defined]
    assert of_type(out, Dispatch)[0].body == b"args"  # type: ignore[attr-defined]


def test_task_waits_for_its_top_level_dependencies_only() -> None:
    h = Harness()
    h.start()
    first = h.spec("first")
    worker = dispatched(h.submit(first))[first.task_id]
    second = h.spec("second", deps=first.return_ids)
    assert dispatched(h.submit(second)) == {}
    assert h.state.task_state(second.task_id) is TaskState.WAITING_FOR_ARGS

    # A ref nested inside the arguments (contained, not a dependency) is not waited for.
    nested = h.spec("nested", contained=first.return_ids)
    assert nested.task_id in dispatched(h.submit(nested))

    assert second.task_id in dispatched(h.returned(first, worker))


def test_resources_bound_concurrency_and_free_up_on_finish() -> None:
    h = Harness(cpus=2, workers=3, max_workers=3)
    h.start()
    specs = [h.spec(str(i)) for i in range(3)]
    running = {}
    for spec in specs:
        running.update(dispatched(h.submit(spec)))
    assert set(running) == {specs[0].task_id, specs[1].task_id}
    assert "CPU" not in h.state.snapshot().available  # all CPUs in use
    out = h.returned(specs[0], running[specs[0].task_id])
    assert specs[2].task_id in dispatched(out)


def test_a_task_that_does_not_fit_does_not_block_smaller_ones_behind_it() -> None:
    h = Harness(cpus=2, workers=2)
    h.start()
    small = h.spec("small")
    worker = dispatched(h.submit(small))[small.task_id]
    big = h.spec("big", CPU=2)
    assert dispatched(h.submit(big)) == {}
    other = h.spec("other")
    other_worker = dispatched(h.submit(other))[other.task_id]
    assert dispatched(h.returned(other, other_worker)) == {}  # `small` still holds a CPU
    assert dispatched(h.returned(small, worker)) == {big.task_id: worker}


def test_fractional_and_custom_resources_add_up_exactly() -> None:
    h = Harness(cpus=1, gpus=1, workers=5, max_workers=5, accelerator=2)
    h.start()
    quarters = [h.spec(f"q{i}", CPU=0, GPU=0.25, accelerator=0.1) for i in range(5)]
    running: dict = {}
    for spec in quarters:
        running.update(dispatched(h.submit(spec)))
    assert set(running) == {spec.task_id for spec in quarters[:4]}  # 4 x 0.25 GPU, exactly
    assert h.state.snapshot().available == Resources.of(1, 0, {"accelerator": 1.6})


def test_a_request_the_runtime_can_never_satisfy_fails_at_once_with_advice() -> None:
    h = Harness(cpus=2)
    h.start()
    spec = h.spec("needs_gpu", GPU=1)
    out = h.submit(spec)
    (store,) = of_type(out, StoreError)
    assert store.error.kind is ErrorKind.UNSCHEDULABLE  # type: ignore[attr-defined]
    assert "GPU: 1 more" in store.error.message and "nbray.init" in store.error.message  # type: ignore[attr-defined]
    assert published(out) == [ev.TaskSubmitted, ev.TaskFailed]


def test_worker_death_retries_then_fails_naming_the_signal() -> None:
    h = Harness(cpus=1, workers=1)
    h.start()
    spec = h.spec("crashy", max_retries=1)
    worker = dispatched(h.submit(spec))[spec.task_id]

    out = h.handle(ev.WorkerDied(worker, -signal.SIGSEGV, h.now()))
    assert of_type(out, SpawnWorker) and h.state.task_state(spec.task_id) is TaskState.READY
    new_worker = of_type(out, SpawnWorker)[0].worker_id  # type: ignore[attr-defined]
    out = h.handle(ev.WorkerStarted(new_worker, 1, h.now()))
    assert dispatched(out) == {spec.task_id: new_worker}

    out = h.handle(ev.WorkerDied(new_worker, -signal.SIGSEGV, h.now()))
    (store,) = of_type(out, StoreError)
    assert store.error.kind is ErrorKind.WORKER_CRASHED  # type: ignore[attr-defined]
    assert "SIGSEGV" in store.error.message  # type: ignore[attr-defined]
    assert [t.finish for t in h.state.story(spec.task_id)] == [
        TaskState.WAITING_FOR_ARGS,
        TaskState.READY,
        TaskState.RUNNING,
        TaskState.READY,
        TaskState.RUNNING,
        TaskState.FAILED,
    ]


def test_a_raising_task_fails_and_its_dependents_fail_with_the_same_cause() -> None:
    h = Harness()
    h.start()
    first = h.spec("first")
    worker = dispatched(h.submit(first))[first.task_id]
    second = h.spec("second", deps=first.return_ids)
    h.submit(second)
    out = h.raised(first, worker)
    stores = of_type(out, StoreError)
    assert stores[0].value == b"pickled ValueError"  # type: ignore[attr-defined]
    assert stores[1].object_ids == second.return_ids  # type: ignore[attr-defined]
    assert stores[1].error.kind is ErrorKind.DEPENDENCY_FAILED  # type: ignore[attr-defined]
    assert stores[1].error.cause_object == first.return_ids[0]  # type: ignore[attr-defined]
    assert stores[1].error.type_name == "ValueError"  # type: ignore[attr-defined]

    # A task submitted after its argument failed fails at once too.
    third = h.spec("third", deps=first.return_ids)
    assert of_type(h.submit(third), StoreError)[0].error.kind is ErrorKind.DEPENDENCY_FAILED  # type: ignore[attr-defined]


def test_cancel_a_queued_task_and_a_finished_one() -> None:
    h = Harness(cpus=1, workers=1)
    h.start()
    running, queued = h.spec("running"), h.spec("queued")
    worker = dispatched(h.submit(running))[running.task_id]
    h.submit(queued)
    out = h.handle(ev.CancelRequested(queued.task_id, False, h.now()))
    assert of_type(out, StoreError)[0].error.kind is ErrorKind.CANCELLED  # type: ignore[attr-defined]
    assert published(out) == [ev.TaskCancelled]
    assert dispatched(h.returned(running, worker)) == {}  # the cancelled task never runs
    assert h.handle(ev.CancelRequested(running.task_id, False, h.now())) == []


def test_cancel_a_running_task_interrupts_it_or_stops_its_worker() -> None:
    h = Harness(cpus=2, workers=2)
    h.start()
    gentle, forced = h.spec("gentle"), h.spec("forced")
    workers = dispatched(h.submit(gentle)) | dispatched(h.submit(forced))

    out = h.handle(ev.CancelRequested(gentle.task_id, False, h.now()))
    assert out == [InterruptTask(workers[gentle.task_id], gentle.task_id)]
    out = h.raised(gentle, workers[gentle.task_id])
    assert published(out) == [ev.TaskCancelled]

    out = h.handle(ev.CancelRequested(forced.task_id, True, h.now()))
    assert StopWorker(workers[forced.task_id]) in out and published(out) == [ev.TaskCancelled]
    late = h.returned(forced, workers[forced.task_id])  # a late result no longer counts
    assert [type(i) for i in late] == [DiscardValues]
    out = h.handle(ev.WorkerDied(workers[forced.task_id], -9, h.now()))
    assert h.state.task_state(forced.task_id) is None


def test_objects_are_freed_when_unreferenced_and_not_before() -> None:
    h = Harness(cpus=1, workers=1)
    h.start()
    blocker = h.spec("blocker")
    worker = dispatched(h.submit(blocker))[blocker.task_id]
    arg = h.put()
    user = h.spec("user", deps=[arg])
    h.submit(user)
    assert h.drop(arg) == []  # a queued task still needs it
    h.returned(blocker, worker)  # dispatches `user`
    out = h.returned(user, worker)
    assert FreeObjects((arg,)) in out and ev.ObjectFreed in published(out)


def test_an_object_lives_while_a_stored_object_contains_it() -> None:
    h = Harness()
    h.start()
    inner = h.put()
    outer = h.put(contained=[inner])
    assert h.drop(inner) == []
    assert h.state.object_state(inner) is ObjectState.READY
    out = h.drop(outer)  # freeing the container frees what it alone kept alive
    assert FreeObjects((outer, inner)) in out


def test_task_results_keep_the_refs_they_contain_alive() -> None:
    h = Harness()
    h.start()
    inner = h.put()
    spec = h.spec()
    worker = dispatched(h.submit(spec))[spec.task_id]
    h.returned(spec, worker, contained=[inner])
    assert h.drop(inner) == []
    assert FreeObjects((spec.return_ids[0], inner)) in h.drop(spec.return_ids[0])


def test_refs_nested_in_arguments_live_until_the_task_ends() -> None:
    h = Harness(cpus=1, workers=1)
    (worker,) = h.start()
    nested = h.put()
    spec = h.spec(contained=[nested])
    h.submit(spec)
    assert h.drop(nested) == []
    assert FreeObjects((nested,)) in h.returned(spec, worker)


def test_workers_holds_count_and_die_with_the_worker() -> None:
    h = Harness(cpus=1, workers=1)
    (worker,) = h.start()
    oid = h.put()
    h.handle(ev.RefsChanged(worker, ((oid, +2),), h.now()))
    assert h.drop(oid) == []  # the driver let go; the worker still holds it twice
    assert h.drop(oid, holder=worker) == []
    out = h.handle(ev.WorkerDied(worker, -9, h.now()))
    assert FreeObjects((oid,)) in out


def test_refs_captured_by_a_function_are_pinned_for_good() -> None:
    h = Harness(cpus=1, workers=1)
    (worker,) = h.start()
    captured = h.put()
    spec = h.spec()
    spec = replace(spec, captured_ids=(captured,))
    h.submit(spec)
    h.returned(spec, worker)
    assert h.drop(captured) == []
    assert h.state.object_state(captured) is ObjectState.READY


def test_spill_candidates_are_ready_big_and_read_by_nobody_else() -> None:
    h = Harness(cpus=1, workers=1)
    (worker,) = h.start()
    h.put()  # small: stays inline, never spilled
    big, held, argument = h.put(), h.put(), h.put()
    for oid in (big, held, argument):
        h.state._objects[oid].size = 1000
    h.handle(ev.RefsChanged(worker, ((held, +1),), h.now()))
    h.submit(h.spec(deps=[argument]))
    assert h.state.spill_candidates(min_size=100) == [big]


def test_a_pending_result_whose_ref_was_dropped_is_freed_when_it_arrives() -> None:
    h = Harness()
    h.start()
    spec = h.spec()
    worker = dispatched(h.submit(spec))[spec.task_id]
    h.drop(spec.return_ids[0])
    assert FreeObjects(spec.return_ids) in h.returned(spec, worker)


def test_a_blocked_worker_lends_its_cpu_and_a_new_worker_is_spawned() -> None:
    h = Harness(cpus=1, workers=1, max_workers=1)
    (worker,) = h.start()
    parent = h.spec("parent")
    h.submit(parent)
    child = h.spec("child")
    assert dispatched(h.submit(child)) == {}
    out = h.handle(ev.WorkerBlocked(worker, h.now()))
    (spawn,) = of_type(out, SpawnWorker)
    out = h.handle(ev.WorkerStarted(spawn.worker_id, 1, h.now()))  # type: ignore[attr-defined]
    assert dispatched(out) == {child.task_id: spawn.worker_id}  # type: ignore[attr-defined]
    h.handle(ev.WorkerUnblocked(worker, h.now()))  # oversubscribed for a moment: allowed
    h.returned(child, spawn.worker_id)  # type: ignore[attr-defined]
    assert h.state.snapshot().available == Resources()


def test_a_worker_beyond_the_pool_exits_once_idle_for_the_timeout() -> None:
    h = Harness(cpus=1, workers=1, max_workers=1)
    (worker,) = h.start()
    parent, child = h.spec("parent"), h.spec("child")
    h.submit(parent)
    h.submit(child)
    (spawn,) = of_type(h.handle(ev.WorkerBlocked(worker, h.now())), SpawnWorker)
    extra = spawn.worker_id  # type: ignore[attr-defined]
    h.handle(ev.WorkerStarted(extra, 1, h.now()))
    h.handle(ev.WorkerUnblocked(worker, h.now()))
    out = h.returned(child, extra)  # idle now, one worker more than the pool
    (wake,) = of_type(out, WakeAt)
    timeout = h.state.config.idle_timeout
    assert wake.time == pytest.approx(h.now() - 1 + timeout)
    assert of_type(h.handle(ev.TimeReached(wake.time - 0.5)), StopWorker) == []
    assert of_type(h.handle(ev.TimeReached(wake.time)), StopWorker) == [StopWorker(extra)]
    h.handle(ev.WorkerDied(extra, -9, h.now()))
    h.returned(parent, worker)
    later = h.handle(ev.TimeReached(h.now() + 10 * timeout))
    assert of_type(later, StopWorker) == []  # the pool itself stays
    following = h.spec("following")
    assert dispatched(h.submit(following)) == {following.task_id: worker}


def test_workers_that_keep_dying_at_startup_fail_the_queue_with_advice() -> None:
    h = Harness(cpus=1, workers=1)
    h.handle(ev.RuntimeStarted(h.now()))
    spec = h.spec()
    h.submit(spec)
    worker = 1
    for attempt in range(MAX_STARTUP_FAILURES):
        out = h.handle(ev.WorkerDied(worker, 1, h.now()))  # type: ignore[arg-type]
        if attempt < MAX_STARTUP_FAILURES - 1:
            worker = of_type(out, SpawnWorker)[0].worker_id  # type: ignore[attr-defined]
    (store,) = of_type(out, StoreError)
    assert store.error.kind is ErrorKind.WORKERS_CANNOT_START  # type: ignore[attr-defined]
    assert "import nbray" in store.error.message  # type: ignore[attr-defined]


def test_an_illegal_transition_raises_with_the_task_story() -> None:
    h = Harness()
    spec = h.spec()
    h.submit(spec)  # no workers yet: stays READY
    task = h.state._tasks[spec.task_id]
    with pytest.raises(InvalidTransition, match=r"cannot move from TaskState\.READY") as info:
        h.state._transition(task, TaskState.FINISHED, "test", 0.0)
    assert [(t.start, t.finish) for t in info.value.story] == [
        (None, TaskState.WAITING_FOR_ARGS),
        (TaskState.WAITING_FOR_ARGS, TaskState.READY),
    ]


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="num_workers"):
        SchedulerState(SchedulerConfig(Resources.of(1), num_workers=3, max_workers=2))


def test_retryable_errors_are_retried_until_retries_run_out() -> None:
    h = Harness(cpus=1, workers=1)
    (worker,) = h.start()
    spec = h.spec(max_retries=1)
    h.submit(spec)
    error = ErrorInfo(ErrorKind.TASK_ERROR, "flaky", "IOError", retryable=True)
    out = h.handle(ev.TaskRaised(spec.task_id, worker, error, b"", h.now()))
    assert dispatched(out) == {spec.task_id: worker}  # retried at once
    out = h.handle(ev.TaskRaised(spec.task_id, worker, error, b"", h.now()))
    assert of_type(out, StoreError)[0].error.message == "flaky"  # type: ignore[attr-defined]


def test_max_calls_replaces_a_worker_after_that_many_tasks_of_the_function() -> None:
    h = Harness(cpus=1, workers=1)
    (worker,) = h.start()
    spec = h.spec()
    spec = replace(spec, max_calls=1)
    h.submit(spec)
    assert StopWorker(worker) in h.returned(spec, worker)


def test_recursive_cancel_reaches_the_tasks_a_task_submitted() -> None:
    h = Harness(cpus=1, workers=1)
    (worker,) = h.start()
    parent = h.spec("parent")
    h.submit(parent)
    child = h.spec("child")
    child = replace(child, parent=parent.task_id)
    h.submit(child)  # queued: the parent holds the only CPU
    out = h.handle(ev.CancelRequested(parent.task_id, False, h.now()))
    assert published(out) == [ev.TaskCancelled] and InterruptTask(worker, parent.task_id) in out
    assert h.state.task_state(child.task_id) is None
    other = h.spec("other")
    other = replace(other, parent=parent.task_id)
    h.submit(other)
    h.handle(ev.CancelRequested(parent.task_id, False, h.now(), recursive=False))
    assert h.state.task_state(other.task_id) is TaskState.READY


def test_a_streams_items_live_with_its_end_until_taken() -> None:
    h = Harness(cpus=1, workers=1)
    (worker,) = h.start()
    spec = h.spec("stream")
    h.submit(spec)
    end = spec.return_ids[0]
    items = [h.ids.object_id() for _ in range(2)]
    for item in items:
        out = h.handle(ev.TaskYielded(spec.task_id, worker, item, b"v", 1, (), h.now()))
        assert AppendToStream(spec.task_id, item) in out
    h.returned(spec, worker)
    h.handle(ev.RefsChanged(0, ((items[0], +1),), h.now()))  # the caller took the first
    out = h.drop(end)
    assert FreeObjects((end, items[1])) in out
    assert FreeObjects((items[0],)) in h.drop(items[0])


# ---- pipelining: a task queued on a busy worker whose task is short ------------------------


def _busy_with_short_tasks(h: Harness, **resources: float) -> dict[WorkerId, TaskSpec]:
    """Both workers busy with tasks of a function whose last run was short: the task of each."""
    h.start()
    warm = h.spec("warm", **resources)
    h.returned(warm, dispatched(h.submit(warm))[warm.task_id])  # took one tick: short
    running = {}
    for spec in (h.spec("first", **resources), h.spec("second", **resources)):
        running[dispatched(h.submit(spec))[spec.task_id]] = spec
    return running


def test_a_ready_task_is_queued_behind_a_short_task_and_starts_when_it_ends() -> None:
    h = Harness(cpus=2, workers=2, pipeline_below=5)
    running = _busy_with_short_tasks(h)
    queued = h.spec("queued")
    out = h.submit(queued)
    worker = dispatched(out)[queued.task_id]  # sent at once, to a busy worker
    assert published(out) == [ev.TaskSubmitted]  # but not started
    assert h.state.task_state(queued.task_id) is TaskState.QUEUED

    out = h.returned(running[worker], worker)
    assert ev.TaskStarted in published(out) and dispatched(out) == {}  # it was already there
    assert h.state.task_state(queued.task_id) is TaskState.RUNNING
    assert h.state.snapshot().available == Resources.of(0)  # it took over the CPU, no more


def test_nothing_is_queued_behind_a_long_task() -> None:
    h = Harness(cpus=2, workers=2, pipeline_below=0.5)  # every task takes at least one tick
    _busy_with_short_tasks(h)
    waiting = h.spec("waiting")
    assert dispatched(h.submit(waiting)) == {}
    assert h.state.task_state(waiting.task_id) is TaskState.READY


def test_max_calls_tasks_are_never_queued() -> None:
    h = Harness(cpus=2, workers=2, pipeline_below=5)
    _busy_with_short_tasks(h)
    recycled = replace(h.spec("recycled"), max_calls=1)
    assert dispatched(h.submit(recycled)) == {}
    assert h.state.task_state(recycled.task_id) is TaskState.READY


def test_gpu_tasks_are_never_queued() -> None:
    h = Harness(cpus=2, gpus=2, workers=2, pipeline_below=5)
    _busy_with_short_tasks(h, GPU=1)
    same_shape = h.spec("same shape", GPU=1)
    assert dispatched(h.submit(same_shape)) == {}
    assert h.state.task_state(same_shape.task_id) is TaskState.READY


def test_a_bounced_task_is_ready_again_and_runs_first_elsewhere() -> None:
    h = Harness(cpus=2, workers=2, pipeline_below=5)
    running = _busy_with_short_tasks(h)
    queued, later = h.spec("queued"), h.spec("later")
    worker = dispatched(h.submit(queued))[queued.task_id]
    h.submit(later)  # queued on the other worker
    h.handle(ev.WorkerBlocked(worker, h.now()))  # its task waits in get...
    h.handle(ev.TaskBounced(queued.task_id, worker, h.now()))  # ...and hands it back
    assert h.state.task_state(queued.task_id) is TaskState.READY
    other = next(w for w in running if w != worker)
    h.returned(running[other], other)
    assert h.state.task_state(later.task_id) is TaskState.RUNNING  # queued behind it there
    assert h.state.task_state(queued.task_id) is TaskState.READY  # the worker is busy again
    # A bounce for a task that is no longer queued there changes nothing.
    assert h.handle(ev.TaskBounced(later.task_id, worker, h.now())) == []


def test_a_queued_task_outlives_its_workers_death_without_spending_a_retry() -> None:
    h = Harness(cpus=2, workers=2, pipeline_below=5)
    _busy_with_short_tasks(h)
    queued = replace(h.spec("queued"), max_retries=0)
    worker = dispatched(h.submit(queued))[queued.task_id]
    out = h.handle(ev.WorkerDied(worker, -9, h.now()))
    assert ev.TaskFailed in published(out)  # the task that was running there had no retries
    # Not failed: queued again, behind the other worker's short task.
    assert h.state.task_state(queued.task_id) is TaskState.QUEUED
    assert dispatched(out)[queued.task_id] != worker


def test_cancelling_a_queued_task_tells_its_worker_to_skip_it() -> None:
    h = Harness(cpus=2, workers=2, pipeline_below=5)
    running = _busy_with_short_tasks(h)
    queued = h.spec("queued")
    worker = dispatched(h.submit(queued))[queued.task_id]
    out = h.handle(ev.CancelRequested(queued.task_id, True, h.now()))  # force: still no kill
    assert of_type(out, InterruptTask) == [InterruptTask(worker, queued.task_id)]
    assert of_type(out, StopWorker) == [] and published(out) == [ev.TaskCancelled]
    # The worker reports the skipped task as bounced (or as interrupted, had it just begun):
    # too late to count either way.
    assert h.handle(ev.TaskBounced(queued.task_id, worker, h.now())) == []
    error = ErrorInfo(ErrorKind.TASK_ERROR, "cancelled", "KeyboardInterrupt")
    assert (
        of_type(h.handle(ev.TaskRaised(queued.task_id, worker, error, None, h.now())), Publish)
        == []
    )
    h.returned(running[worker], worker)
    assert h.state.snapshot().workers[worker] is WorkerState.IDLE


def test_a_worker_stopped_for_a_forced_cancel_gives_back_its_queued_task() -> None:
    h = Harness(cpus=2, workers=2, pipeline_below=5)
    running = _busy_with_short_tasks(h)
    queued = h.spec("queued")
    worker = dispatched(h.submit(queued))[queued.task_id]
    out = h.handle(ev.CancelRequested(running[worker].task_id, True, h.now()))
    assert StopWorker(worker) in out
    assert dispatched(out)[queued.task_id] != worker  # queued again, on the other worker


def _queued_behind_one(
    h: Harness,
) -> tuple[dict[WorkerId, TaskSpec], TaskSpec, WorkerId, WorkerId]:
    """Both workers busy with short tasks, one task queued behind the task of `stuck`: the
    running tasks, the queued one, `stuck` and the other worker."""
    running = _busy_with_short_tasks(h)
    queued = h.spec("queued")
    stuck = dispatched(h.submit(queued))[queued.task_id]
    return running, queued, stuck, next(w for w in running if w != stuck)


def test_a_task_queued_behind_one_that_turned_out_long_moves_to_the_next_idle_worker() -> None:
    # The hang: `blocked` was short once, so `later` was queued behind it; now it runs
    # for ever. The other worker becoming idle takes `later` back.
    h = Harness(cpus=2, workers=2, pipeline_below=5)
    running, queued, stuck, other = _queued_behind_one(h)
    for _ in range(5):
        h.now()  # the task ahead of it has now run longer than pipeline_below
    out = h.returned(running[other], other)
    assert InterruptTask(stuck, queued.task_id) in out  # its first worker will skip it
    assert dispatched(out) == {queued.task_id: other}
    assert h.state.task_state(queued.task_id) is TaskState.RUNNING
    assert "taken back for an idle worker" in str(h.state.story(queued.task_id))
    # Its first worker reports it skipped (or interrupted, had it just begun): ignored.
    assert h.handle(ev.TaskBounced(queued.task_id, stuck, h.now())) == []
    error = ErrorInfo(ErrorKind.TASK_ERROR, "cancelled", "KeyboardInterrupt")
    assert (
        of_type(h.handle(ev.TaskRaised(queued.task_id, stuck, error, None, h.now())), Publish) == []
    )
    assert h.state.task_state(queued.task_id) is TaskState.RUNNING
    h.returned(queued, other)
    h.returned(running[stuck], stuck)
    assert h.state.snapshot().workers == {stuck: WorkerState.IDLE, other: WorkerState.IDLE}


def test_a_task_queued_behind_one_still_short_waits_until_its_deadline() -> None:
    h = Harness(cpus=2, workers=2, pipeline_below=5)
    running, queued, stuck, other = _queued_behind_one(h)
    out = h.returned(running[other], other)  # within pipeline_below of its start
    assert of_type(out, InterruptTask) == [] and dispatched(out) == {}
    assert h.state.task_state(queued.task_id) is TaskState.QUEUED
    # No event may come: the scheduler asks to be woken when the guess is proven wrong...
    (wake,) = of_type(out, WakeAt)
    started = h.state.story(running[stuck].task_id)[-1].time
    assert wake == WakeAt(started + 5)
    assert of_type(h.handle(ev.TimeReached(wake.time - 1)), InterruptTask) == []
    # ...and then the idle worker takes the queued task back.
    out = h.handle(ev.TimeReached(wake.time))
    assert of_type(out, InterruptTask) == [InterruptTask(stuck, queued.task_id)]
    assert dispatched(out) == {queued.task_id: other}


def test_nothing_is_queued_behind_a_task_that_is_not_short_this_time() -> None:
    h = Harness(cpus=2, workers=2, pipeline_below=5)
    _busy_with_short_tasks(h)
    for _ in range(5):
        h.now()  # both running tasks have now run pipeline_below: the guess was wrong
    waiting = h.spec("waiting")
    assert dispatched(h.submit(waiting)) == {}
    assert h.state.task_state(waiting.task_id) is TaskState.READY


def test_one_idle_worker_takes_back_one_queued_task() -> None:
    h = Harness(cpus=3, workers=3, pipeline_below=5)
    h.start()
    warm = h.spec("warm")
    h.returned(warm, dispatched(h.submit(warm))[warm.task_id])
    running = {}
    for name in ("first", "second", "third"):
        spec = h.spec(name)
        running[dispatched(h.submit(spec))[spec.task_id]] = spec
    queued = [h.spec("queued 1"), h.spec("queued 2")]
    behind = {dispatched(h.submit(spec))[spec.task_id] for spec in queued}
    for _ in range(5):
        h.now()
    (free,) = set(running) - behind  # the one worker with nothing queued behind its task
    out = h.returned(running[free], free)
    assert len(of_type(out, InterruptTask)) == 1 and len(dispatched(out)) == 1
    states = sorted(h.state.task_state(s.task_id).name for s in queued)
    assert states == ["QUEUED", "RUNNING"]


def test_a_generator_that_raised_keeps_the_values_it_made_first() -> None:
    h = Harness()
    h.start()
    spec = h.spec("gen", num_returns=3)
    worker = dispatched(h.submit(spec))[spec.task_id]
    error = ErrorInfo(ErrorKind.TASK_ERROR, "third failed", "ValueError")
    made = (("first", 5, ()), ("second", 6, ()))
    out = h.handle(ev.TaskRaised(spec.task_id, worker, error, b"error", h.now(), made))
    first, second, third = spec.return_ids
    assert StoreValues((first, second), ("first", "second")) in out
    assert of_type(out, StoreError) == [StoreError((third,), error, b"error", "gen")]
    assert [h.state.object_state(oid) for oid in spec.return_ids] == [
        ObjectState.READY,
        ObjectState.READY,
        ObjectState.FAILED,
    ]


def test_a_task_cancelled_before_its_worker_began_it_is_cancelled_when_skipped() -> None:
    h = Harness(cpus=1, workers=1)
    (worker,) = h.start()
    spec = h.spec("sent")
    assert dispatched(h.submit(spec)) == {spec.task_id: worker}
    h.handle(ev.CancelRequested(spec.task_id, False, h.now()))  # it has not begun there yet
    out = h.handle(ev.TaskBounced(spec.task_id, worker, h.now()))  # so its worker skips it
    assert published(out) == [ev.TaskCancelled]
    assert h.state.snapshot().workers[worker] is WorkerState.IDLE
    assert h.state.snapshot().available == Resources.of(1)


def test_a_late_skip_report_leaves_a_task_running_again_on_that_worker_alone() -> None:
    h = Harness(cpus=1, workers=1)
    (worker,) = h.start()
    spec = h.spec("sent twice")
    h.submit(spec)  # running, not cancelled: a skip report is of an earlier copy
    assert h.handle(ev.TaskBounced(spec.task_id, worker, h.now())) == []
    assert h.state.task_state(spec.task_id) is TaskState.RUNNING


def test_a_worker_returning_the_wrong_number_of_values_fails_that_task_only() -> None:
    h = Harness(cpus=1, workers=1, max_workers=1)
    (worker,) = h.start()
    spec = h.spec("f", num_returns=2)
    assert dispatched(h.submit(spec)) == {spec.task_id: worker}
    out = h.handle(ev.TaskReturned(spec.task_id, worker, ("one",), (8,), ((),), h.now()))
    assert DiscardValues(("one",)) in out
    (failed,) = of_type(out, StoreError)
    assert "returned 1 values for 2" in failed.error.message  # type: ignore[attr-defined]
    assert ev.TaskFailed in published(out)
    following = h.spec("g")
    assert dispatched(h.submit(following)) == {following.task_id: worker}


@pytest.mark.parametrize("amount", [1.8e304, 1e16, float("inf")])
def test_a_resource_amount_beyond_any_machine_is_refused_clearly(amount: float) -> None:
    with pytest.raises(ValueError, match="Resource 'CPU'"):
        Resources.of(amount)
