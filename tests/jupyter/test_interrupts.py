"""A kernel interrupt while a cell blocks in get/wait cancels that cell's tasks (a second one
kills them); other cells' tasks keep running. SIGINT is sent to this process's main thread once
it is seen blocking, as the kernel's interrupt does."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

import nbray
from nbray.object_ref import RefState
from tests.jupyter.conftest import run

TASKS = """
import nbray
@nbray.remote
def late(fifo):
    with open(fifo) as gate:
        return gate.read()
@nbray.remote
def stubborn(fifo, inside):
    while True:
        try:
            open(inside, "w").close()  # from here on, a cancel is ignored
            with open(fifo) as gate:
                return gate.read()
        except KeyboardInterrupt:
            pass  # ignores a cancel: only killing stops it
"""


def main_thread_in(function_name: str) -> bool:
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        if frame.f_code.co_name == function_name:
            return True
        frame = frame.f_back
    return False


def interrupt_when(*conditions: object) -> threading.Thread:
    """Send SIGINT to the main thread each time the next condition holds."""

    def send() -> None:
        for condition in conditions:
            while not condition():  # type: ignore[operator]
                threading.Event().wait(0.005)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def running(shell: InteractiveShell, name: str) -> object:
    def check() -> bool:
        ref = shell.user_ns.get(name)
        return ref is not None and ref.state() is RefState.RUNNING

    return check


@pytest.fixture
def fifos(tmp_path: Path) -> tuple[str, str]:
    paths = (str(tmp_path / "one"), str(tmp_path / "two"))
    for path in paths:
        os.mkfifo(path)
    return paths


def test_an_interrupt_in_get_cancels_the_cells_tasks_only(
    shell: InteractiveShell, fifos: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "nbray")
    run(shell, TASKS + f"fifos = {fifos!r}")
    run(shell, "other = late.remote(fifos[0])")  # an earlier cell's task
    count = shell.execution_count
    sender = interrupt_when(lambda: running(shell, "ref")() and main_thread_in("_wait_ready"))
    result = shell.run_cell("ref = late.remote(fifos[1])\nnbray.get(ref)", store_history=True)
    sender.join()
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert f"nbray: cancelling 1 task of In[{count}]" in capsys.readouterr().err
    assert shell.user_ns["ref"].state() is RefState.CANCELLED
    assert shell.user_ns["other"].state() is RefState.RUNNING
    with open(fifos[0], "w") as gate:
        gate.write("done")
    assert nbray.get(shell.user_ns["other"]) == "done"


def test_a_second_interrupt_kills_tasks_that_ignore_the_first(
    shell: InteractiveShell,
    fifos: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shell.run_line_magic("load_ext", "nbray")
    inside = str(tmp_path / "inside")
    run(shell, TASKS + f"fifos = {fifos!r}")
    # Not merely running (dispatched): inside its try, or the first interrupt cancels it.
    sender = interrupt_when(
        lambda: os.path.exists(inside) and main_thread_in("_wait_ready"),
        lambda: main_thread_in("wait_for"),
    )
    cell = f"ref = stubborn.remote(fifos[0], {inside!r})\nnbray.wait([ref])"
    result = shell.run_cell(cell, store_history=True)
    sender.join()
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert "killed 1 task" in capsys.readouterr().err
    with pytest.raises(nbray.exceptions.TaskCancelledError):
        nbray.get(shell.user_ns["ref"])


def test_with_keep_an_interrupt_leaves_the_tasks_running(
    shell: InteractiveShell, fifos: tuple[str, str]
) -> None:
    shell.run_line_magic("load_ext", "nbray")
    shell.run_line_magic("nbray", "interrupt keep")
    run(shell, TASKS + f"fifos = {fifos!r}")
    sender = interrupt_when(lambda: running(shell, "ref")() and main_thread_in("_wait_ready"))
    result = shell.run_cell("ref = late.remote(fifos[0])\nnbray.get(ref)", store_history=True)
    sender.join()
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    with open(fifos[0], "w") as gate:
        gate.write("kept")
    assert nbray.get(shell.user_ns["ref"]) == "kept"
