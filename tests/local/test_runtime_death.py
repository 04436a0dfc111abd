"""A runtime whose event loop died says so at every call, `is_initialized` says False, and `init`
starts a new one in its place; calls that were waiting fail with the reason, never hang."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest

import nbray
from nbray import _current
from nbray.exceptions import RaySystemError


@nbray.remote
def add(a: int, b: int) -> int:
    return a + b


@nbray.remote
def block_on(fifo: str) -> str:
    with open(fifo) as gate:  # blocks until someone opens the FIFO for writing: nobody will
        return gate.read()


def _kill_the_loop() -> None:
    """Make the event loop's next step fail, as a bug in nbray would, and wait for its end."""
    loop = _current.backend._loop

    def broken_step() -> None:
        raise RuntimeError("a bug in the loop")

    loop._step = broken_step
    with contextlib.suppress(RaySystemError):  # refused if the broken step took it
        loop.call(lambda: None)  # ends the step it was in: the next one is the broken one
    loop._thread.join(30)
    assert not loop._thread.is_alive()


def test_a_dead_runtime_is_reported_by_every_call_and_replaced_by_init(
    local_ray: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    ref = add.remote(1, 2)
    assert nbray.get(ref) == 3
    _kill_the_loop()
    assert "event loop crashed" in capfd.readouterr().err
    assert not nbray.is_initialized()
    for call in (lambda: nbray.get(ref), lambda: add.remote(1, 1), lambda: nbray.put(1)):
        with pytest.raises(RaySystemError, match=r"has died \(RuntimeError: a bug in the loop\)"):
            call()
    with pytest.warns(RuntimeWarning, match="had died"):
        nbray.init(num_cpus=2)
    assert nbray.is_initialized()
    assert nbray.get(add.remote(2, 3)) == 5


def test_a_call_waiting_when_the_runtime_dies_fails_with_the_reason(
    local_ray: Any, tmp_path: Path
) -> None:
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    ref = block_on.remote(str(fifo))
    outcome: list[BaseException] = []

    def waiter() -> None:
        try:
            nbray.get(ref)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=waiter)
    thread.start()
    _kill_the_loop()
    thread.join(30)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], RaySystemError)
    assert "died (RuntimeError: a bug in the loop)" in str(outcome[0])


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize(
    "failing", ["nbray.local.object_store.Arena", "nbray.local.backend.EventLoop"]
)
def test_a_failed_init_keeps_no_descriptor(monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    before = _descriptors()
    monkeypatch.setattr(failing, fail)
    for _ in range(3):
        with pytest.raises(OSError, match="No space left"):
            nbray.init(num_cpus=1)
    assert _descriptors() == before
    assert not nbray.is_initialized()
