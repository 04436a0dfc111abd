"""The local runtime's processes: concurrency, timeouts, cancellation, crashes, and no leaks.

Tasks that must stay running block on a FIFO until the test opens it for writing: a real
synchronisation, no sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

import nbray
from nbray import _current
from nbray.core.events import TaskStarted
from nbray.core.task import TaskState
from nbray.exceptions import GetTimeoutError, RayTaskError, TaskCancelledError, WorkerCrashedError
from nbray.local import runtime
from nbray.object_ref import RefState
from nbray.options import machine_cpus


@nbray.remote
def block_on(fifo: str) -> str:
    with open(fifo) as gate:  # blocks until the test opens the FIFO for writing
        return gate.read()


@nbray.remote
def crash(how: str) -> None:
    if how == "exit":
        sys.exit(3)
    if how == "os_exit":
        os._exit(7)
    if how == "segfault":
        import ctypes

        ctypes.string_at(0)
    raise ValueError(how)


@nbray.remote
def worker_pid() -> int:
    return os.getpid()


@pytest.fixture
def fifo(tmp_path: Path) -> str:
    path = str(tmp_path / "gate")
    os.mkfifo(path)
    return path


def release(fifo: str, text: str = "go") -> None:
    with open(fifo, "w") as gate:
        gate.write(text)


def test_get_times_out_and_wait_returns_what_is_ready(local_ray: Any, fifo: str) -> None:
    blocked, done = block_on.remote(fifo), worker_pid.remote()
    with pytest.raises(GetTimeoutError, match="1 of 1"):
        nbray.get(blocked, timeout=0)
    with pytest.raises(GetTimeoutError):
        nbray.get(blocked, timeout=0.05)
    nbray.wait([done])
    assert nbray.wait([blocked, done], num_returns=2, timeout=0.05) == ([done], [blocked])
    release(fifo)
    assert nbray.get(blocked) == "go"


def test_get_raises_a_failure_at_once_without_waiting_for_the_rest(
    local_ray: Any, fifo: str
) -> None:
    blocked = block_on.remote(fifo)
    with pytest.raises(ValueError, match="early"):
        nbray.get([blocked, crash.remote("early")])
    release(fifo)


def test_a_task_blocked_in_get_lends_its_cpu_so_nested_tasks_run(local_ray: Any) -> None:
    @nbray.remote
    def fan_out(n: int) -> list[int]:
        return nbray.get([worker_pid.remote() for _ in range(n)])

    # Two parents hold both CPUs and wait for their children: no deadlock.
    assert len(nbray.get([fan_out.remote(3), fan_out.remote(3)])[1]) == 3


def test_cancel_a_queued_task(fifo: str) -> None:
    nbray.init(num_cpus=1)
    blocked, queued = block_on.remote(fifo), worker_pid.remote()
    nbray.cancel(queued)
    with pytest.raises(TaskCancelledError):
        nbray.get(queued)
    release(fifo)
    assert nbray.get(blocked) == "go"
    nbray.cancel(blocked)  # cancelling a finished task does nothing
    assert nbray.get(blocked) == "go"


@pytest.mark.parametrize("force", [False, True])
def test_cancel_a_running_task(local_ray: Any, fifo: str, force: bool) -> None:
    started = []
    nbray.events.subscribe(started.append)
    blocked = block_on.remote(fifo)
    nbray.wait([worker_pid.remote()])  # the pool is up
    while not any(
        isinstance(e, nbray.events.TaskStarted) and e.task_id == blocked.task_id() for e in started
    ):
        nbray.events.snapshot()  # a round trip through the loop, until the task runs
    nbray.cancel(blocked, force=force)
    with pytest.raises(TaskCancelledError):
        nbray.get(blocked)
    assert nbray.get(worker_pid.remote()) > 0  # the runtime carries on


@pytest.mark.parametrize(
    ("how", "error", "match"),
    [
        ("raise", ValueError, "raise"),
        ("exit", RayTaskError, "SystemExit: 3"),
        ("os_exit", WorkerCrashedError, "exit code 7"),
        ("segfault", WorkerCrashedError, "SIGSEGV"),
    ],
)
def test_crash_matrix(local_ray: Any, how: str, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        nbray.get(crash.options(max_retries=0).remote(how))
    assert nbray.get(worker_pid.remote()) > 0  # a dead worker is replaced


def test_a_crash_is_retried(local_ray: Any, tmp_path: Path) -> None:
    marker = str(tmp_path / "crashed-once")

    @nbray.remote(max_retries=1)
    def crash_once() -> str:
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        return "survived"

    assert nbray.get(crash_once.remote()) == "survived"


def test_workers_ignore_sigint(local_ray: Any) -> None:
    nbray.shutdown()
    nbray.init(num_cpus=1)
    pid = nbray.get(worker_pid.remote())
    os.kill(pid, signal.SIGINT)  # as Jupyter's interrupt does to the whole process group
    assert nbray.get(worker_pid.remote()) == pid


def test_workers_start_for_the_machines_cpus_and_more_only_as_tasks_wait(fifo: str) -> None:
    cpus = machine_cpus()
    nbray.init(num_cpus=3 * cpus)  # oversubscribed, as for tasks that wait on I/O
    assert nbray.get(worker_pid.remote())
    assert len(psutil.Process().children()) <= cpus
    started, all_started = [], threading.Event()

    def count(event: Any) -> None:
        if isinstance(event, TaskStarted):
            started.append(event)
            if len(started) == 3 * cpus:
                all_started.set()

    unsubscribe = nbray.events.subscribe(count)
    blocked = [block_on.remote(fifo) for _ in range(3 * cpus)]
    assert all_started.wait(60), f"{len(started)} of {3 * cpus} tasks started"
    unsubscribe()
    assert len(psutil.Process().children()) == 3 * cpus  # as many as the tasks needed
    release(fifo)
    nbray.get(blocked)


def test_shutdown_leaves_no_process_even_with_busy_workers(fifo: str) -> None:
    nbray.init(num_cpus=2)
    pids = set(nbray.get([worker_pid.remote() for _ in range(4)]))
    block_on.remote(fifo)
    nbray.shutdown()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert psutil.Process().children() == []


def test_workers_die_with_a_driver_killed_by_sigkill() -> None:
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
            import os, sys, nbray
            @nbray.remote
            def pid():
                return os.getpid()
            print(*set(nbray.get([pid.remote() for _ in range(4)])), flush=True)
            sys.stdin.read()  # until killed
            """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with driver:
        assert driver.stdout is not None
        workers = [psutil.Process(int(pid)) for pid in driver.stdout.readline().split()]
        assert workers
        driver.kill()
    _gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive


def test_max_calls_replaces_the_worker(fifo: str) -> None:
    nbray.init(num_cpus=1)
    once = worker_pid.options(max_calls=1)
    first, second = nbray.get(once.remote()), nbray.get(once.remote())
    assert first != second
    assert nbray.get(worker_pid.remote()) == nbray.get(worker_pid.remote())


def test_cancel_is_recursive_by_default(local_ray: Any, fifo: str) -> None:
    seen: list[Any] = []
    nbray.events.subscribe(seen.append)

    @nbray.remote
    def parent(gate: str) -> str:
        return nbray.get(block_on.remote(gate))  # waits for its child

    ref = parent.remote(fifo)

    def child_of_parent() -> Any:
        for event in seen:
            if isinstance(event, nbray.events.TaskSubmitted) and event.spec.parent == ref.task_id():
                return event.spec.task_id
        return None

    while child_of_parent() is None:
        nbray.events.snapshot()
    child = child_of_parent()
    nbray.cancel(ref)
    with pytest.raises(TaskCancelledError):
        nbray.get(ref)
    while not any(isinstance(e, nbray.events.TaskCancelled) and e.task_id == child for e in seen):
        nbray.events.snapshot()


@nbray.remote
class Pid:
    def __init__(self) -> None:
        self.calls = 0

    def pid(self) -> int:
        self.calls += 1
        return os.getpid()

    def count(self) -> int:
        return self.calls

    def crash(self) -> None:
        os._exit(3)


def test_an_actor_runs_in_a_process_of_its_own_and_dies_with_its_handles(local_ray: Any) -> None:
    actor = Pid.remote()
    pid = nbray.get(actor.pid.remote())
    assert pid not in {nbray.get(worker_pid.remote()) for _ in range(4)}
    process = psutil.Process(pid)  # before it may exit
    del actor
    _gone, alive = psutil.wait_procs([process], timeout=10)
    assert not alive


def test_a_crashed_actor_says_why_and_restarts_if_allowed(local_ray: Any) -> None:
    from nbray.exceptions import ActorDiedError

    mortal = Pid.remote()
    with pytest.raises(ActorDiedError, match="exit code 3"):
        nbray.get(mortal.crash.remote())
    with pytest.raises(ActorDiedError, match="exit code 3"):
        nbray.get(mortal.pid.remote())

    phoenix = Pid.options(max_restarts=1).remote()
    first = nbray.get(phoenix.pid.remote())
    with pytest.raises(ActorDiedError, match="is restarting"):
        nbray.get(phoenix.crash.remote())
    assert nbray.get(phoenix.pid.remote()) != first  # a new process
    assert nbray.get(phoenix.count.remote()) == 1  # state re-created by the constructor


def test_max_concurrency_runs_calls_side_by_side(local_ray: Any) -> None:
    @nbray.remote
    class Meeting:
        def __init__(self) -> None:
            import threading

            self.barrier = threading.Barrier(2, timeout=30)

        def arrive(self) -> int:
            return self.barrier.wait()  # returns only when both calls are inside at once

        async def wait_for(self, event_name: str) -> str:
            import asyncio

            if not hasattr(self, "events"):
                self.events = {"a": asyncio.Event(), "b": asyncio.Event()}
            self.events[event_name].set()
            other = "b" if event_name == "a" else "a"
            await self.events[other].wait()
            return event_name

    meeting = Meeting.options(max_concurrency=2).remote()
    assert sorted(nbray.get([meeting.arrive.remote(), meeting.arrive.remote()])) == [0, 1]
    assert nbray.get([meeting.wait_for.remote("a"), meeting.wait_for.remote("b")]) == ["a", "b"]


def test_streamed_items_arrive_while_the_task_still_runs(local_ray: Any, fifo: str) -> None:
    @nbray.remote(num_returns="streaming")
    def first_then_wait(gate: str) -> Any:
        yield "first"
        with open(gate) as opened:
            yield opened.read()

    stream = first_then_wait.remote(fifo)
    assert nbray.get(next(stream)) == "first"  # the task is blocked on the FIFO meanwhile
    release(fifo, "second")
    assert nbray.get(next(stream)) == "second"
    assert list(stream) == []


def test_workers_import_the_drivers_nbray_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    impostor = tmp_path / "nbray"
    impostor.mkdir()
    (impostor / "__init__.py").write_text("raise ImportError('the wrong nbray')\n")
    monkeypatch.chdir(tmp_path)
    nbray.init(num_cpus=1)
    assert nbray.get(worker_pid.remote()) > 0


def test_an_async_actor_runs_its_calls_concurrently_by_default(local_ray: Any) -> None:
    import asyncio

    @nbray.remote
    class Gate:  # no max_concurrency: async methods interleave, as in Ray
        def __init__(self) -> None:
            self.opened = asyncio.Event()

        async def wait_open(self) -> str:
            await self.opened.wait()
            return "through"

        async def open(self) -> None:
            self.opened.set()

    gate = Gate.remote()
    waiting = [gate.wait_open.remote() for _ in range(3)]
    gate.open.remote()
    assert nbray.get(waiting) == ["through"] * 3


# ---- pipelining: a worker holds a second task while it runs one ----------------------------


@pytest.fixture
def pipelined(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """One worker that takes a second task while it runs one: every `block_on` counts as short
    (it ran once, quickly)."""
    monkeypatch.setattr(runtime, "PIPELINE_BELOW", 3600.0)
    nbray.init(num_cpus=1)
    ready = tmp_path / "ready"
    ready.write_text("warm")
    assert nbray.get(block_on.remote(str(ready))) == "warm"
    yield
    nbray.shutdown()


def task_state(ref: Any) -> TaskState | None:
    backend = _current.backend
    return backend._on_runtime_thread(lambda: backend.runtime.scheduler.task_state(ref.task_id()))


def test_a_cancelled_queued_task_is_skipped_by_its_worker(
    pipelined: None, fifo: str, tmp_path: Path
) -> None:
    @nbray.remote
    def touch(path: str) -> None:
        Path(path).touch()

    running, queued = block_on.remote(fifo), touch.remote(str(tmp_path / "touched"))
    assert task_state(queued) is TaskState.QUEUED  # sent to the busy worker
    nbray.cancel(queued)
    nbray.events.snapshot()  # the cancel reached the worker: a round trip through the loop
    release(fifo)
    assert nbray.get(running) == "go"  # the interrupt named the queued task, not this one
    with pytest.raises(TaskCancelledError):
        nbray.get(queued)
    assert nbray.get(worker_pid.remote()) > 0  # the worker took the next task...
    assert not (tmp_path / "touched").exists()  # ...and had skipped the cancelled one


def test_cancelling_a_running_task_spares_the_task_queued_behind_it(
    pipelined: None, fifo: str
) -> None:
    running, queued = block_on.remote(fifo), worker_pid.remote()
    assert task_state(queued) is TaskState.QUEUED
    nbray.cancel(running)
    with pytest.raises(TaskCancelledError):
        nbray.get(running)
    assert nbray.get(queued) > 0


def test_a_task_waiting_for_subtasks_bounces_those_queued_behind_it(pipelined: None) -> None:
    @nbray.remote
    def fan_out(n: int) -> int:
        return len(nbray.get([worker_pid.remote() for _ in range(n)]))

    submitted: list[Any] = []
    nbray.events.subscribe(submitted.append)
    assert nbray.get(fan_out.remote(0)) == 0  # now short: a subtask is queued behind it
    assert nbray.get(fan_out.remote(3), timeout=60) == 3  # no deadlock: the queued one came back
    backend = _current.backend
    stories = [
        backend._on_runtime_thread(lambda e=e: backend.runtime.scheduler.story(e.spec.task_id))
        for e in submitted
        if isinstance(e, nbray.events.TaskSubmitted) and e.spec.name.endswith("worker_pid")
    ]
    causes = [t.cause for story in stories for t in story]
    assert "queued behind a short task" in causes and "bounced by its busy worker" in causes


@nbray.remote
def echo(value: Any) -> Any:
    return value


def test_a_task_queued_behind_one_that_turned_out_long_still_runs(
    local_ray: Any, tmp_path: Path
) -> None:
    # block_on was short last time, so a task may be queued behind it now; it blocks for good.
    ready_file = tmp_path / "open"
    ready_file.write_text("at once")
    assert nbray.get(block_on.remote(str(ready_file))) == "at once"
    assert nbray.get(echo.remote("warm")) == "warm"
    fifo = str(tmp_path / "gate")
    os.mkfifo(fifo)
    refs = [block_on.remote(fifo), echo.remote(1), echo.remote(2), echo.remote(3)]
    ready, _ = nbray.wait(refs, num_returns=3, timeout=60)  # a bound on failure, not a sleep
    assert nbray.get(refs[1:]) == [1, 2, 3] and len(ready) == 3
    with open(fifo, "w") as gate:
        gate.write("released")
    assert nbray.get(refs[0]) == "released"


def test_cancelling_the_running_tasks_lets_the_queued_ones_run(
    local_ray: Any, tmp_path: Path
) -> None:
    ready_file = tmp_path / "open"
    ready_file.write_text("at once")
    assert nbray.get(block_on.remote(str(ready_file))) == "at once"  # short: queues behind it
    fifos = [str(tmp_path / f"gate{i}") for i in range(2)]
    for fifo in fifos:
        os.mkfifo(fifo)
    running = [block_on.remote(fifo) for fifo in fifos]
    queued = [echo.remote(i) for i in range(3)]
    while sum(r.state() is RefState.RUNNING for r in running) < 2:
        pass  # each state() is a round trip through the runtime: no sleep needed
    for ref in running:
        nbray.cancel(ref)
    ready, _ = nbray.wait(queued, num_returns=3, timeout=60)  # a bound on failure, not a sleep
    assert len(ready) == 3 and nbray.get(queued) == [0, 1, 2]
    for ref in running:
        with pytest.raises(TaskCancelledError):
            nbray.get(ref)
    assert nbray.available_resources()["CPU"] == 2
