"""The shared-memory object store: zero-copy, reference counting, spilling, nothing leaked."""

from __future__ import annotations

import contextlib
import gc
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

import nbray
from nbray import api
from nbray.exceptions import ObjectStoreFullError
from nbray.local import object_store
from nbray.local.object_store import INLINE_LIMIT, InStore, Spilled
from nbray.options import RuntimeConfig

MiB = 2**20


def store() -> Any:
    return api.current_backend().store


def entry(ref: Any) -> Any:
    return api.current_backend().table.lookup(ref.id)


def settle() -> None:
    """Every ref drop so far has been handled by the runtime (a round trip through its loop)."""
    gc.collect()
    nbray.events.snapshot()


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB store spilling into a private directory."""
    spill = tmp_path / "spill"
    config = f'{{"type": "filesystem", "params": {{"directory_path": "{spill}"}}}}'
    nbray.init(
        num_cpus=2,
        object_store_memory=64 * MiB,
        _system_config={"object_spilling_config": config},
    )
    yield spill
    nbray.shutdown()


@nbray.remote
def describe_argument(array: np.ndarray) -> tuple[bool, bool, float]:
    return bool(array.flags.writeable), bool(array.flags.owndata), float(array[-1])


@nbray.remote
def make_array(megabytes: int, value: float) -> np.ndarray:
    return np.full(megabytes * MiB // 8, value)


def test_small_values_travel_inline_and_large_ones_live_in_the_arena(local_ray: Any) -> None:
    small, large = nbray.put(np.zeros(10)), nbray.put(np.zeros(INLINE_LIMIT))
    assert not isinstance(entry(small), InStore)
    assert isinstance(entry(large), InStore)


def test_get_is_zero_copy_and_read_only_in_the_driver(local_ray: Any) -> None:
    ref = nbray.put(np.arange(2 * MiB, dtype=np.float64))
    first, second = nbray.get(ref), nbray.get(ref)
    assert np.shares_memory(first, second)  # both view the same stored bytes
    with pytest.raises(ValueError, match="read-only"):
        first[0] = 1


def test_tasks_read_top_level_arguments_zero_copy(local_ray: Any) -> None:
    ref = nbray.put(np.full(MiB, 7.0))
    writeable, owns_data, last = nbray.get(describe_argument.remote(ref))
    assert (writeable, owns_data, last) == (False, False, 7.0)


def test_one_put_passed_to_many_tasks_copies_nothing(local_ray: Any) -> None:
    ref = nbray.put(np.ones(4 * MiB))
    used = store().usage()[0]
    assert nbray.get([describe_argument.remote(ref) for _ in range(10)])[0][2] == 1.0
    assert store().usage()[0] == used


def test_large_task_results_land_in_the_arena(local_ray: Any) -> None:
    ref = make_array.remote(4, 3.0)
    value = nbray.get(ref)
    assert isinstance(entry(ref), InStore)
    assert value.shape == (MiB // 2,) and value[0] == 3.0 and not value.flags.writeable


def test_freed_memory_is_reused_and_views_keep_their_object(local_ray: Any) -> None:
    ref = nbray.put(np.full(MiB, 1.0))
    offset = entry(ref).offset
    view = nbray.get(ref)
    del ref
    settle()
    assert store().usage()[0] > 0  # the view still holds the object
    assert view[0] == 1.0
    del view
    settle()
    assert store().usage()[0] == 0
    again = nbray.put(np.full(MiB, 2.0))
    assert entry(again).offset == offset  # the same (already touched) memory


def test_nested_refs_keep_inner_objects_until_the_outer_one_goes(local_ray: Any) -> None:
    freed: list[Any] = []
    nbray.events.subscribe(
        lambda e: freed.append(e.object_id) if type(e).__name__ == "ObjectFreed" else None
    )
    inner = nbray.put(np.zeros(MiB))
    inner_id = inner.id
    outer = nbray.put([inner])
    del inner
    settle()
    assert inner_id not in freed
    del outer
    settle()
    assert inner_id in freed


def test_spill_and_restore_keep_the_data(small_store: Path) -> None:
    refs = [nbray.put(np.full(3 * MiB, float(i))) for i in range(30)]  # 720 MiB in a 64 MiB store
    spilled = [r for r in refs if isinstance(entry(r), Spilled)]
    assert spilled and store().spilled_bytes > 0
    (fd,) = spill_files(os.getpid())
    assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600  # private, and nameless:
    assert list(small_store.iterdir()) == []
    for i, ref in enumerate(refs):
        value = nbray.get(ref)
        assert value[0] == i and value[-1] == i
        del value
    # A task can take a spilled object as its argument too.
    assert nbray.get(describe_argument.remote(refs[0]))[2] == 0.0
    on_disk = os.fstat(fd).st_blocks * 512
    assert on_disk >= store().spilled_bytes > 0
    del refs, spilled
    settle()
    assert store().spilled_bytes == 0
    assert os.fstat(fd).st_blocks * 512 < on_disk / 10  # freed ranges went back to the disk


def spill_files(pid: int) -> list[int]:
    """The descriptors of `pid`'s spill files."""
    found = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if "nbray-spill-" in os.readlink(f"/proc/{pid}/fd/{name}"):
                found.append(int(name))
    return found


def test_a_full_store_says_what_fills_it_and_what_to_do(small_store: Path) -> None:
    with pytest.raises(ObjectStoreFullError, match="larger than the whole store"):
        nbray.put(np.zeros(80 * MiB // 8))
    with pytest.raises(ObjectStoreFullError, match="made in a task: it is larger than the whole"):
        nbray.get(make_array.options(max_retries=0).remote(80, 1.0))
    views = [nbray.get(nbray.put(np.zeros(MiB // 8))) for _ in range(60)]  # viewed: unspillable
    with pytest.raises(ObjectStoreFullError, match=r"in use.*object_store_memory"):
        nbray.put(np.zeros(8 * MiB // 8))
    with pytest.raises(ObjectStoreFullError, match="made in a task: what it holds is in use"):
        nbray.get(make_array.options(max_retries=0).remote(8, 1.0))
    del views


def test_a_worker_that_dies_holding_a_block_gives_it_back(local_ray: Any) -> None:
    @nbray.remote(max_retries=0)
    def take_a_block_and_die() -> None:
        from nbray import _current
        from nbray.local import protocol

        client = _current.backend
        client._request(protocol.Allocate(999, 8 * MiB))
        os._exit(1)

    with pytest.raises(nbray.exceptions.WorkerCrashedError):
        nbray.get(take_a_block_and_die.remote())
    settle()
    assert store().usage()[0] == 0


def test_custom_serializers(local_ray: Any) -> None:
    class Opaque:
        def __init__(self, secret: int) -> None:
            self.secret = secret

        def __reduce__(self) -> Any:
            raise TypeError("not picklable")

    nbray.util.register_serializer(
        Opaque, serializer=lambda o: o.secret, deserializer=lambda s: Opaque(s + 1)
    )
    try:
        assert nbray.get(nbray.put(Opaque(41))).secret == 42
    finally:
        nbray.util.deregister_serializer(Opaque)
    with pytest.raises(nbray.exceptions.SerializationError, match="register_serializer"):
        nbray.put(Opaque(1))


def test_the_default_store_takes_30_percent_of_the_machines_memory() -> None:
    config = RuntimeConfig.resolve(1, None, None, local_mode=False)
    assert config.object_store_memory == int(psutil.virtual_memory().total * 0.3)


def test_shutdown_unmaps_the_store() -> None:
    nbray.init(num_cpus=1, object_store_memory=16 * MiB)
    value = nbray.get(nbray.put(np.ones(MiB)))
    assert _maps_a_store(psutil.Process())
    del value
    nbray.shutdown()
    assert not _maps_a_store(psutil.Process())


def test_nothing_is_left_after_the_driver_is_killed(tmp_path: Path) -> None:
    config = f'{{"type": "filesystem", "params": {{"directory_path": "{tmp_path}"}}}}'
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
            import os, sys, numpy as np, nbray
            nbray.init(num_cpus=2, object_store_memory=32 * 2**20,
                       _system_config={{"object_spilling_config": {config!r}}})
            @nbray.remote
            def pid(x):
                return os.getpid()
            refs = [nbray.put(np.zeros(2**20)) for _ in range(40)]  # spills to disk
            print(*set(nbray.get([pid.remote(r) for r in refs[:4]])), flush=True)
            sys.stdin.read()
            """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert driver.stdout is not None
    workers = [psutil.Process(int(p)) for p in driver.stdout.readline().split()]
    assert spill_files(driver.pid) and list(tmp_path.iterdir()) == []  # it spills, namelessly
    driver.kill()
    driver.wait()
    psutil.wait_procs(workers, timeout=5)
    mapped = [p for p in psutil.process_iter() if _maps_a_store(p) and p.pid != os.getpid()]
    assert mapped == []  # the arena went with its last process: nothing in /dev/shm either
    assert not [n for n in os.listdir("/dev/shm") if "nbray" in n]
    assert list(tmp_path.iterdir()) == []  # and its spill file with it: nothing to sweep


def _maps_a_store(process: psutil.Process) -> bool:
    try:
        return any("nbray-object-store" in m.path for m in process.memory_maps(grouped=False))
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def _resident(fd: int) -> int:
    return os.fstat(fd).st_blocks * 512


def test_memory_freed_above_the_floor_goes_back_to_the_system_when_the_store_is_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(object_store, "TRIM_AFTER", 0.0)  # idle at once
    nbray.init(num_cpus=1, object_store_memory=512 * MiB)
    backend = api.current_backend()
    arrays = [nbray.put(np.ones(64 * MiB // 8)) for _ in range(4)]  # 256 MiB written
    touched = _resident(backend.store.fd)
    assert touched >= 256 * MiB
    del arrays
    settle()  # freed, and a step of the loop since: it gave the pages back
    backend._loop.call(lambda: None)
    assert _resident(backend.store.fd) <= object_store.TRIM_ABOVE < touched
    again = nbray.put(np.full(200 * MiB // 8, 2.0))  # the memory is still the store's to use
    assert nbray.get(again)[-1] == 2.0
