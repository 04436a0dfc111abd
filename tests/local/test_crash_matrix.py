"""The crash matrix: a fault at every stage of a task's life, of every kind, ends as a clear error
for that task alone; the runtime runs the next task as if nothing happened.

Stages: pickling the arguments (caller), unpickling them (worker), running, pickling the result
(worker), unpickling it (caller). Faults: an exception, sys.exit, os._exit, a segfault, SIGKILL
from outside. The caller's own process is not crashed on purpose: os._exit or a segfault there
ends the user's program, whatever the runtime does.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

import nbray
from nbray.exceptions import RayError, RayTaskError, SerializationError, WorkerCrashedError

WORKER_STAGES = ["unpickle arguments", "run", "pickle result"]
CALLER_STAGES = ["pickle arguments", "unpickle result"]
WORKER_FAULTS = ["raise", "sys.exit", "os._exit", "segfault", "SIGKILL from outside"]
CALLER_FAULTS = ["raise", "sys.exit"]


class Boom(Exception):
    pass


def detonate(fault: str) -> Any:
    if fault == "raise":
        raise Boom("a fault")
    if fault == "sys.exit":
        sys.exit(3)
    if fault == "os._exit":
        os._exit(7)
    if fault == "segfault":
        ctypes.string_at(0)
    where, gate = fault.split("|")[1:]  # SIGKILL from outside: say where we are, then wait
    with open(where, "w") as told:
        told.write(str(os.getpid()))
    with open(gate) as wait_here:  # nobody opens it: the test kills this process first
        return wait_here.read()


class Bomb:
    """Goes off when pickled (`when="pickle"`) or when unpickled (`when="unpickle"`)."""

    def __init__(self, fault: str, when: str) -> None:
        self.fault, self.when = fault, when

    def __reduce__(self) -> Any:
        if self.when == "pickle":
            detonate(self.fault)
        return detonate, (self.fault,)


@nbray.remote(max_retries=0)
def take(argument: Any) -> str:
    return "took it"


@nbray.remote(max_retries=0)
def run(fault: str) -> None:
    detonate(fault)


@nbray.remote(max_retries=0)
def make(fault: str, when: str) -> Bomb:
    return Bomb(fault, when)


@nbray.remote
def fine() -> int:
    return 1


def _submit(stage: str, fault: str) -> Any:
    if stage in ("unpickle arguments", "pickle arguments"):
        return take.remote(Bomb(fault, "unpickle" if stage.startswith("unpickle") else "pickle"))
    if stage == "run":
        return run.remote(fault)
    return make.remote(fault, "pickle" if stage == "pickle result" else "unpickle")


def _fault(kind: str, tmp_path: Path) -> str:
    if kind != "SIGKILL from outside":
        return kind
    where, gate = tmp_path / "where", tmp_path / "gate"
    os.mkfifo(where)
    os.mkfifo(gate)
    return f"sigkill|{where}|{gate}"


def _kill_when_there(fault: str) -> None:
    with open(fault.split("|")[1]) as told:  # blocks until the task has said where it is
        os.kill(int(told.read()), signal.SIGKILL)


EXPECTED: dict[str, type[BaseException]] = {
    "raise": Boom,  # the task's error, typed like its exception
    "sys.exit": RayTaskError,  # never an exit of the caller
    "os._exit": WorkerCrashedError,
    "segfault": WorkerCrashedError,
    "SIGKILL from outside": WorkerCrashedError,
}


@pytest.mark.parametrize("kind", WORKER_FAULTS)
@pytest.mark.parametrize("stage", WORKER_STAGES)
def test_a_fault_in_a_worker_fails_that_task_alone(
    local_ray: Any, tmp_path: Path, stage: str, kind: str
) -> None:
    fault = _fault(kind, tmp_path)
    ref = _submit(stage, fault)
    if fault.startswith("sigkill"):
        _kill_when_there(fault)
    expected = EXPECTED[kind]
    if (stage, kind) == ("pickle result", "raise"):  # said as what could not be pickled
        expected = SerializationError
    with pytest.raises(expected) as raised:
        nbray.get(ref, timeout=120)
    assert isinstance(raised.value, RayError)
    if kind == "raise":
        assert "Boom: a fault" in str(raised.value)
    assert nbray.get(fine.remote(), timeout=120) == 1


@pytest.mark.parametrize("kind", CALLER_FAULTS)
@pytest.mark.parametrize("stage", CALLER_STAGES)
def test_a_fault_in_the_caller_is_a_clear_error_there(
    local_ray: Any, tmp_path: Path, stage: str, kind: str
) -> None:
    with pytest.raises(Exception) as raised:  # which one: asserted below
        nbray.get(_submit(stage, kind), timeout=120)
    if kind == "raise":
        assert isinstance(raised.value, Boom) or isinstance(raised.value.__cause__, Boom)
    else:
        assert isinstance(raised.value, RayError), "a SystemExit left nbray as itself"
        assert "SystemExit" in str(raised.value)
    assert nbray.get(fine.remote(), timeout=120) == 1
