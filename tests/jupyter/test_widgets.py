"""The ledger and progress widgets, by their trait values, in a real IPython shell."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

import nbray
from nbray.jupyter.extension import NotebookSession
from nbray.jupyter.progress import ProgressWidget
from nbray.jupyter.views import LedgerWidget
from tests.jupyter.conftest import run

TASKS = """
import nbray
@nbray.remote
def talk(n):
    print(f"task {n} says hi")
    return n
@nbray.remote
def broken():
    raise ValueError("no luck")
@nbray.remote
def late(fifo):
    with open(fifo) as gate:
        gate.read()
    print("late output")
"""


def view_of(session: NotebookSession, number: int) -> LedgerWidget:
    nbray.events.snapshot()  # every event so far is folded in
    session.paint_now()
    return ledger_of(session, number)


def ledger_of(session: NotebookSession, number: int) -> LedgerWidget:
    (view,) = [v for c, v in session.views.items() if c.execution_count == number]
    assert isinstance(view, LedgerWidget)
    return view


def printed(view: LedgerWidget) -> str:
    return "".join(str(o["text"]) for o in view.output.outputs)


def test_a_cell_shows_its_tasks_counts_output_and_grid(
    shell: InteractiveShell, widget_session: NotebookSession
) -> None:
    run(shell, TASKS)
    assert not widget_session.views  # no tasks, no widget
    count = shell.execution_count
    run(shell, "refs = [talk.remote(i) for i in range(3)]\nnbray.get(refs)")
    view = view_of(widget_session, count)
    assert (view.bar.value, view.bar.max, view.bar.bar_style) == (3, 3, "success")
    assert f"In[{count}]: 3 tasks: 3 finished (100%) in " in view.summary.value
    assert view.grid.value.count('title="finished"') == 3
    assert view.cancel_button.disabled
    assert sorted(printed(view).splitlines()) == [f"task {i} says hi" for i in range(3)]
    assert view.details.layout.display is None and view.details.selected_index == 0
    assert repr(view) == f"nbray In[{count}]: 3 tasks: 3 finished (100%)"  # text fallback


def test_output_reaches_its_own_cell_after_it_ended(
    shell: InteractiveShell, widget_session: NotebookSession, gate: Path
) -> None:
    fifo = gate
    run(shell, TASKS + f"fifo = {str(fifo)!r}")
    first = shell.execution_count
    run(shell, "ref = late.remote(fifo)")
    view = view_of(widget_session, first)
    assert view.bar.value == 0 and not view.cancel_button.disabled
    run(shell, "open(fifo, 'w').write('go')\nnbray.get(ref)")  # a later cell runs meanwhile
    view = view_of(widget_session, first)
    assert printed(view) == "late output\n" and view.bar.value == 1
    assert [str(c) for c in widget_session.views] == [f"In[{first}]"]  # the later: no tasks


def test_a_failed_task_shows_its_traceback_with_cells_named(
    shell: InteractiveShell, widget_session: NotebookSession
) -> None:
    run(shell, TASKS)
    defined = shell.execution_count - 1
    count = shell.execution_count
    shell.run_cell("nbray.wait([broken.remote()])", store_history=True)
    view = view_of(widget_session, count)
    assert view.bar.bar_style == "danger"
    (error,) = view.errors.outputs
    assert "ValueError: no luck" in error["text"]
    assert f"Cell In[{defined}], line 8, in broken" in error["text"]
    assert view.details.get_title(1) == "Errors (1)" and view.details.selected_index == 1


def test_the_cancel_button_cancels_the_cells_unfinished_tasks(
    shell: InteractiveShell, widget_session: NotebookSession, gate: Path
) -> None:
    fifo = gate
    run(shell, TASKS + f"fifo = {str(fifo)!r}")
    count = shell.execution_count
    run(shell, "refs = [late.remote(fifo) for _ in range(3)]")
    view_of(widget_session, count).cancel_button.click()
    with pytest.raises(nbray.exceptions.TaskCancelledError):
        run(shell, "nbray.get(refs)")
    view = view_of(widget_session, count)
    assert view.grid.value.count('title="cancelled"') == 3 and view.cancel_button.disabled


def test_progress_follows_refs_to_the_end(
    shell: InteractiveShell, widget_session: NotebookSession
) -> None:
    run(shell, TASKS)
    widget = run(
        shell,
        "refs = [talk.remote(i) for i in range(4)] + [broken.remote()]\n"
        "bar = nbray.progress(refs, display=False)\nnbray.wait(refs, num_returns=5)\nbar",
    )
    assert isinstance(widget, ProgressWidget)
    nbray.events.snapshot()
    widget.paint()
    assert (widget.bar.value, widget.bar.max, widget.bar.bar_style) == (5, 5, "danger")
    assert widget.summary.value == "5/5 done: 4 finished, 1 failed"


def test_a_ref_displays_its_live_state(
    shell: InteractiveShell, widget_session: NotebookSession
) -> None:
    run(shell, TASKS + "ref = talk.remote(1)\nnbray.get(ref)")
    shown: list[object] = []
    shell.display_pub.publish = lambda data, **kwargs: shown.append(data)  # type: ignore[method-assign]
    run(shell, "ref")
    (data,) = shown
    assert "ObjectRef(" in data["text/plain"] and "talk" in data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in data


def test_a_remote_cells_value_is_shown_in_its_cell_when_done(
    shell: InteractiveShell, widget_session: NotebookSession
) -> None:
    count = shell.execution_count
    shown = threading.Event()
    run(shell, "%%remote total\ntotal = sum(range(10))\ntotal * 2")
    view = ledger_of(widget_session, count)
    view.output.observe(lambda change: shown.set(), "outputs")
    assert nbray.get(shell.user_ns["total"]) == 45
    assert view.output.outputs or shown.wait(timeout=60)  # observed before looking: no race
    (result,) = view.output.outputs
    assert result["output_type"] == "display_data" and result["data"] == {"text/plain": "90"}


def test_a_long_blocking_get_shows_a_progress_bar_by_itself(
    shell: InteractiveShell, widget_session: NotebookSession, tmp_path: Path
) -> None:
    fifos = [tmp_path / "one", tmp_path / "two"]  # one per task: each write meets its reader
    for fifo in fifos:
        os.mkfifo(fifo)
    run(shell, TASKS + f"fifos = {[str(f) for f in fifos]!r}")
    shown: list[object] = []
    bar_shown = threading.Event()

    def publish(data: dict[str, object], **kwargs: object) -> None:
        shown.append(data)
        if "nbray progress" in str(data.get("text/plain")):
            bar_shown.set()

    shell.display_pub.publish = publish  # type: ignore[method-assign]

    def release_when_shown() -> None:  # the cell blocks until the bar has appeared
        bar_shown.wait(timeout=60)
        for fifo in fifos:
            with open(fifo, "w") as gate:
                gate.write("go")

    releaser = threading.Thread(target=release_when_shown)
    releaser.start()
    run(shell, "nbray.get([late.remote(f) for f in fifos])")
    releaser.join()
    assert bar_shown.is_set()
    (bar,) = [d for d in shown if "nbray progress" in str(d.get("text/plain"))]
    assert "application/vnd.jupyter.widget-view+json" in bar  # type: ignore[operator]
