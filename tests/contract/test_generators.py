"""Generator functions as Ray runs them: streaming by default, one value for `num_returns=1`, the
values yielded before an error kept with `num_returns=N`, and the older `"dynamic"` API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import nbray
from nbray.object_ref import RefState


@nbray.remote
def squares(n: int) -> Any:
    for i in range(n):
        yield i * i


@nbray.remote(num_returns=1)
def single() -> Any:
    yield "the only value"


@nbray.remote(num_returns=3)
def breaks_after_two() -> Any:
    yield "first"
    yield nbray.put("second, a ref")
    raise ValueError("third failed")


@nbray.remote(num_returns="dynamic")
def dynamic(n: int) -> Any:
    for i in range(n):
        yield f"item {i}"


def test_a_generator_function_streams_by_default(ray: Any) -> None:
    stream = squares.remote(4)
    assert isinstance(stream, nbray.ObjectRefGenerator)
    assert ray.get(next(stream)) == 0
    assert [ray.get(ref) for ref in stream] == [1, 4, 9]

    async def consume() -> list[int]:
        return [await ref async for ref in squares.remote(3)]

    assert asyncio.run(consume()) == [0, 1, 4]


def test_num_returns_chosen_for_a_generator_function_still_applies(ray: Any) -> None:
    a, b = squares.options(num_returns=2).remote(2)
    assert ray.get([a, b]) == [0, 1]
    ref = single.remote()
    assert isinstance(ref, nbray.ObjectRef)
    assert ray.get(ref) == "the only value"
    with pytest.raises(ValueError, match="num_returns=1 but returned 2"):
        ray.get(squares.options(num_returns=1).remote(2))


def test_values_yielded_before_an_error_are_kept(ray: Any) -> None:
    first, second, third = breaks_after_two.remote()
    assert ray.get(first) == "first"
    assert ray.get(ray.get(second)) == "second, a ref"  # what it holds lives too
    with pytest.raises(ValueError, match="third failed"):
        ray.get(third)
    assert first.state() is RefState.FINISHED and third.state() is RefState.FAILED


def test_dynamic_num_returns_gives_one_ref_to_a_generator_of_refs(ray: Any) -> None:
    ref = dynamic.remote(3)
    assert isinstance(ref, nbray.ObjectRef)
    generator = ray.get(ref)
    assert isinstance(generator, nbray.DynamicObjectRefGenerator)
    assert len(generator) == 3
    assert [ray.get(item) for item in generator] == ["item 0", "item 1", "item 2"]
    assert ray.get(list(ray.get(dynamic.remote(0)))) == []


def test_num_returns_is_bounded() -> None:
    with pytest.raises(ValueError, match="more than nbray allows"):
        squares.options(num_returns=2**63)


@nbray.remote
class Source:
    def __init__(self, start: int) -> None:
        self.start = start

    def count(self, n: int) -> Any:
        yield from range(self.start, self.start + n)

    @nbray.method(num_returns=2)
    def pair(self) -> Any:
        yield self.start
        yield -self.start


def test_an_actors_generator_method_streams_by_default(ray: Any) -> None:
    source = Source.remote(10)
    stream = source.count.remote(3)
    assert isinstance(stream, nbray.ObjectRefGenerator)
    assert [ray.get(ref) for ref in stream] == [10, 11, 12]
    assert ray.get(source.pair.remote()) == [10, -10]
    renamed = source.count.options(name="renamed count").remote(2)  # still a stream
    assert [ray.get(ref) for ref in renamed] == [10, 11]
    one = source.count.options(num_returns=1).remote(1)
    assert ray.get(one) == 10
