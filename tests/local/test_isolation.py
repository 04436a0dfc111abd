"""What a task's own children can reach of nbray: nothing. And what the driver does with bytes on a
worker's channel that are not an nbray message: refuse them, stop that worker, keep running.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import nbray
from nbray.exceptions import WorkerCrashedError
from nbray.local import protocol
from nbray.local.object_store import InStore

# A child of the task: the descriptors it was handed, each with what it points at.
LIST_FDS = (
    "import os\n"
    "for fd in sorted(map(int, os.listdir('/proc/self/fd'))):\n"
    "    try: print(fd, os.readlink(f'/proc/self/fd/{fd}'))\n"
    "    except OSError: pass\n"
)


def _own_descriptors() -> dict[int, str]:
    found = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed meanwhile
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return found


@nbray.remote
def children_see(how: str) -> tuple[dict[int, str], str]:
    """The task's descriptors, and what a child it starts (as `how` says) was handed."""
    mine = _own_descriptors()
    command = [sys.executable, "-c", LIST_FDS]
    if how == "os.system":
        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"nbray-fds-{os.getpid()}"
        os.system(f'{command[0]} -c "$NBRAY_LIST_FDS" > {out}')
        seen = out.read_text()
        out.unlink()
    else:
        seen = subprocess.run(command, close_fds=False, capture_output=True, text=True).stdout
    return mine, seen


@pytest.mark.parametrize("how", ["subprocess(close_fds=False)", "os.system"])
def test_a_task_hands_none_of_nbrays_descriptors_to_a_program_it_starts(
    local_ray: object, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBRAY_LIST_FDS", LIST_FDS)
    nbray.shutdown()  # again, with the variable in the workers' environment
    nbray.init(num_cpus=2)
    mine, seen = nbray.get(children_see.remote(how))
    nbrays = {fd: what for fd, what in mine.items() if fd > 2}
    assert any("memfd:nbray-object-store" in what for what in nbrays.values())
    assert any(what.startswith("socket:") for what in nbrays.values())  # the channel
    handed = {int(line.split()[0]): line.split(maxsplit=1)[1] for line in seen.splitlines()}
    leaked = {fd: what for fd, what in handed.items() if fd > 2 and what in nbrays.values()}
    assert not leaked, f"the child was handed nbray's descriptors: {leaked} (task had {nbrays})"
    assert not any("nbray-object-store" in what for what in handed.values())


def test_the_drivers_descriptors_are_not_inherited_by_what_the_notebook_starts(
    local_ray: object,
) -> None:
    assert nbray.get(children_see.remote("subprocess(close_fds=False)"))  # workers are up
    seen = subprocess.run(
        [sys.executable, "-c", LIST_FDS], close_fds=False, capture_output=True, text=True
    ).stdout
    assert "nbray-object-store" not in seen
    ours = {what for fd, what in _own_descriptors().items() if not os.get_inheritable(fd)}
    inherited = {fd for fd in _own_descriptors() if fd > 2 and os.get_inheritable(fd)}
    handed = {line.split(maxsplit=1)[1] for line in seen.splitlines()}
    assert not (handed & ours - {"/dev/null"}), "a non-inheritable descriptor was handed on"
    assert inherited.isdisjoint({fd for fd, what in _own_descriptors().items() if "nbray" in what})


class _RunsCode:
    """A pickle that would run code if unpickled: what a stranger on the channel would send."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return os.system, (f"touch {self.marker}",)


@nbray.remote
def write_on_own_channel(data: bytes) -> str:
    """Write raw bytes on this worker's channel to the driver (found as a stranger would)."""
    for fd, what in _own_descriptors().items():
        if what.startswith("socket:"):
            with socket.socket(fileno=os.dup(fd)) as channel:
                channel.sendall(data)
    return "written"


def _framed(payload: bytes) -> bytes:
    return struct.pack("<Q", len(payload)) + payload


@pytest.mark.parametrize(
    "kind", ["code", "garbage", "wrong type", "malformed request", "a block it was not lent"]
)
def test_the_driver_refuses_what_is_not_an_nbray_message_and_keeps_running(
    local_ray: object, tmp_path: Path, capfd: pytest.CaptureFixture[str], kind: str
) -> None:
    marker = tmp_path / "ran"
    payload = {
        "code": pickle.dumps(_RunsCode(str(marker))),
        "garbage": b"\x80\x05this is not a pickle",
        "wrong type": pickle.dumps(Path("/")),
        "malformed request": pickle.dumps(protocol.GetObjects(1, ["x"], None)),  # type: ignore[arg-type]
        "a block it was not lent": pickle.dumps(
            (1, 1, (InStore(0, 4096, 10, (), (), ()),))  # a TaskDone as it travels
        ),
    }[kind]
    ref = write_on_own_channel.options(max_retries=0).remote(_framed(payload))
    with pytest.raises(WorkerCrashedError):
        nbray.get(ref, timeout=60)
    assert not marker.exists(), "the driver ran code a stranger wrote on a worker's channel"
    assert "is not an nbray message" in capfd.readouterr().err
    assert nbray.get(nbray.put(1)) == 1
    assert nbray.get(children_see.remote("subprocess(close_fds=False)"))[0]  # tasks still run
