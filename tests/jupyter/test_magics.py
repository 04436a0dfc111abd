"""%load_ext nbray and %nbray, through a real IPython InteractiveShell."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import nbray


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    yield ip
    ip.run_line_magic("unload_ext", "nbray")
    InteractiveShell.clear_instance()


def run(shell: InteractiveShell, code: str) -> object:
    result = shell.run_cell(code, store_history=True)  # as a kernel runs cells: In[N] advances
    result.raise_error()
    return result.result


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
