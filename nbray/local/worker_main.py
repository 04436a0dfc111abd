"""A worker process: runs the tasks the driver sends it, one at a time, in the order sent.

Started by `worker_pool.ProcessPool.spawn` as
`python -m nbray.local.worker_main CHANNEL_FD PARENT_PID STORE_FD STORE_SIZE INTERRUPTS_FD`.
It ignores SIGINT (Jupyter interrupts the kernel's whole process group; cancelling remote work
is the driver's decision) and dies with the driver: a parent-death signal covers SIGKILL of the
driver, EOF on its channel covers everything else.

The driver may send a task while another runs (pipelining): it waits in the channel. Two rules
keep that safe. A task the driver cancels is named on the interrupts pipe before SIGUSR1 arrives:
KeyboardInterrupt is raised only inside that task (once), and a named task that has not started
yet is skipped (reported as bounced: it never ran), so a cancel never strikes the wrong task.
And while the running task waits in get/wait, every task that arrives is bounced back unstarted
(`WorkerClient`): the running task may be waiting for it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from nbray import _current, runtime_env
from nbray.core.ids import TaskId, WorkerId
from nbray.exceptions import ObjectStoreFullError
from nbray.local import protocol
from nbray.local.object_store import Arena, Payload
from nbray.local.output import OutputCapture
from nbray.local.tasks import (
    ActorHost,
    FunctionCache,
    Raised,
    Returned,
    describe_failure,
    exits_actor,
    place_results,
    run_task,
)
from nbray.local.worker_client import WorkerClient
from nbray.object_ref import set_tracker
from nbray.placement import Node
from nbray.serialization import Serialized

_PR_SET_PDEATHSIG = 1
_running_task: TaskId | None = None  # the task SIGUSR1 may interrupt (None: none, or threaded)
_interrupts_fd = -1
_cancelled: set[TaskId] = set()  # named on the interrupts pipe
_CANCELLED = "task cancelled by nbray.cancel"


def main(argv: list[str]) -> None:
    global _interrupts_fd
    channel_fd, parent_pid, store_fd, store_capacity, _interrupts_fd = map(int, argv[1:6])
    for fd in (channel_fd, store_fd, _interrupts_fd):  # passed to us: to nothing a task starts
        os.set_inheritable(fd, False)
    os.set_blocking(_interrupts_fd, False)
    # One write per line, so lines of workers printing at once never interleave mid-line: also
    # under PYTHONUNBUFFERED / -u, whose write-through would write a line's newline apart.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True, write_through=False)  # type: ignore[union-attr]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, _interrupt_task)
    _die_with_parent(parent_pid)
    channel = protocol.Channel.from_fd(channel_fd)
    try:
        setup = channel.receive()
    except EOFError:
        return
    sys.path[:] = setup.sys_path
    os.chdir(setup.cwd)
    arena = Arena(store_fd, store_capacity)
    worker_id = WorkerId(int(os.environ["NBRAY_WORKER_ID"]))
    client = WorkerClient(channel, worker_id, arena, Node.of(setup.node_id), setup.namespace)
    _current.backend = client
    set_tracker(client)
    client.capture = OutputCapture(
        lambda stream, text: client.send(protocol.Output(client.output_task, stream, text))
    )
    client.send(protocol.WorkerReady(os.getpid()))
    serve(channel, client)


def serve(channel: protocol.Channel, client: WorkerClient) -> None:
    functions = client.functions
    host = client.host
    while True:
        try:
            task = channel.receive()
        except EOFError:
            return  # the driver shut down or died
        if not isinstance(task, protocol.ExecuteTask):
            continue  # the answer to a request an interrupt (cancel) abandoned
        _run_and_report(task, functions, host, client)
        if host.concurrency > 1:  # an actor that runs calls side by side
            return _serve_concurrently(client, functions, host)


def _serve_concurrently(client: WorkerClient, functions: FunctionCache, host: ActorHost) -> None:
    from concurrent.futures import ThreadPoolExecutor  # not at start: most workers never do this

    client.receive_concurrently()
    with ThreadPoolExecutor(host.concurrency, thread_name_prefix="nbray-call") as calls:
        while (task := client.next_call()) is not None:
            calls.submit(_run_and_report, task, functions, host, client)


def _run_and_report(
    task: protocol.ExecuteTask, functions: FunctionCache, host: ActorHost, client: WorkerClient
) -> None:
    if task.task_id in _cancelled:  # cancelled or taken back while it waited: never started
        _cancelled.discard(task.task_id)
        functions.keep(task.body)  # it may bring a function's only shipment
        client.send(protocol.Bounced(task.task_id))  # nothing ran: the driver decides again
        return
    try:
        outcome = _execute(task, functions, host, client)
    except KeyboardInterrupt as error:  # a cancel that struck outside the task's own code
        outcome = describe_failure(task.name, error)
    if client.capture is not None:
        client.capture.settle()  # a task's output leaves before its result, all of it
    if exits_actor(task.body, outcome):  # the driver sees exit code 0: the actor ended itself
        os._exit(0)  # (its holds go with it: the driver forgets a dead worker's)
    if isinstance(outcome, Raised):
        value = _placed(outcome.value, client)
        client.send(protocol.TaskError(task.task_id, outcome.error, value, outcome.made))
    else:
        client.send(protocol.TaskDone(task.task_id, outcome.values))


def _execute(
    task: protocol.ExecuteTask, functions: FunctionCache, host: ActorHost, client: WorkerClient
) -> Returned | Raised:
    global _running_task
    if not task.body.method:  # an actor's calls keep the devices its constructor got
        _use_gpus(host, task.gpu_ids)

    body = task.body
    env = host.environment_of(body)
    if body.creates_actor:
        host.actor_id = task.task_id  # an actor's id is its creation task's

    def load() -> Callable[..., Any]:
        if task.task_id in _cancelled:  # named just before it started
            raise KeyboardInterrupt(_CANCELLED)
        if body.creates_actor and env is not None:
            runtime_env.apply(env)  # for the actor's whole life: this worker is its own
        return host.callable_for(body, functions)

    try:
        if host.concurrency == 1:  # SIGUSR1 interrupts the main thread only
            _running_task = task.task_id
        client.current_task = task.task_id  # the parent of what it submits
        client.output_task = task.task_id  # what it writes is tagged with it
        client.current_env = env  # what it submits inherits
        outcome = run_task(
            load,
            task.name,
            body,
            task.resolved,
            client.load,
            lambda item: client.yield_item(task.task_id, item),
            None if body.method or body.creates_actor else env,  # an actor's: set for good
        )
    finally:
        _running_task = None
        _cancelled.discard(task.task_id)
        functions.keep(task.body)  # interrupted before loading it: its only shipment stays
        client.current_task = None
    if isinstance(outcome, Returned):
        outcome = place_results(outcome, task.name, client.place)
    return outcome


def _placed(error: Serialized, client: WorkerClient) -> Payload:
    """A large exception goes through the store like a value (a socket is slower than memcpy),
    or inline if the store cannot take it."""
    try:
        return client.place(error)
    except ObjectStoreFullError:
        return error


def _use_gpus(host: ActorHost, gpu_ids: tuple[int, ...]) -> None:
    if gpu_ids == host.gpu_ids:
        return  # most often: no GPUs, again
    host.gpu_ids = gpu_ids
    if gpu_ids:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpu_ids))
    else:  # not the previous task's devices
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)


def _interrupt_task(signum: int, frame: FrameType | None) -> None:
    # A second SIGUSR1 would run this handler again inside this one (Python handlers nest) and
    # its KeyboardInterrupt would cut the recording of the names read here: held off until then.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        with contextlib.suppress(BlockingIOError):  # already read by an earlier signal
            named = os.read(_interrupts_fd, 1 << 16)  # whole ids: each was one atomic write
            _cancelled.update(task_id for (task_id,) in protocol.INTERRUPT.iter_unpack(named))
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
    global _running_task
    if _running_task is not None and _running_task in _cancelled:
        _running_task = None  # once: a second cancel must not strike the task's error handling
        raise KeyboardInterrupt(_CANCELLED)


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(0)


if __name__ == "__main__":
    # If the driver goes away, exit quietly: there is nobody to tell.
    with contextlib.suppress(EOFError, BrokenPipeError, ConnectionResetError):
        main(sys.argv)
