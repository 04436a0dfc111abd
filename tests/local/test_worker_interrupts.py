"""The worker's SIGUSR1 handler, called directly: a cancel interrupts its task once. A second
signal (another cancel, a queued task taken back) must not strike the task's error handling,
where a KeyboardInterrupt would escape and kill the worker."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from nbray.core.ids import TaskId
from nbray.local import protocol, worker_main


@pytest.fixture
def interrupts() -> Iterator[int]:
    """The write end of a fresh interrupts pipe the handler reads."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    saved = worker_main._interrupts_fd, worker_main._running_task, set(worker_main._cancelled)
    worker_main._interrupts_fd = read
    yield write
    worker_main._interrupts_fd, worker_main._running_task = saved[0], saved[1]
    worker_main._cancelled.clear()
    worker_main._cancelled.update(saved[2])
    os.close(read)
    os.close(write)


def test_a_cancel_interrupts_the_running_task_once(interrupts: int) -> None:
    task = TaskId(7)
    worker_main._running_task = task
    os.write(interrupts, protocol.INTERRUPT.pack(task))
    with pytest.raises(KeyboardInterrupt):
        worker_main._interrupt_task(signal.SIGUSR1, None)
    os.write(interrupts, protocol.INTERRUPT.pack(task))
    worker_main._interrupt_task(signal.SIGUSR1, None)  # no second KeyboardInterrupt


def test_naming_a_queued_task_leaves_the_running_one_alone(interrupts: int) -> None:
    worker_main._running_task = TaskId(7)
    os.write(interrupts, protocol.INTERRUPT.pack(TaskId(8)))
    worker_main._interrupt_task(signal.SIGUSR1, None)
    assert TaskId(8) in worker_main._cancelled  # skipped when it comes up


def test_a_second_signal_during_the_first_loses_no_name(
    interrupts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A take-back names a queued task; the cancel of the running one arrives while the handler
    is still recording that name (a loaded machine). Both must hold: the queued task is skipped
    later (it ran, blocked, once, in a CI run: its name was lost to the nested handler's raise)."""
    running, queued = TaskId(7), TaskId(8)
    worker_main._running_task = running
    previous = signal.signal(signal.SIGUSR1, worker_main._interrupt_task)
    real_read = os.read
    reads = []

    def read_then_signalled(fd: int, size: int) -> bytes:
        data = real_read(fd, size)
        if not reads:  # the first read: the cancel's signal comes now
            reads.append(data)
            os.write(interrupts, protocol.INTERRUPT.pack(running))
            signal.raise_signal(signal.SIGUSR1)
        return data

    monkeypatch.setattr(worker_main.os, "read", read_then_signalled)
    try:
        os.write(interrupts, protocol.INTERRUPT.pack(queued))
        with pytest.raises(KeyboardInterrupt):
            worker_main._interrupt_task(signal.SIGUSR1, None)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert queued in worker_main._cancelled and running in worker_main._cancelled


def test_a_cancel_striking_outside_the_tasks_code_is_its_error_not_the_workers_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def struck(*_: object) -> None:
        raise KeyboardInterrupt("task cancelled by nbray.cancel")

    monkeypatch.setattr(worker_main, "_execute", struck)
    sent: list[object] = []
    client = SimpleNamespace(capture=None, send=sent.append, place=lambda value: value)
    task = SimpleNamespace(task_id=TaskId(9), name="f", body=None)
    worker_main._run_and_report(task, None, None, client)  # type: ignore[arg-type]
    (report,) = sent
    assert isinstance(report, protocol.TaskError) and report.task_id == TaskId(9)
    assert report.error.type_name == "KeyboardInterrupt"
