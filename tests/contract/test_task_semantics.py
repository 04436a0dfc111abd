"""Task semantics beyond the basics (issue 4), on every backend: retries of exceptions, async
access, a ref's state without fetching it, and get(return_exceptions=True)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

import nbray
from nbray import api
from nbray.exceptions import RayTaskError, TaskCancelledError
from nbray.object_ref import RefState


@nbray.remote
def fail(message: str) -> None:
    raise ValueError(message)


@nbray.remote
def double(x: int) -> int:
    return 2 * x


def flaky_task(marker: str, error: type[BaseException]) -> Any:
    @nbray.remote
    def flaky() -> str:
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise error("first call fails")
        return "second call works"

    return flaky


@pytest.mark.parametrize(
    ("retry_exceptions", "retried"),
    [(True, True), ([ValueError], True), ([KeyError], False), (False, False)],
)
def test_retry_exceptions(ray: Any, tmp_path: Path, retry_exceptions: Any, retried: bool) -> None:
    flaky = flaky_task(str(tmp_path / "marker"), ValueError)
    ref = flaky.options(retry_exceptions=retry_exceptions, max_retries=1).remote()
    if retried:
        assert ray.get(ref) == "second call works"
    else:
        with pytest.raises(ValueError, match="first call fails"):
            ray.get(ref)


class Indescribable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no words")


class Unpicklable(Exception):
    def __reduce__(self) -> Any:
        raise SystemExit("not like this")


@nbray.remote
def raise_once(log: str, error: type[Exception]) -> None:
    with open(log, "a") as file:  # one line per run: a retry would add one
        file.write("ran\n")
    raise error()


@pytest.mark.parametrize("error", [Indescribable, Unpicklable])
def test_an_exception_that_breaks_when_described_is_the_tasks_error_not_a_crash(
    ray: Any, tmp_path: Path, error: type[Exception]
) -> None:
    log = tmp_path / "runs"
    with pytest.raises(RayTaskError, match=error.__name__):
        ray.get(raise_once.remote(str(log), error))
    assert log.read_text() == "ran\n"  # once: an application error is not retried
    assert ray.get(double.remote(2)) == 4


def test_retry_exceptions_is_checked(ray: Any) -> None:
    with pytest.raises(TypeError, match="retry_exceptions"):
        double.options(retry_exceptions=["ValueError"])


def test_future_and_await(ray: Any) -> None:
    assert double.remote(21).future().result(timeout=30) == 42
    with pytest.raises(ValueError, match="in a future"):
        fail.remote("in a future").future().result(timeout=30)

    async def main() -> list[int]:
        one = await double.remote(1)
        rest = await asyncio.gather(*[double.remote(i) for i in range(3)])
        return [one, *rest]

    assert asyncio.run(main()) == [2, 0, 2, 4]


def test_blocking_get_inside_async_code_warns_once(
    ray: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "_warned_about_async", False)

    async def main() -> None:
        ray.get(double.remote(1))
        ray.get(double.remote(2))

    with pytest.warns(RuntimeWarning, match="await") as warned:
        asyncio.run(main())
    assert len([w for w in warned if "await" in str(w.message)]) == 1


def test_state_and_exception_without_fetching(ray: Any) -> None:
    ok, bad = double.remote(1), fail.remote("boom")
    ray.wait([ok, bad], num_returns=2)
    assert ok.state() is RefState.FINISHED and ok.exception() is None
    assert bad.state() is RefState.FAILED
    error = bad.exception()
    assert isinstance(error, ValueError) and isinstance(error, RayTaskError)


def test_get_with_return_exceptions(ray: Any) -> None:
    values = ray.get([double.remote(1), fail.remote("x"), double.remote(2)], return_exceptions=True)
    assert values[0] == 2 and values[2] == 4 and isinstance(values[1], ValueError)

    @nbray.remote
    def inside() -> list[str]:
        got = nbray.get([double.remote(1), fail.remote("y")], return_exceptions=True)
        return [type(v).__name__ for v in got]

    assert ray.get(inside.remote()) == ["int", "RayTaskError(ValueError)"]


def test_a_cancelled_ref_says_so(ray: Any) -> None:
    @nbray.remote
    def parent() -> Any:
        return nbray.put(1)

    ref = parent.remote()
    ray.wait([ref])
    nbray.cancel(ref)  # finished: nothing happens
    assert ref.state() is RefState.FINISHED


def test_cancelled_state(local_ray: Any, tmp_path: Path) -> None:
    fifo = str(tmp_path / "gate")
    os.mkfifo(fifo)

    @nbray.remote
    def block() -> None:
        with open(fifo) as gate:
            gate.read()

    blocked = [block.remote() for _ in range(3)]  # 2 CPUs: the third waits
    while sum(r.state() is RefState.RUNNING for r in blocked) < 2:
        pass  # each state() is a round trip through the runtime: no sleep needed
    queued = next(r for r in blocked if r.state() is RefState.PENDING)
    nbray.cancel(queued)
    with pytest.raises(TaskCancelledError):
        nbray.get(queued)
    assert queued.state() is RefState.CANCELLED
    assert isinstance(queued.exception(), TaskCancelledError)
    with open(fifo, "w") as gate:
        gate.write("go")


@nbray.remote(num_returns="streaming")
def count_to(n: int) -> Any:
    for i in range(n):
        yield i * 10


@nbray.remote(num_returns="streaming")
def fails_after(n: int) -> Any:
    yield from range(n)
    raise ValueError("stream broke")


def test_streaming_generators(ray: Any) -> None:
    stream = count_to.remote(4)
    assert isinstance(stream, nbray.ObjectRefGenerator)
    assert [ray.get(ref) for ref in stream] == [0, 10, 20, 30]
    assert ray.get(stream.completed()) is None
    broken = list(fails_after.remote(2))
    assert ray.get(broken[:2]) == [0, 1]
    with pytest.raises(ValueError, match="stream broke"):
        ray.get(broken[2])

    async def consume() -> list[int]:
        return [await ref async for ref in count_to.remote(3)]

    assert asyncio.run(consume()) == [0, 10, 20]


def test_streamed_items_live_while_referenced(ray: Any) -> None:
    freed: list[Any] = []
    unsubscribe = nbray.events.subscribe(
        lambda e: freed.append(e.object_id) if isinstance(e, nbray.events.ObjectFreed) else None
    )
    stream = count_to.remote(3)
    kept = next(stream)
    ray.wait([stream.completed()])
    del stream  # the items nobody took go with it; the one taken stays
    import gc

    gc.collect()
    nbray.events.snapshot()
    unsubscribe()
    assert ray.get(kept) == 0 and kept.id not in freed
    assert len([f for f in freed if f != kept.id]) >= 2


def test_generators_with_a_fixed_num_returns_check_the_count(ray: Any) -> None:
    @nbray.remote(num_returns=3)
    def two() -> Any:
        yield from range(2)

    with pytest.raises(ValueError, match="num_returns=3 but returned 2"):
        ray.get(two.remote()[0])


def test_tasks_and_actors_see_their_gpus(ray: Any) -> None:
    inline = api.current_backend().kind == "inline"
    nbray.shutdown()
    nbray.init(num_cpus=2, num_gpus=2, local_mode=inline)

    @nbray.remote(num_gpus=1)
    def devices() -> tuple[list[int], str | None]:
        return nbray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")

    @nbray.remote(num_gpus=0.5)
    def half() -> list[int]:
        return nbray.get_gpu_ids()

    @nbray.remote(num_gpus=1)
    class OnAGpu:
        def devices(self) -> list[int]:
            return nbray.get_gpu_ids()

    ids, visible = ray.get(devices.remote())
    assert len(ids) == 1 and ids[0] in (0, 1)
    if not inline:  # inline tasks run in the driver: its environment is left alone
        assert visible == str(ids[0])
    assert len(ray.get(half.remote())) == 1
    actor = OnAGpu.remote()
    assert ray.get(actor.devices.remote()) == ray.get(actor.devices.remote())
    assert len(ray.get(actor.devices.remote())) == 1
    assert nbray.get_gpu_ids() == []
    with pytest.raises(ValueError, match="whole number"):
        devices.options(num_gpus=1.5)
