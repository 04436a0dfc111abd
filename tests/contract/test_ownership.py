"""Ownership, as in Ray: an object lives while a ref to it is reachable anywhere, however the ref
travelled (returned by a task, top level or nested; kept by an actor and returned later; passed
from a task to an actor; put inside another put), and is freed once the last holder drops it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import nbray
from nbray.core.ids import ObjectId


class Frees:
    """The objects the runtime has freed, as its events tell."""

    def __init__(self) -> None:
        self._freed: set[ObjectId] = set()
        self._changed = threading.Condition()
        self.unsubscribe = nbray.events.subscribe(self._on_event)

    def _on_event(self, event: Any) -> None:
        if isinstance(event, nbray.events.ObjectFreed):
            with self._changed:
                self._freed.add(event.object_id)
                self._changed.notify_all()

    def __contains__(self, ref: nbray.ObjectRef[Any]) -> bool:
        with self._changed:
            return ref.id in self._freed

    def wait_freed(self, *ids: ObjectId) -> bool:
        """Whether all of `ids` are freed, waiting for the holders' messages (bounded: a
        failure, not a sleep)."""
        gc.collect()
        nbray.events.snapshot()  # a round trip: the driver's own drops have been handled
        with self._changed:
            return self._changed.wait_for(lambda: set(ids) <= self._freed, timeout=30)


@pytest.fixture
def frees(ray: Any) -> Iterator[Frees]:
    watcher = Frees()
    yield watcher
    watcher.unsubscribe()


@nbray.remote
def leaf(value: Any) -> Any:
    return value


@nbray.remote
def put_one() -> nbray.ObjectRef[str]:
    return nbray.put("inner value")


@nbray.remote
def put_several() -> dict[str, Any]:
    return {"refs": [nbray.put(i) for i in range(3)], "sub": leaf.remote("sub-task")}


@nbray.remote
def own_subtask() -> nbray.ObjectRef[str]:
    return leaf.remote("made by my sub-task")


@nbray.remote
def put_in_put() -> nbray.ObjectRef[list[nbray.ObjectRef[str]]]:
    return nbray.put([nbray.put("innermost")])


@nbray.remote
class Keeper:
    def __init__(self) -> None:
        self.kept: list[Any] = []

    def keep(self, refs: list[Any]) -> None:
        self.kept.extend(refs)  # a nested ref: the actor holds the ref itself

    def make_and_keep(self) -> None:
        self.kept.append(nbray.put("made by the actor"))

    def give(self) -> list[Any]:
        return self.kept

    def forget(self) -> None:
        self.kept.clear()


@nbray.remote
def hand_to(keeper: Any) -> None:
    nbray.get(keeper.keep.remote([nbray.put("from a task")]))


def test_a_ref_a_task_puts_and_returns_lives(ray: Any, frees: Frees) -> None:
    inner = ray.get(put_one.remote())
    assert ray.get(inner) == "inner value"
    inner_id = inner.id
    del inner
    assert frees.wait_freed(inner_id)


def test_refs_nested_in_a_returned_value_live_until_the_last_holder_drops_them(
    ray: Any, frees: Frees
) -> None:
    outer = put_several.remote()
    value = ray.get(outer)
    refs = [*value["refs"], value["sub"]]
    outer_id = outer.id
    del value, outer
    assert frees.wait_freed(outer_id)  # the driver holds the inner refs itself now
    assert ray.get(refs) == [0, 1, 2, "sub-task"]
    ids = [ref.id for ref in refs]
    del refs
    assert frees.wait_freed(*ids)


def test_a_task_returning_a_ref_to_its_own_subtasks_result(ray: Any, frees: Frees) -> None:
    inner = ray.get(own_subtask.remote())
    assert ray.get(inner) == "made by my sub-task"
    inner_id = inner.id
    del inner
    assert frees.wait_freed(inner_id)


def test_a_put_inside_a_put_keeps_what_it_holds(ray: Any, frees: Frees) -> None:
    (innermost,) = ray.get(ray.get(put_in_put.remote()))
    assert ray.get(innermost) == "innermost"
    driver_inner = ray.put("driver's")
    driver_outer = ray.put([driver_inner])
    inner_id = driver_inner.id
    del driver_inner
    (again,) = ray.get(driver_outer)
    assert ray.get(again) == "driver's"
    innermost_id = innermost.id
    del again, driver_outer, innermost
    assert frees.wait_freed(inner_id, innermost_id)


def test_an_actor_keeps_refs_and_returns_them_later(ray: Any, frees: Frees) -> None:
    keeper = Keeper.remote()
    ray.get(keeper.make_and_keep.remote())
    from_driver = ray.put("from the driver")
    ray.get(keeper.keep.remote([from_driver]))
    driver_id = from_driver.id
    del from_driver
    gc.collect()
    kept = ray.get(keeper.give.remote())
    assert ray.get(kept) == ["made by the actor", "from the driver"]
    ids = [ref.id for ref in kept]
    del kept
    assert driver_id in ids
    ray.get(keeper.forget.remote())  # the last holder: freed now
    assert frees.wait_freed(*ids)


def test_a_ref_passed_from_a_task_to_an_actor_lives_in_the_actor(ray: Any, frees: Frees) -> None:
    keeper = Keeper.remote()
    ray.get(hand_to.remote(keeper))
    (kept,) = ray.get(keeper.give.remote())
    assert ray.get(kept) == "from a task"
    kept_id = kept.id
    del kept
    ray.get(keeper.forget.remote())
    assert frees.wait_freed(kept_id)
