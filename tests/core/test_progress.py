"""The ledger: a fold over events, per caller context, with deterministic text."""

from __future__ import annotations

from dataclasses import replace

from nbray.core import events as ev
from nbray.core.progress import Ledger, RefProgress
from nbray.core.task import ErrorInfo, ErrorKind, TaskState
from tests.core.harness import Harness


def test_the_ledger_folds_each_cells_tasks() -> None:
    h, ledger = Harness(), Ledger()
    cell_1 = [replace(h.spec("square"), context="cell 1") for _ in range(3)]
    cell_2 = replace(h.spec("other"), context="cell 2")
    for spec in [*cell_1, cell_2]:
        assert ledger.apply(ev.TaskSubmitted(spec, 10.0)) == spec.context
    ledger.apply(ev.TaskStarted(cell_1[0].task_id, 1, 10.5))
    ledger.apply(ev.TaskFinished(cell_1[0].task_id, 1, 11.0))
    error = ErrorInfo(ErrorKind.TASK_ERROR, "boom", "ValueError")
    assert ledger.apply(ev.TaskFailed(cell_1[1].task_id, 1, error, 11.5)) == "cell 1"
    assert ledger.apply(ev.WorkerStarted(1, 99, 12.0)) is None

    assert ledger.counts("cell 1") == {
        TaskState.FINISHED: 1,
        TaskState.FAILED: 1,
        TaskState.READY: 1,
    }
    assert (
        ledger.summary("cell 1", now=12.0)
        == "3 tasks: 1 ready, 1 finished, 1 failed (66%) in 2.0 s"
    )
    assert ledger.summary("cell 2", now=12.0) == "1 task: 1 ready (0%) in 2.0 s"
    assert ledger.summary("cell 3", now=12.0) == "no tasks"
    assert [e.task_id for e in ledger.failures()] == [cell_1[1].task_id]
    assert "ValueError: boom" in ledger.describe(ledger.failures("cell 1")[0])

    ledger.apply(ev.TaskCancelled(cell_1[2].task_id, 13.0))
    assert ledger.elapsed("cell 1", now=99.0) == 3.0  # all done: the clock stops


def test_tasks_submitted_by_tasks_belong_to_their_parents_cell() -> None:
    h, ledger = Harness(), Ledger()
    parent = replace(h.spec("outer"), context="cell 1")
    child = replace(h.spec("inner"), parent=parent.task_id)  # submitted in a worker: no context
    grandchild = replace(h.spec("deeper"), parent=child.task_id)
    for spec in (parent, child, grandchild):
        assert ledger.apply(ev.TaskSubmitted(spec, 1.0)) == "cell 1"
    assert ledger.context_of_task(grandchild.task_id) == "cell 1"
    assert [ledger.submission_order(s.task_id) for s in (parent, child, grandchild)] == [0, 1, 2]
    assert ledger.unfinished("cell 1") == [parent.task_id, child.task_id, grandchild.task_id]
    ledger.apply(ev.TaskStarted(child.task_id, 1, 2.0))
    assert ledger.states("cell 1", limit=2) == [TaskState.READY, TaskState.RUNNING]
    assert ledger.is_live("cell 1") and not ledger.is_live("cell 2")


def test_ref_progress_never_moves_a_ref_backwards() -> None:
    h = Harness()
    first, second = h.spec("a"), h.spec("b")
    progress = RefProgress([first.task_id, second.task_id, None])  # None: a put, ready
    assert progress.summary() == "1/3 done: 2 pending, 1 finished"
    assert progress.apply(ev.TaskFinished(first.task_id, 1, 1.0))
    assert not progress.advance(0, TaskState.RUNNING)  # read late from a snapshot: ignored
    assert progress.advance(1, TaskState.RUNNING)
    assert not progress.apply(ev.WorkerStarted(1, 99, 2.0))
    assert progress.summary() == "2/3 done: 1 running, 2 finished"
    assert progress.apply(ev.TaskCancelled(second.task_id, 3.0))
    assert progress.done() == 3 and progress.states[1] is TaskState.CANCELLED
