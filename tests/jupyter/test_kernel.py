"""Through a real kernel (jupyter_client), as a notebook frontend sees it: the messages on IOPub."""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

Message = dict[str, Any]
TIMEOUT = 60


class Kernel:
    def __init__(self, manager: KernelManager, client: BlockingKernelClient) -> None:
        self.manager = manager
        self.client = client
        self.messages: list[Message] = []  # every IOPub message seen so far

    def execute(self, code: str) -> tuple[Message, list[Message]]:
        """Run a cell; its reply and the IOPub messages it caused until it went idle."""
        msg_id = self.client.execute(code)
        mine = self.until(lambda m: _idle_after(m, msg_id))
        reply = self.client.get_shell_msg(timeout=TIMEOUT)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.client.get_shell_msg(timeout=TIMEOUT)
        return reply, [m for m in mine if m["parent_header"].get("msg_id") == msg_id]

    def until(self, done: Callable[[Message], bool]) -> list[Message]:
        """IOPub messages up to the first one that satisfies `done`."""
        seen = []
        while True:
            try:
                message = self.client.get_iopub_msg(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"nothing expected on IOPub; saw {seen[-5:]}") from None
            self.messages.append(message)
            seen.append(message)
            if done(message):
                return seen


def _idle_after(message: Message, msg_id: str) -> bool:
    return (
        message["msg_type"] == "status"
        and message["content"]["execution_state"] == "idle"
        and message["parent_header"].get("msg_id") == msg_id
    )


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    env = {k: v for k, v in os.environ.items() if k != "NBRAY_NONINTERACTIVE"}
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(tmp_path), env=env)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=TIMEOUT)
    try:
        yield Kernel(manager, client)
        kernel_process = psutil.Process(manager.provisioner.pid)  # type: ignore[union-attr]
        workers = kernel_process.children(recursive=True)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)
    _, alive = psutil.wait_procs(workers, timeout=TIMEOUT)
    assert workers and not alive  # the kernel's shutdown took its workers with it


def test_task_output_lands_in_the_cell_that_submitted_it(kernel: Kernel, gate: Path) -> None:
    fifo = gate
    reply, _ = kernel.execute("%load_ext nbray")
    assert reply["content"]["status"] == "ok"
    code = (
        f"import nbray\nfifo = {str(fifo)!r}\n"
        "@nbray.remote\ndef late():\n    with open(fifo) as gate:\n        gate.read()\n"
        "    print('late output')\n"
        "ref = late.remote()"
    )
    submitted = kernel.client.execute(code)
    kernel.until(lambda m: _idle_after(m, submitted))
    reply, later = kernel.execute("open(fifo, 'w').write('go')\nnbray.get(ref)")
    assert reply["content"]["status"] == "ok"
    update = (
        next((m for m in kernel.messages if _writes(m, "late output")), None)
        or kernel.until(lambda m: _writes(m, "late output"))[-1]
    )
    owner = next(
        m
        for m in kernel.messages
        if m["msg_type"] == "comm_open" and m["content"]["comm_id"] == update["content"]["comm_id"]
    )
    assert owner["parent_header"]["msg_id"] == submitted  # the Output of the submitting cell
    assert not [m for m in later if m["msg_type"] == "stream" and "late" in m["content"]["text"]]


def _writes(message: Message, text: str) -> bool:
    if message["msg_type"] != "comm_msg":
        return False
    outputs = message["content"]["data"].get("state", {}).get("outputs", [])
    return any(text in str(output.get("text", "")) for output in outputs)


def test_interrupting_a_blocking_get_cancels_the_cells_tasks(kernel: Kernel) -> None:
    kernel.execute("%load_ext nbray")
    kernel.execute(
        "import nbray, sys, threading, time\n"
        "@nbray.remote\ndef forever():\n    while True:\n        time.sleep(0.01)\n"
        "def say_when_blocked(ref):\n"
        "    def watch():\n"
        "        main = threading.main_thread().ident\n"
        "        while True:\n"
        "            frame = sys._current_frames()[main]\n"
        "            names = []\n"
        "            while frame is not None:\n"
        "                names.append(frame.f_code.co_name)\n"
        "                frame = frame.f_back\n"
        "            if '_wait_ready' in names and ref.state().value == 'running':\n"
        "                print('blocked', flush=True)\n"
        "                return\n"
        "            threading.Event().wait(0.005)\n"
        "    threading.Thread(target=watch, daemon=True).start()\n"
    )
    msg_id = kernel.client.execute("ref = forever.remote()\nsay_when_blocked(ref)\nnbray.get(ref)")
    kernel.until(lambda m: m["msg_type"] == "stream" and "blocked" in m["content"]["text"])
    kernel.manager.interrupt_kernel()  # as Jupyter does: SIGINT to the kernel's process group
    messages = kernel.until(lambda m: _idle_after(m, msg_id))
    errors = [m for m in messages if m["msg_type"] == "error"]
    assert errors and errors[0]["content"]["ename"] == "KeyboardInterrupt"
    _, messages = kernel.execute("ref.state().value, nbray.get(nbray.remote(abs).remote(-1))")
    (result,) = [m for m in messages if m["msg_type"] == "execute_result"]
    assert result["content"]["data"]["text/plain"] == "('cancelled', 1)"  # workers still fine


def test_a_kernel_restart_leaves_no_worker_behind(kernel: Kernel) -> None:
    kernel.execute("%load_ext nbray\nimport nbray\nnbray.get(nbray.remote(abs).remote(-1))")
    old_kernel = psutil.Process(kernel.manager.provisioner.pid)  # type: ignore[union-attr]
    workers = old_kernel.children(recursive=True)
    assert workers
    kernel.manager.restart_kernel(now=True)  # kills the kernel process outright
    _, alive = psutil.wait_procs([old_kernel, *workers], timeout=TIMEOUT)
    assert not alive
    kernel.client.wait_for_ready(timeout=TIMEOUT)
    kernel.execute("%load_ext nbray")  # and the new kernel starts afresh
