"""A bounded fuzz of the public API: wrong types, huge, negative and NaN numbers, None, nested
structures, refs of a runtime that is gone. Every call gives a correct result or a clear error
(TypeError, ValueError or one of nbray's), never another exception and never a hang; and a normal
task still runs after each."""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbray
from nbray.exceptions import GetTimeoutError, RayError

CLEAR = (TypeError, ValueError, RayError)
# The same inputs at every run (CI must not go red by chance); NBRAY_FUZZ=N explores N new ones.
EXPLORE = int(os.environ.get("NBRAY_FUZZ", "0"))
FUZZ = settings(
    max_examples=EXPLORE or 120,
    derandomize=not EXPLORE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@nbray.remote
def echo(value: Any = None) -> Any:
    return value


@nbray.remote
class Keeper:
    def keep(self, value: Any) -> Any:
        return value


def _stale_ref() -> Any:
    """A ref of a runtime that has been shut down."""
    nbray.init(num_cpus=1, object_store_memory=16 << 20)
    ref = nbray.put("gone")
    nbray.shutdown()
    return ref


STALE = _stale_ref()

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 1e-300, 1e300]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8), st.binary(max_size=8))
junk = st.recursive(
    scalars | st.just(STALE),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def runtime() -> Iterator[None]:
    nbray.init(num_cpus=2, object_store_memory=64 << 20)
    yield
    nbray.shutdown()


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """The module shares one runtime: the per-test leak guard runs at the module's end."""
    yield


def _clear_or_fine(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except GetTimeoutError as error:  # every call here is quick: a timeout is a hang
        raise AssertionError("the call hung") from error
    except CLEAR:
        return None
    finally:
        assert nbray.get(echo.remote(1), timeout=60) == 1  # the runtime is fine


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


@FUZZ
@given(value=junk)
def test_put_get_and_tasks_round_trip_anything_picklable(runtime: None, value: Any) -> None:
    def call() -> None:
        assert _same(nbray.get(nbray.put(value), timeout=60), value)
        assert _same(nbray.get(echo.remote(value), timeout=60), value)

    _clear_or_fine(call)


@FUZZ
@given(refs=junk, timeout=junk | numbers, return_exceptions=junk)
def test_get_of_anything(runtime: None, refs: Any, timeout: Any, return_exceptions: Any) -> None:
    ready = nbray.put(1)
    for candidate in (refs, [ready, refs], [refs, ready]):
        _clear_or_fine(
            lambda c=candidate: nbray.get(c, timeout=timeout, return_exceptions=return_exceptions)
        )


@FUZZ
@given(refs=junk, num_returns=junk | numbers, timeout=junk | numbers, fetch_local=junk)
def test_wait_of_anything(
    runtime: None, refs: Any, num_returns: Any, timeout: Any, fetch_local: Any
) -> None:
    ready = nbray.put(1)
    for candidate in (refs, [ready, refs]):
        _clear_or_fine(
            lambda c=candidate: nbray.wait(
                c, num_returns=num_returns, timeout=timeout, fetch_local=fetch_local
            )
        )


OPTIONS = [
    "num_cpus", "num_gpus", "num_returns", "max_retries", "retry_exceptions", "resources",
    "name", "max_calls", "memory", "scheduling_strategy", "runtime_env",
]  # fmt: skip
ACTOR_OPTIONS = ["num_cpus", "max_concurrency", "max_restarts", "name", "resources", "lifetime"]


@FUZZ
@given(option=st.sampled_from(OPTIONS), value=junk | numbers, argument=junk)
def test_task_options_of_anything(runtime: None, option: str, value: Any, argument: Any) -> None:
    def call() -> None:
        refs = echo.options(**{option: value}).remote(argument)
        nbray.get(refs, timeout=30)  # a value, or the task's clear error

    _clear_or_fine(call)


@FUZZ
@given(option=st.sampled_from(ACTOR_OPTIONS), value=junk | numbers, argument=junk)
def test_actor_options_of_anything(runtime: None, option: str, value: Any, argument: Any) -> None:
    def call() -> None:
        keeper = Keeper.options(**{option: value}).remote()
        nbray.get(keeper.keep.remote(argument), timeout=30)
        nbray.kill(keeper)

    _clear_or_fine(call)


@FUZZ
@given(target=junk, force=junk, recursive=junk)
def test_cancel_and_kill_of_anything(
    runtime: None, target: Any, force: Any, recursive: Any
) -> None:
    _clear_or_fine(lambda: nbray.cancel(target, force=force, recursive=recursive))
    _clear_or_fine(lambda: nbray.kill(target))
    _clear_or_fine(lambda: nbray.cancel(echo.remote(target), force=force, recursive=recursive))


INIT = ["num_cpus", "num_gpus", "resources", "object_store_memory", "_system_config", "address"]


@FUZZ
@given(argument=st.sampled_from(INIT), value=junk | numbers)
def test_init_with_anything_while_running(runtime: None, argument: str, value: Any) -> None:
    # Checked before anything starts: a clear error, or "already running with other settings".
    for again in (False, True):
        try:
            nbray.init(**{argument: value}, ignore_reinit_error=again)
        except (*CLEAR, RuntimeError) as error:  # RuntimeError: running with other settings
            assert not isinstance(error, RuntimeError) or "already running" in str(error)
        assert nbray.get(echo.remote(1), timeout=60) == 1


def test_the_fuzz_left_nothing_in_the_store(runtime: None) -> None:
    gc.collect()
    nbray.events.snapshot()  # a round trip: the runtime has handled every release
    assert nbray.api.current_backend().store.usage()[0] == 0
