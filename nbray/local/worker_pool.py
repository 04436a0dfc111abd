"""Worker processes, seen from the driver: start, message, signal, reap.

Workers are started with `subprocess` (`python -m nbray.local.worker_main`), not
`multiprocessing`: nothing of the notebook's `__main__` is re-imported, and startup is one plain
interpreter launch. Each worker gets one end of a socketpair as its channel, and the read end of a
pipe that names the tasks to interrupt (the driver writes a task's id there, then sends SIGUSR1:
the worker raises KeyboardInterrupt only in that task, or skips it if it is queued). Its death is
noticed through a pidfd (readable when the process exits) so the event loop can wait on it beside
the channels; the exit status is then reaped at once. Only the event-loop thread calls this module:
the worker's parent-death signal fires when the thread that spawned it exits (prctl(2)).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

from nbray.core.ids import ObjectId, TaskId, WorkerId
from nbray.core.task import TaskSpec
from nbray.local import protocol
from nbray.local.object_store import ObjectStore, Payload
from nbray.local.tasks import TaskBody

SHUTDOWN_GRACE_SECONDS = 0.25


@dataclass(eq=False)
class WorkerProcess:
    worker_id: WorkerId
    process: subprocess.Popen[bytes]
    channel: protocol.Channel | None
    pidfd: int
    interrupts: int  # write end of the pipe of task ids to interrupt
    functions: set[bytes] = field(default_factory=set)  # function ids the worker has cached


class ProcessPool:
    queues_tasks = True  # see worker_main: tasks run in the order sent; held ones are bounced

    def __init__(self, store: ObjectStore, node_id: str, namespace: str) -> None:
        self.workers: dict[WorkerId, WorkerProcess] = {}
        self._store = store
        self._node_id = node_id
        self._namespace = namespace
        self.generation = 0  # changes whenever the set of waitables does

    # ---- the WorkerPool protocol ---------------------------------------------------------

    def spawn(self, worker_id: WorkerId) -> None:
        ours, theirs = socket.socketpair()
        interrupts_read, interrupts = os.pipe()
        os.set_blocking(interrupts, False)  # never stall the loop: a full pipe drops the id
        store = self._store
        arguments = (theirs.fileno(), os.getpid(), store.fd, store.capacity, interrupts_read)
        command = [*_python(), "-m", "nbray.local.worker_main", *map(str, arguments)]
        env = {**os.environ, "NBRAY_WORKER_ID": str(worker_id), "PYTHONPATH": _python_path()}
        passed = [theirs.fileno(), store.fd, interrupts_read]
        process = subprocess.Popen(command, pass_fds=passed, stdin=subprocess.DEVNULL, env=env)
        theirs.close()
        os.close(interrupts_read)
        channel = protocol.Channel(ours, protocol.from_worker)
        pidfd = os.pidfd_open(process.pid)
        self.workers[worker_id] = WorkerProcess(worker_id, process, channel, pidfd, interrupts)
        self.generation += 1
        channel.send(protocol.Setup(list(sys.path), os.getcwd(), self._node_id, self._namespace))

    def stop(self, worker_id: WorkerId) -> None:
        worker = self.workers.get(worker_id)
        if worker is not None:
            _signal(worker, signal.SIGKILL)

    def interrupt(self, worker_id: WorkerId, task_id: TaskId) -> None:
        worker = self.workers.get(worker_id)
        if worker is None:
            return
        with contextlib.suppress(OSError):  # full (8,192 ids unread), or the worker is gone
            os.write(worker.interrupts, protocol.INTERRUPT.pack(task_id))
        _signal(worker, signal.SIGUSR1)

    def dispatch(
        self,
        worker_id: WorkerId,
        spec: TaskSpec,
        body: TaskBody,
        resolved: Mapping[ObjectId, Payload],
        gpu_ids: tuple[int, ...],
    ) -> None:
        worker = self.workers[worker_id]
        function_id = body.function.function_id
        cached = function_id in worker.functions  # there: send only its id
        worker.functions.add(function_id)
        message = protocol.execute_task(
            spec.task_id, spec.name, body, dict(resolved), gpu_ids, with_function=not cached
        )
        self.send(worker_id, message)

    # ---- for the event loop --------------------------------------------------------------

    def send(self, worker_id: WorkerId, message: Any) -> None:
        worker = self.workers.get(worker_id)
        if worker is None or worker.channel is None:
            return  # it died: its death is (or will be) an event of its own
        try:
            worker.channel.send(message)
        except OSError:
            self._close_channel(worker)

    def waitables(self) -> list[tuple[int, WorkerProcess]]:
        """The file descriptors to wait on, with their workers (see `generation`)."""
        found = []
        for worker in self.workers.values():
            found.append((worker.pidfd, worker))
            if worker.channel is not None:
                found.append((worker.channel.fileno(), worker))
        return found

    def read(self, worker: WorkerProcess) -> list[Any]:
        """Every message the worker has sent so far (its channel closes at EOF). Something on
        the channel that is not an nbray message stops the worker and raises BadMessage (with
        the messages before it)."""
        channel = worker.channel
        if channel is None:
            return []
        try:
            messages = channel.receive_ready()
        except OSError:
            messages = []
            channel.at_eof = True
        except protocol.BadMessage:
            self.refuse(worker)
            raise
        if channel.at_eof:
            self._close_channel(worker)
        return messages

    def refuse(self, worker: WorkerProcess) -> None:
        """Stop a worker whose channel carried what nbray would not send; read no more of it."""
        _signal(worker, signal.SIGKILL)
        self._close_channel(worker)

    def reap(self, worker: WorkerProcess) -> int | None:
        """Forget a worker whose pidfd fired; its exit code (negative: killed by that signal)."""
        self.workers.pop(worker.worker_id, None)
        self._close_channel(worker)
        self.generation += 1
        os.close(worker.pidfd)
        os.close(worker.interrupts)
        return worker.process.wait()

    def close(self) -> list[tuple[WorkerId, int | None]]:
        """Stop every worker: idle ones exit at EOF on their channel; those still busy in a task
        after a short grace period are killed (they write their output line by line)."""
        for worker in self.workers.values():
            self._close_channel(worker)
        lingering = {worker.pidfd: worker for worker in self.workers.values()}
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        while lingering and (left := deadline - time.monotonic()) > 0:
            for pidfd in wait(list(lingering), left):
                del lingering[pidfd]  # type: ignore[arg-type]
        for worker in lingering.values():
            _signal(worker, signal.SIGKILL)
        return [(worker.worker_id, self.reap(worker)) for worker in list(self.workers.values())]

    def _close_channel(self, worker: WorkerProcess) -> None:
        if worker.channel is not None:
            worker.channel.close()
            worker.channel = None
            self.generation += 1


def _python() -> list[str]:
    """The interpreter, told not to put the working directory first on sys.path (-P, Python
    3.11+): a worker must import the driver's nbray, not another copy that happens to sit in
    the directory the notebook runs in."""
    return [sys.executable, "-P"] if sys.version_info >= (3, 11) else [sys.executable]


def _python_path() -> str:
    """The worker must import this very nbray, even if the driver found it through a sys.path
    entry added at run time (the rest of sys.path follows in the `Setup` message)."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    inherited = os.environ.get("PYTHONPATH")
    return here if not inherited else here + os.pathsep + inherited


def _signal(worker: WorkerProcess, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already exited; not yet reaped
        signal.pidfd_send_signal(worker.pidfd, signum)
