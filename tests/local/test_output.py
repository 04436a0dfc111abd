"""What tasks write reaches the driver as TaskOutput events: tagged, in order, all of it."""

from __future__ import annotations

from typing import Any

import pytest

import nbray
from nbray.events import TaskFailed, TaskFinished, TaskOutput


@nbray.remote
def chatty(lines: int) -> str:
    import ctypes
    import os
    import sys

    for i in range(lines):
        print(f"python line {i}")
    sys.stdout.flush()
    os.write(1, b"raw fd line\n")  # as C code writes
    ctypes.CDLL(None).write(2, b"libc stderr line\n", 17)
    return "done"


@nbray.remote
def complains() -> None:
    print("before the error")
    raise ValueError("and then it broke")


@pytest.fixture(autouse=True)
def default_output_handler() -> Any:
    yield
    nbray.events.set_output_handler(None)


def collect(ray: Any) -> list[Any]:
    seen: list[Any] = []
    ray.events.subscribe(seen.append)
    ray.events.set_output_handler(lambda event: None)  # quiet: this test reads the events
    return seen


def text_of(seen: list[Any], task_id: Any, stream: str) -> str:
    return "".join(
        e.text
        for e in seen
        if isinstance(e, TaskOutput) and e.task_id == task_id and e.stream == stream
    )


def test_python_and_c_output_arrive_tagged_before_the_task_ends(local_ray: Any) -> None:
    seen = collect(nbray)
    ref = chatty.remote(3)
    assert nbray.get(ref) == "done"
    nbray.events.snapshot()
    finished = next(
        i for i, e in enumerate(seen) if isinstance(e, TaskFinished) and e.task_id == ref.task_id()
    )
    outputs = [
        i for i, e in enumerate(seen) if isinstance(e, TaskOutput) and e.task_id == ref.task_id()
    ]
    assert outputs and max(outputs) < finished  # all of it before the result
    stdout = text_of(seen, ref.task_id(), "stdout")
    assert stdout == "python line 0\npython line 1\npython line 2\nraw fd line\n"
    assert text_of(seen, ref.task_id(), "stderr") == "libc stderr line\n"


def test_lots_of_output_is_complete_and_in_order(local_ray: Any) -> None:
    seen = collect(nbray)
    ref = chatty.remote(20_000)  # ~300 KB: many pipe buffers
    nbray.get(ref)
    lines = text_of(seen, ref.task_id(), "stdout").splitlines()
    assert lines[:-1] == [f"python line {i}" for i in range(20_000)]


def test_a_failing_tasks_output_comes_first(local_ray: Any) -> None:
    seen = collect(nbray)
    ref = complains.remote()
    with pytest.raises(ValueError):
        nbray.get(ref)
    nbray.events.snapshot()
    failed = next(i for i, e in enumerate(seen) if isinstance(e, TaskFailed))
    assert text_of(seen[:failed], ref.task_id(), "stdout") == "before the error\n"


def test_by_default_task_output_goes_to_the_drivers_streams(
    local_ray: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    nbray.get(chatty.remote(1))
    nbray.events.snapshot()
    out, err = capfd.readouterr()
    assert "python line 0\nraw fd line\n" in out and "libc stderr line" in err


@nbray.remote
def prints(lines: int) -> None:
    for i in range(lines):
        print(f"line {i}")  # print writes the text and the newline separately


def test_each_line_leaves_whole_even_when_python_is_unbuffered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PYTHONUNBUFFERED (or -u) would send a line's text and its newline as two writes: then
    the lines of two workers printing at once interleave mid-line in the notebook."""
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # the workers inherit it
    nbray.init(num_cpus=1)
    try:
        seen = collect(nbray)
        ref = prints.remote(200)
        nbray.get(ref)
        nbray.events.snapshot()
        chunks = [e.text for e in seen if isinstance(e, TaskOutput) and e.task_id == ref.task_id()]
        assert "".join(chunks) == "".join(f"line {i}\n" for i in range(200))
        assert all(chunk.endswith("\n") for chunk in chunks), chunks[:4]
    finally:
        nbray.shutdown()
