"""Actors, on every backend: state, order, options, errors, handles, names, kill."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import nbray
from nbray.exceptions import ActorDiedError, RayTaskError, TaskCancelledError


@nbray.remote
class Counter:
    def __init__(self, start: int = 0) -> None:
        self.value = start

    def add(self, amount: int = 1) -> int:
        self.value += amount
        return self.value

    def describe(self, argument: Any) -> str:
        return type(argument).__name__

    @nbray.method(num_returns=2)
    def both(self) -> tuple[int, int]:
        return self.value, -self.value

    async def later(self, amount: int) -> int:
        await asyncio.sleep(0)
        return self.add(amount)

    def fail(self) -> None:
        raise ValueError("method failed")


@nbray.remote
class BrokenConstructor:
    def __init__(self) -> None:
        raise RuntimeError("cannot construct")

    def ping(self) -> str:
        return "pong"


@nbray.remote
def add_through(counter: Any, amount: int) -> int:
    return nbray.get(counter.add.remote(amount))


def test_calls_see_the_actors_state_in_submission_order(ray: Any) -> None:
    counter = Counter.remote(10)
    assert ray.get([counter.add.remote() for _ in range(5)]) == [11, 12, 13, 14, 15]


def test_method_options_and_multiple_returns(ray: Any) -> None:
    counter = Counter.remote(3)
    first, second = counter.both.remote()
    assert ray.get([first, second]) == [3, -3]
    single = counter.both.options(num_returns=1).remote()
    assert ray.get(single) == (3, -3)


def test_arguments_top_level_refs_resolved_nested_not(ray: Any) -> None:
    counter = Counter.remote(ray.put(5))  # resolved for the constructor too
    assert ray.get(counter.add.remote(ray.put(1))) == 6
    assert ray.get(counter.describe.remote([ray.put(1)])) == "list"
    assert ray.get(counter.describe.remote(ray.put(1))) == "int"


def test_async_methods(ray: Any) -> None:
    counter = Counter.remote()
    assert ray.get(counter.later.remote(2)) == 2


def test_a_method_error_reaches_get_and_the_actor_lives_on(ray: Any) -> None:
    counter = Counter.remote()
    with pytest.raises(ValueError, match="method failed") as info:
        ray.get(counter.fail.remote())
    assert isinstance(info.value, RayTaskError)
    assert ray.get(counter.add.remote()) == 1


def test_a_failing_constructor_makes_calls_raise_actor_died_with_the_cause(ray: Any) -> None:
    broken = BrokenConstructor.remote()
    with pytest.raises(ActorDiedError, match="constructor raised RuntimeError: cannot construct"):
        ray.get(broken.ping.remote())


def test_handles_travel_to_tasks_and_other_actors(ray: Any) -> None:
    counter = Counter.remote()
    assert ray.get(add_through.remote(counter, 5)) == 5

    @nbray.remote
    class Forwarder:
        def __init__(self, target: Any) -> None:
            self.target = target

        def forward(self, amount: int) -> int:
            return nbray.get(self.target.add.remote(amount))

    forwarder = Forwarder.remote(counter)
    assert ray.get(forwarder.forward.remote(2)) == 7
    assert ray.get(counter.add.remote(0)) == 7


def test_named_actors(ray: Any) -> None:
    tally = Counter.options(name="tally").remote(100)
    assert ray.get(nbray.get_actor("tally").add.remote()) == 101
    assert nbray.get_actor("tally") == tally
    with pytest.raises(ValueError, match="already exists"):
        Counter.options(name="tally").remote()
    with pytest.raises(ValueError, match="No actor named 'nobody'"):
        nbray.get_actor("nobody")


def test_kill(ray: Any) -> None:
    counter = Counter.remote()
    ray.get(counter.add.remote())
    nbray.kill(counter)
    with pytest.raises(ActorDiedError, match=r"killed with nbray\.kill"):
        ray.get(counter.add.remote())


@nbray.remote
class Gatekeeper:
    def wait_at(self, fifo: str) -> str:
        with open(fifo) as gate:  # blocks until the test opens the FIFO for writing
            return gate.read()

    def ping(self) -> str:
        return "pong"


def test_a_forced_cancel_of_an_actor_call_is_refused_and_spares_the_actor(
    local_ray: Any, tmp_path: Path
) -> None:
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    keeper = Gatekeeper.remote()
    call = keeper.wait_at.remote(str(fifo))
    with pytest.raises(ValueError, match="force=True is not supported for actor tasks"):
        nbray.cancel(call, force=True)
    nbray.api.current_backend().cancel_task(call.task_id(), True, False)  # the notebook's way
    with pytest.raises(TaskCancelledError):
        nbray.get(call, timeout=60)
    assert nbray.get(keeper.ping.remote(), timeout=60) == "pong"  # the actor was not killed


def test_misuse_is_refused_clearly(ray: Any) -> None:
    with pytest.raises(TypeError, match=r"use 'Counter.remote\(\)'"):
        Counter()
    counter = Counter.remote()
    with pytest.raises(AttributeError, match="has no method 'nope'"):
        counter.nope.remote()
    with pytest.raises(TypeError, match=r"use 'add.remote\(\)'"):
        counter.add()
    with pytest.raises(TypeError, match="Did you mean 'max_restarts'"):
        Counter.options(max_restart=1)
    with pytest.raises(TypeError, match="actor handle"):
        nbray.kill("counter")  # type: ignore[arg-type]


def test_an_actor_whose_creation_cannot_run_fails_its_calls(ray: Any) -> None:
    needs_gpu = Counter.options(num_gpus=1).remote()  # the runtime has no GPU
    with pytest.raises(ActorDiedError, match="GPU"):
        ray.get(needs_gpu.add.remote())
    failed_argument = BrokenConstructor.remote().ping.remote()
    doomed = Counter.remote(failed_argument)  # its constructor's argument failed
    with pytest.raises(ActorDiedError, match="cannot construct"):
        ray.get(doomed.add.remote())


@nbray.remote(max_restarts=3)
class Quitter:
    def __init__(self) -> None:
        self.calls = 0

    def work(self) -> int:
        self.calls += 1
        return self.calls

    def quit(self, how: str) -> None:
        if how == "sys.exit":
            sys.exit(0)
        nbray.actor.exit_actor()


@pytest.mark.parametrize("how", ["sys.exit", "exit_actor", "__ray_terminate__"])
def test_an_actor_that_ends_itself_is_dead_and_not_restarted(ray: Any, how: str) -> None:
    quitter = Quitter.remote()
    assert ray.get(quitter.__ray_ready__.remote()) is True
    assert ray.get(quitter.work.remote()) == 1
    if how == "__ray_terminate__":
        ended = quitter.__ray_terminate__.remote()
    else:
        ended = quitter.quit.remote(how)
    with pytest.raises(ActorDiedError, match="ended itself"):
        ray.get(ended)
    with pytest.raises(ActorDiedError, match="ended itself"):  # max_restarts does not apply
        ray.get(quitter.work.remote())


def test_exit_actor_outside_an_actor_is_refused(ray: Any) -> None:
    with pytest.raises(TypeError, match="inside an actor's method"):
        nbray.actor.exit_actor()
