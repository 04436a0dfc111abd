"""%load_ext nbray and %nbray, through a real IPython InteractiveShell."""

from __future__ import annotations

import weakref
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import nbray
from tests.jupyter.conftest import run


def test_load_ext_starts_the_runtime_and_says_so(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "nbray")
    assert nbray.is_initialized()
    assert "nbray: local runtime" in capsys.readouterr().out
    shell.run_line_magic("load_ext", "nbray")  # twice: harmless
    run(shell, "import nbray\nnbray.init()")  # init() after it: harmless too


def test_tasks_are_tagged_with_their_cell_and_reported(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "nbray")
    run(shell, "import nbray\n@nbray.remote\ndef square(x):\n    return x * x")
    count = shell.execution_count
    assert run(shell, "nbray.get([square.remote(i) for i in range(3)])") == [0, 1, 4]
    broken = "@nbray.remote\ndef broken():\n    raise ValueError('from a cell')\n"
    run(shell, broken + "ref = broken.remote()\nnbray.wait([ref])")
    capsys.readouterr()

    shell.run_line_magic("nbray", "tasks")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"In[{count}]: 3 tasks: 3 finished (100%)")
    assert lines[1].startswith(f"In[{count + 1}]: 1 task: 1 failed (100%)")

    shell.run_line_magic("nbray", "errors")
    report = capsys.readouterr().out
    assert (
        "broken" in report and "ValueError: from a cell" in report and f"In[{count + 1}]" in report
    )


def test_status_cancel_restart_and_usage(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "nbray")
    run(shell, "import nbray, time\n@nbray.remote\ndef slow():\n    time.sleep(600)")
    count = shell.execution_count
    run(shell, "refs = [slow.remote() for _ in range(4)]")
    capsys.readouterr()
    shell.run_line_magic("nbray", f"cancel In[{count}]")
    assert "Cancelling 4 tasks." in capsys.readouterr().out
    with pytest.raises(nbray.exceptions.TaskCancelledError):
        run(shell, "nbray.get(refs)")
    shell.run_line_magic("nbray", "status")
    assert "workers" in capsys.readouterr().out
    shell.run_line_magic("nbray", "restart")
    shell.run_line_magic("nbray", "tasks")
    assert "No tasks yet." in capsys.readouterr().out
    with pytest.raises(UsageError, match="Usage"):
        shell.run_line_magic("nbray", "frobnicate")
    with pytest.raises(UsageError, match="cancel all"):
        shell.run_line_magic("nbray", "cancel")


def test_unload_stops_the_runtime(shell: InteractiveShell) -> None:
    shell.run_line_magic("load_ext", "nbray")
    shell.run_line_magic("unload_ext", "nbray")
    assert not nbray.is_initialized()
    shell.run_line_magic("load_ext", "nbray")  # and it can come back
    assert nbray.is_initialized()


FIFO_TASKS = """
import os, nbray
@nbray.remote
def talk(n):
    print(f"task {n} says hi")
    return n
@nbray.remote
def late(fifo):
    with open(fifo) as gate:
        gate.read()
    print("late output")
@nbray.remote
def outer():
    return nbray.get(talk.remote(7))
"""


def test_without_widgets_each_cell_prints_its_tasks_output_and_report(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], gate: Path
) -> None:
    shell.run_line_magic("load_ext", "nbray")
    fifo = gate
    run(shell, FIFO_TASKS + f"fifo = {str(fifo)!r}")
    count = shell.execution_count
    capsys.readouterr()
    run(shell, "nbray.get([talk.remote(i) for i in range(3)] + [outer.remote()])")
    out = capsys.readouterr().out
    # Per task, in submission order, whatever order they ran in; the nested task's output
    # belongs to the cell of its parent.
    assert out.splitlines() == [
        f"Out[{count}]: [0, 1, 2, 7]",
        "task 0 says hi",
        "task 1 says hi",
        "task 2 says hi",
        "task 7 says hi",
        f"nbray In[{count}]: 5 tasks: 5 finished (100%)",
    ]
    run(shell, "ref = late.remote(fifo)")  # still running when its cell ends
    capsys.readouterr()
    run(shell, "open(fifo, 'w').write('go')\nnbray.get(ref)")
    out = capsys.readouterr().out
    assert f"nbray: output of In[{count + 1}]'s tasks since it ran:\nlate output\n" in out


def test_refs_lists_what_the_notebook_holds(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "nbray")
    run(shell, "import nbray, numpy as np\nbig = nbray.put(np.zeros(1_000_000))\nrefs = [big]")
    run(shell, "@nbray.remote\ndef one():\n    return 1\nsmall = {'x': one.remote()}")
    run(shell, "nbray.get(small['x'])\nsmall['x']")  # also in Out[N]
    count = shell.execution_count - 1
    capsys.readouterr()
    shell.run_line_magic("nbray", "refs")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ref", "task", "state", "size", "where", "held", "by"]
    big_row = next(line for line in lines if "put" in line)
    assert "finished" in big_row and "7.6 MiB" in big_row and "shared memory" in big_row
    assert big_row.endswith("big, refs[0]")
    one_row = next(line for line in lines if " one " in line)
    assert "inline" in one_row and one_row.endswith(f"small['x'], Out[{count}]")
    big = weakref.ref(shell.user_ns["big"])
    run(shell, "del big, refs")
    assert big() is None  # the report kept no ref alive (not even until a garbage collection)


def test_errors_name_notebook_frames_as_cells(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "nbray")
    run(shell, "import nbray\n@nbray.remote\ndef broken():\n    x = 1\n    raise KeyError(x)")
    count = shell.execution_count - 1
    result = shell.run_cell("nbray.get(broken.remote())", store_history=True)
    assert isinstance(result.error_in_exec, KeyError)
    shown = capsys.readouterr().out
    assert f"Cell In[{count}], line 5, in broken" in shown and "KeyError: 1" in shown
    assert "    raise KeyError(x)" in shown  # the worker knew the cell's code
    shell.run_line_magic("nbray", "errors")
    assert f"Cell In[{count}], line 5, in broken" in capsys.readouterr().out


def test_interrupt_policy_is_configurable(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "nbray")
    shell.run_line_magic("nbray", "interrupt")
    assert "cancel its cell's tasks" in capsys.readouterr().out
    shell.run_line_magic("nbray", "interrupt keep")
    assert "leave its cell's tasks running" in capsys.readouterr().out
    with pytest.raises(UsageError, match="cancel\\|kill\\|keep"):
        shell.run_line_magic("nbray", "interrupt sometimes")
