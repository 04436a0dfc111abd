"""What several contract tests need: a restart on the same backend, and a count of how many
tasks ran at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import nbray
from nbray import api


def is_inline() -> bool:
    return bool(api.current_backend().kind == "inline")


def restart(**options: Any) -> None:
    """A new runtime with 2 CPUs on the same backend, with `options`."""
    inline = is_inline()
    nbray.shutdown()
    nbray.init(num_cpus=2, local_mode=inline, **options)


@contextmanager
def most_running_at_once() -> Iterator[list[int]]:
    """Inside: `most[0]` is the most tasks that ran at the same time, from the events."""
    running: set[Any] = set()
    most = [0]

    def watch(event: Any) -> None:
        if isinstance(event, nbray.events.TaskStarted):
            running.add(event.task_id)
            most[0] = max(most[0], len(running))
        elif isinstance(event, (nbray.events.TaskFinished, nbray.events.TaskFailed)):
            running.discard(event.task_id)

    unsubscribe = nbray.events.subscribe(watch)
    try:
        yield most
    finally:
        unsubscribe()
