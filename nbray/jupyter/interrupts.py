"""What happens while a cell blocks in `get`/`wait`: a progress bar after a while, and an
interrupt that stops the cell's remote work.

A kernel interrupt reaches only the main thread, as `KeyboardInterrupt` out of the blocking
call (DESIGN.md); the tasks keep running in their workers unless nbray cancels them. With the
default policy the first interrupt cancels the cell's unfinished tasks and waits for them to
stop; an interrupt during that wait kills them (`force=True`). Either way the cell then gets
its `KeyboardInterrupt`.
"""

from __future__ import annotations

import contextlib
import enum
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import nbray
from nbray.core.progress import tasks_phrase
from nbray.object_ref import ObjectRef

if TYPE_CHECKING:
    from nbray.jupyter.extension import NotebookSession

AUTO_PROGRESS_AFTER = 1.0  # seconds blocked before a bar appears
AUTO_PROGRESS_MIN_REFS = 2


class InterruptPolicy(enum.Enum):
    CANCEL = "cancel"  # cancel the cell's tasks; a second interrupt kills them
    KILL = "kill"  # kill them at once
    KEEP = "keep"  # leave them running


def blocking_observer(session: NotebookSession) -> nbray.api.BlockingObserver:
    @contextlib.contextmanager
    def observe(refs: Sequence[ObjectRef[Any]], call: str) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        timer = _auto_progress(session, refs)
        try:
            yield
        except KeyboardInterrupt:
            stop_cell_tasks(session)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    return observe


def _auto_progress(session: NotebookSession, refs: Sequence[ObjectRef[Any]]) -> Any:
    if not session.use_widgets or len(refs) < AUTO_PROGRESS_MIN_REFS:
        return None
    from nbray.jupyter.progress import progress

    # Displayed from the timer's thread while the main thread blocks in this cell: the
    # display lands in the running cell, which is this one.
    timer = threading.Timer(AUTO_PROGRESS_AFTER, progress, [list(refs)])  # displays it
    timer.daemon = True
    timer.start()
    return timer


def stop_cell_tasks(session: NotebookSession) -> None:
    """Apply the session's interrupt policy to the running cell's unfinished tasks."""
    cell = session.current_cell
    policy = session.interrupt_policy
    if policy is InterruptPolicy.KEEP:
        return
    force = policy is InterruptPolicy.KILL
    count = session.cancel(cell, force=force)
    if not count:
        return
    if force:
        print(f"nbray: killed {tasks_phrase(count)} of {cell}.", file=sys.stderr)
        return
    print(
        f"nbray: cancelling {tasks_phrase(count)} of {cell}; interrupt again to kill them.",
        file=sys.stderr,
    )
    try:
        with session.lock:
            session.ended.wait_for(lambda: not session.ledger.is_live(cell))
    except KeyboardInterrupt:
        killed = session.cancel(cell, force=True)
        print(f"nbray: killed {tasks_phrase(killed)} of {cell}.", file=sys.stderr)
