"""The event loop's wakeup rule, on a loop that is never started: a post writes a wakeup byte
only while the loop sleeps, and a post the loop missed keeps it from sleeping."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from nbray.local.event_loop import EventLoop


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    loop = EventLoop(SimpleNamespace(table=None), pool=None)  # type: ignore[arg-type]
    yield loop
    loop._selector.close()
    os.close(loop._wakeup_read)
    os.close(loop._wakeup_write)


def wakeup_bytes(loop: EventLoop) -> int:
    try:
        return len(os.read(loop._wakeup_read, 4096))
    except BlockingIOError:
        return 0


@pytest.mark.timeout(20)  # a deadlock guard: without the inbox check, select blocks for good
def test_a_post_to_an_awake_loop_writes_nothing_and_is_taken_before_it_sleeps(
    loop: EventLoop,
) -> None:
    loop.post("event")
    assert wakeup_bytes(loop) == 0
    assert loop._sleep() == []  # returns at once: the inbox is not empty
    assert loop._take_inbox() == ["event"]


def test_a_post_to_a_sleeping_loop_wakes_it(loop: EventLoop) -> None:
    loop._sleeping = True
    loop.post("event")
    assert wakeup_bytes(loop) == 1
