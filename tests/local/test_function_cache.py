"""A worker's function cache: the driver ships a function's bytes to a worker once, so a task
that brought them and did not run (skipped, taken back, bounced) must leave them behind."""

from __future__ import annotations

import pytest

from nbray.local.tasks import FunctionCache, TaskBody
from nbray.serialization import FunctionBlob, serialize


def double(x: int) -> int:
    return 2 * x


def test_a_task_that_did_not_run_leaves_its_function_for_the_next() -> None:
    blob = FunctionBlob.export(double, "double")
    cache = FunctionCache()
    cache.keep(TaskBody(blob, serialize(((1,), {})), 1))  # skipped: never loaded
    assert cache.load(blob.function_id, None)(4) == 8  # the next task brings only the id
    assert cache.load(blob.function_id, None)(5) == 10


def test_a_function_never_shipped_is_a_clear_bug() -> None:
    with pytest.raises(RuntimeError, match="function id this worker lacks"):
        FunctionCache().load(b"unknown", None)
