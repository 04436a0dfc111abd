"""The ledger: a fold over events, per caller context, with deterministic text."""

from __future__ import annotations

from dataclasses import replace

from nbray.core import events as ev
from nbray.core.progress import Ledger
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
