"""The event loop's wakeup rule, on a loop that is never started: a post wakes the loop only
while it sleeps and once per nap, each write wakes it once (an edge-triggered eventfd, never
read), and a post the loop missed keeps it from sleeping."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from nbray.local.event_loop import EventLoop


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    runtime = SimpleNamespace(
        table=None, wake_at=None, store=SimpleNamespace(trim_due=lambda: None)
    )
    loop = EventLoop(runtime, pool=None, on_failure=print, answer_names=print)  # type: ignore[arg-type]
    yield loop
    loop._epoll.close()
    os.close(loop._wakeup)


def wakeups_pending(loop: EventLoop) -> list[tuple[int, int]]:
    return loop._epoll.poll(0)


@pytest.mark.timeout(20)  # a deadlock guard: without the inbox check, epoll blocks for good
def test_a_post_to_an_awake_loop_writes_nothing_and_is_taken_before_it_sleeps(
    loop: EventLoop,
) -> None:
    loop.post("event")
    assert wakeups_pending(loop) == []
    assert loop._sleep() == []  # returns at once: the inbox is not empty
    assert loop._take_inbox() == ["event"]


@pytest.mark.timeout(20)  # a deadlock guard: a wakeup that does not wake blocks for good
def test_each_post_to_a_sleeping_loop_wakes_it_once_without_a_read(loop: EventLoop) -> None:
    woken = [(loop._wakeup, select.EPOLLIN)]
    for _ in range(2):
        loop._sleeping = True
        loop.post("event")
        assert loop._take_inbox() == ["event"]
        assert loop._sleep() == woken  # the inbox is empty: only the wakeup returns at once
        assert wakeups_pending(loop) == []  # reported once, though never read


def test_posts_to_a_sleeping_loop_write_once_per_nap(loop: EventLoop) -> None:
    for _ in range(2):
        loop._naps += 1  # as _sleep does, before it sleeps
        loop._sleeping = True
        loop.post("event")
        loop.post("event")
        assert os.eventfd_read(loop._wakeup) == 1  # one write each nap: the counter says 1
