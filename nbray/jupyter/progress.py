"""`nbray.progress(refs)`: a live bar and readiness grid for a list of refs.

Each bar follows its refs through the runtime's events (a `RefProgress` fold) on its own
painter thread, and lets go of the event stream once every ref is done. Without widgets it
waits for the refs and prints one deterministic line instead.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

import nbray
from nbray.core import events as ev
from nbray.core.progress import RefProgress
from nbray.core.references import ObjectState
from nbray.core.task import TaskState
from nbray.jupyter.painter import Painter
from nbray.jupyter.views import grid_html
from nbray.object_ref import ObjectRef, RefState

_FROM_REF_STATE = {
    RefState.PENDING: TaskState.READY,
    RefState.RUNNING: TaskState.RUNNING,
    RefState.FINISHED: TaskState.FINISHED,
    RefState.FAILED: TaskState.FAILED,
    RefState.CANCELLED: TaskState.CANCELLED,
}


class ProgressWidget(widgets.VBox):
    """A bar over refs that updates as their tasks run and end, also after its cell ended."""

    def __init__(self, refs: Sequence[ObjectRef[Any]], title: str = "") -> None:
        self.title = title
        self.bar = widgets.IntProgress(value=0, min=0, max=max(1, len(refs)))
        self.summary = widgets.HTML()
        self.grid = widgets.HTML()
        super().__init__([widgets.HBox([self.bar, self.summary]), self.grid])
        self.model = RefProgress([ref.task_id() for ref in refs])
        self._lock = threading.Lock()
        self._painter: Painter | None = None
        self._unsubscribe = nbray.events.subscribe(self._on_event)
        known = states_now(refs)
        with self._lock:
            for position, state in known:
                self.model.advance(position, state)
        self._painter = Painter(self.paint)
        self._painter.poke()

    def _on_event(self, event: ev.Event) -> None:
        with self._lock:
            changed = self.model.apply(event)
        if changed and self._painter is not None:
            self._painter.poke()

    def paint(self) -> bool:
        with self._lock:
            counts = self.model.counts()
            self.bar.value = self.model.done()
            self.summary.value = html.escape(self._text())
            self.grid.value = grid_html(self.model.states)
            finished = self.model.done() == len(self.model.states)
        if counts[TaskState.FAILED] or counts[TaskState.CANCELLED]:
            self.bar.bar_style = "danger" if counts[TaskState.FAILED] else "warning"
        elif finished:
            self.bar.bar_style = "success"
        if finished:
            self.close_stream()
        return False

    def close_stream(self) -> None:
        """Stop following events (the widget keeps its last state)."""
        self._unsubscribe()
        painter, self._painter = self._painter, None
        if painter is not None:
            painter.stop()

    def _text(self) -> str:
        return f"{self.title}: {self.model.summary()}" if self.title else self.model.summary()

    def __repr__(self) -> str:
        return self.title or f"nbray progress: {self.model.summary()}"


def states_now(refs: Sequence[ObjectRef[Any]]) -> list[tuple[int, TaskState]]:
    """What happened to refs before a model listened: one snapshot, not a query per ref.
    (Taken without holding the model's lock: the runtime's thread may be waiting for it.)"""
    state = nbray.events.snapshot()
    running = {task.task_id for task in state.tasks if task.state is TaskState.RUNNING}
    known = []
    for position, ref in enumerate(refs):
        made = state.objects.get(ref.id)
        if made is ObjectState.READY:
            known.append((position, TaskState.FINISHED))
        elif made is ObjectState.FAILED:  # failed or cancelled: ask which
            known.append((position, _FROM_REF_STATE[ref.state()]))
        elif ref.task_id() in running:
            known.append((position, TaskState.RUNNING))
    return known


def progress(refs: Sequence[ObjectRef[Any]], *, display: bool = True) -> ProgressWidget | None:
    """Show a live progress bar for `refs` in this cell (`display=False`: return the widget to
    place yourself). Without widgets (plain IPython, NBRAY_NONINTERACTIVE=1), wait for the refs
    and print how they ended."""
    refs = list(refs)
    if not all(isinstance(ref, ObjectRef) for ref in refs):
        raise TypeError("progress() takes a list of ObjectRefs returned by .remote() or put().")
    if not _use_widgets():
        if refs:
            nbray.wait(refs, num_returns=len(refs))
        model = RefProgress([ref.task_id() for ref in refs])
        for position, state in states_now(refs):
            model.advance(position, state)
        print(f"nbray progress: {model.summary()}")
        return None
    widget = ProgressWidget(refs)
    if not display:
        return widget
    from IPython.display import display as show

    show(widget)
    return None


def _use_widgets() -> bool:
    from nbray.jupyter.extension import current_session, widgets_wanted

    session = current_session()
    if session is not None:
        return session.use_widgets
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and widgets_wanted(shell)


def show_ref(ref: ObjectRef[Any]) -> None:
    """An `ObjectRef`'s rich display: its live state."""
    from IPython.display import display

    display(ProgressWidget([ref], title=repr(ref)))
