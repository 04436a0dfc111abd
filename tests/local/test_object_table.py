"""The driver's object table: threads waiting for values that other threads store."""

from __future__ import annotations

import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from nbray.core.ids import IdAllocator, ObjectId
from nbray.core.task import ErrorInfo, ErrorKind
from nbray.exceptions import RayError, RayTaskError
from nbray.local.object_table import ObjectTable, StoredError
from nbray.serialization import Serialized, serialize

IDS = IdAllocator()


def _ids(count: int) -> list[ObjectId]:
    return [IDS.object_id() for _ in range(count)]


def _in_thread(function: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run `function` in a thread; its result (or exception) lands in the returned list."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(function())
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _announcing_registration(table: ObjectTable) -> threading.Event:
    """An Event set once a thread has registered itself as a waiter of `table`."""
    registered = threading.Event()
    register = table._register

    def announce(*args: Any) -> Any:
        waiter = register(*args)
        registered.set()
        return waiter

    table._register = announce  # type: ignore[method-assign,assignment]
    return registered


def test_a_waiter_wakes_when_another_thread_stores_what_it_waits_for() -> None:
    table = ObjectTable()
    a, b = _ids(2)
    table.expect((a, b))
    registered = _announcing_registration(table)
    thread, outcome = _in_thread(lambda: table.wait_ready([a, b], 2, None))
    assert registered.wait(10)
    table.store(a, serialize(1))
    table.store(b, serialize(2))
    thread.join(10)
    assert outcome == [[a, b]]


def test_a_wait_that_times_out_returns_what_is_ready() -> None:
    table = ObjectTable()
    a, b = _ids(2)
    table.expect((a, b))
    table.store(a, serialize(1))
    assert table.wait_ready([a, b], 2, timeout=0.01) == [a]
    assert table.wait_ready([b, a], 1, timeout=0) == [a]


def test_an_error_wakes_a_waiter_that_asked_for_it() -> None:
    table = ObjectTable()
    a, b = _ids(2)
    table.expect((a, b))
    registered = _announcing_registration(table)
    thread, outcome = _in_thread(lambda: table.wait_ready([a, b], 2, None, wake_on_error=True))
    assert registered.wait(10)
    table.store(b, StoredError(ErrorInfo(ErrorKind.TASK_ERROR, "boom"), None, "f", True))
    thread.join(10)
    assert outcome == [[b]]


def test_storing_more_than_a_waiter_needs_wakes_it_once() -> None:
    table = ObjectTable()
    a, b = _ids(2)
    waiter = table._register([a, b], 1, False)
    assert waiter is not None
    table.store(a, serialize(1))
    table.store(b, serialize(2))  # before the woken thread unregistered: no second wake
    table.close()
    waiter.wait(None)  # returns at once: it was woken
    assert waiter.woken


def test_closing_the_table_wakes_waiters_with_an_error() -> None:
    table = ObjectTable()
    (a,) = _ids(1)
    table.expect((a,))
    registered = _announcing_registration(table)
    thread, outcome = _in_thread(lambda: table.wait_ready([a], 1, None))
    assert registered.wait(10)
    table.close()
    thread.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], RayError)
    with pytest.raises(RayError, match="shut down"):
        table.wait_ready([a], 1, None)


# ---- stored errors: unpickled by the caller that asks, whatever their unpickling does ----------


class _ExitsWhenUnpickled(Exception):
    def __reduce__(self) -> tuple[object, ...]:
        return sys.exit, (5,)


class _InterruptsWhenUnpickled(Exception):
    def __reduce__(self) -> tuple[object, ...]:
        return _raise_keyboard_interrupt, ()


def _raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def _stored(cause: BaseException) -> StoredError:
    info = ErrorInfo(ErrorKind.TASK_ERROR, str(cause), type(cause).__name__, "Traceback: here\n")
    pickled = serialize(RayTaskError("crunch", "Traceback: here\n", cause))
    return StoredError(info, pickled, "crunch", reportable=True)


@pytest.mark.parametrize("cause", [_ExitsWhenUnpickled(), _InterruptsWhenUnpickled()])
def test_an_error_whose_unpickling_exits_or_interrupts_becomes_the_tasks_error(
    cause: BaseException,
) -> None:
    stored = _stored(cause)
    error = stored.error()  # neither SystemExit nor KeyboardInterrupt escapes
    assert isinstance(error, RayTaskError) and error.function_name == "crunch"
    assert type(cause).__name__ in str(error) and "could not be unpickled" in str(error)
    assert stored.error() is error  # unpickled once


def test_an_error_is_unpickled_only_when_a_caller_asks_and_travels_still_pickled() -> None:
    stored = _stored(ValueError("bad row"))
    assert stored._error is None  # storing it ran nothing of the user's
    assert stored.wire() is stored.pickled  # a worker that asks gets the bytes as they came
    error = stored.error()
    assert isinstance(error, RayTaskError) and error.cause_type_name == "ValueError"


def test_an_error_of_a_class_missing_here_keeps_the_tasks_name_and_message() -> None:
    info = ErrorInfo(ErrorKind.TASK_ERROR, "bad row", "GoneError", "Traceback: here\n")
    pickled = Serialized(
        pickle.dumps(RayTaskError("crunch", "tb", None)).replace(b"RayTaskError", b"RayTaskErrer")
    )
    error = StoredError(info, pickled, "crunch", reportable=True).error()
    assert isinstance(error, RayTaskError)
    assert str(error).startswith("GoneError: bad row") and "crunch" in str(error)
