"""`%load_ext nbray`: the runtime in the kernel, each cell showing its own tasks.

Theory of operation. Three threads meet here:
- the kernel's main thread runs cells: `pre_run_cell` records the running cell; the context
  provider tags every task submitted with it, and the first task of a cell displays that
  cell's view (a display from the main thread lands in the running cell);
- the runtime's thread delivers events and task output: they are folded into the `Ledger` and
  queued for the cell of the task (under `lock`), then the painter is poked — nothing is
  painted on the runtime's thread;
- the painter thread repaints the views of changed cells, also after those cells finished.
Without widgets (plain IPython, nbconvert/nbval with NBRAY_NONINTERACTIVE=1) there is no live
view: after each cell, its tasks' report and output are printed as deterministic text.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nbray
from nbray.core import events as ev
from nbray.core.ids import TaskId
from nbray.core.progress import Ledger, PendingOutput
from nbray.jupyter import tracebacks
from nbray.jupyter.interrupts import InterruptPolicy, blocking_observer
from nbray.jupyter.painter import Painter
from nbray.object_ref import ObjectRef


@dataclass(frozen=True, slots=True)
class Cell:
    """A notebook cell run, the context of the tasks it submits."""

    execution_count: int
    cell_id: str | None = None
    run: int = 0  # this session's count of cell runs: cells run without history share a number

    def __str__(self) -> str:
        return f"In[{self.execution_count}]"


def widgets_wanted(shell: Any) -> bool:
    """Live widgets need a kernel with a frontend; NBRAY_NONINTERACTIVE=1 asks for text."""
    return os.environ.get("NBRAY_NONINTERACTIVE", "") != "1" and hasattr(shell, "kernel")


class NotebookSession:
    def __init__(self, shell: Any, use_widgets: bool | None = None) -> None:
        self.shell = shell
        self.use_widgets = widgets_wanted(shell) if use_widgets is None else use_widgets
        self.interrupt_policy = InterruptPolicy.CANCEL
        self.lock = threading.Lock()  # guards everything below
        self.ledger = Ledger()
        self.current_cell: Cell | None = None
        self._runs = 0
        self.views: dict[object, Any] = {}  # cell -> its LedgerWidget
        self._dirty: set[object] = set()
        self._pending: dict[object, PendingOutput] = {}  # cell -> output not painted yet
        self._unprinted: dict[TaskId, PendingOutput] = {}  # text mode: output per task
        self._cells_with_tasks: set[object] = set()
        self.ended = threading.Condition(self.lock)  # notified when tasks end
        self._unsubscribe: Callable[[], None] | None = None
        self._painter: Painter | None = None

    # ---- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        nbray.init(ignore_reinit_error=True)  # reuse a running runtime: re-running is harmless
        self._connect()
        nbray.events.set_context_provider(self._context_of_submission)
        nbray.events.set_blocking_observer(blocking_observer(self))
        self.shell.events.register("pre_run_cell", self._on_pre_run_cell)
        self.shell.events.register("post_run_cell", self._on_post_run_cell)
        tracebacks.install(self.shell)
        if self.use_widgets:
            self._display_refs_live(True)
        self._painter = Painter(self._paint)

    def stop(self) -> None:
        self.shell.events.unregister("pre_run_cell", self._on_pre_run_cell)
        self.shell.events.unregister("post_run_cell", self._on_post_run_cell)
        tracebacks.uninstall(self.shell)
        if self.use_widgets:
            self._display_refs_live(False)
        nbray.events.set_context_provider(None)
        nbray.events.set_blocking_observer(None)
        self._disconnect()
        if self._painter is not None:
            self._painter.stop()
        nbray.shutdown()

    def restart(self) -> None:
        config = nbray.api.current_backend().config
        self._disconnect()
        nbray.shutdown()
        with self.lock:  # earlier cells' widgets keep their last state
            self.ledger = Ledger()
            self.views.clear()
            self._cells_with_tasks.clear()
            self._pending.clear()
            self._unprinted.clear()
        nbray.init(
            num_cpus=config.num_cpus,
            num_gpus=config.num_gpus,
            resources=dict(config.resources),
            object_store_memory=config.object_store_memory,
            local_mode=config.local_mode,
        )
        self._connect()

    def _connect(self) -> None:
        self._unsubscribe = nbray.events.subscribe(self._on_event)
        nbray.events.set_output_handler(self._on_output)

    def _disconnect(self) -> None:
        nbray.events.set_output_handler(None)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ---- the kernel's main thread --------------------------------------------------------

    def _on_pre_run_cell(self, info: Any) -> None:
        # IPython has already counted a cell that stores history when this hook runs.
        number = self.shell.execution_count - (1 if getattr(info, "store_history", False) else 0)
        self._runs += 1
        self.current_cell = Cell(number, getattr(info, "cell_id", None), self._runs)

    def _context_of_submission(self) -> object:
        cell = self.current_cell
        if cell is not None and cell not in self._cells_with_tasks:
            self._cells_with_tasks.add(cell)
            if self.use_widgets:
                self.show_view(cell)
        return cell

    def show_view(self, cell: object) -> Any:
        """The cell's ledger widget, displayed in the running cell the first time."""
        from IPython.display import display

        from nbray.jupyter.views import LedgerWidget

        with self.lock:
            view = self.views.get(cell)
            if view is None:
                view = self.views[cell] = LedgerWidget(
                    str(cell),
                    on_cancel=lambda: self.cancel(cell),
                    label_traceback=lambda text: tracebacks.label_cells(text, self.shell),
                )
                self._dirty.add(cell)
        display(view)
        return view

    def _on_post_run_cell(self, result: Any) -> None:
        cell = self.current_cell
        if cell not in self._cells_with_tasks and not self._unprinted:
            return
        nbray.events.snapshot()  # a round trip: every event of this cell's work is folded in
        if self.use_widgets:
            self.paint_now()
        else:
            self._print_text_report(cell)

    def _print_text_report(self, cell: Cell | None) -> None:
        from nbray.jupyter.views import cell_text

        with self.lock:
            report = ""
            if cell in self._cells_with_tasks:
                report = cell_text(self.ledger, cell, str(cell))
            by_cell: dict[object, list[tuple[str, str]]] = {}
            for task_id in sorted(self._unprinted, key=self.ledger.submission_order):
                context = self.ledger.context_of_task(task_id)
                by_cell.setdefault(context, []).extend(self._unprinted[task_id].take())
            self._unprinted.clear()
        for context, chunks in sorted(by_cell.items(), key=lambda item: item[0] != cell):
            if context != cell:
                print(f"nbray: output of {context}'s tasks since it ran:")
            for stream, text in chunks:
                write(stream, text)
        if report:
            print(report)

    def show_when_done(self, ref: ObjectRef[Any]) -> None:
        """Show the value `ref` will have in the running cell, once it is there (`%%remote`)."""
        cell, task_id = self.current_cell, ref.task_id()

        def done(future: Any) -> None:
            if future.cancelled() or future.exception() is not None:
                return  # the ledger shows the failure
            value = future.result()
            if value is None:
                return
            if not self.use_widgets:
                with self.lock:
                    pending = self._unprinted.setdefault(task_id, PendingOutput())  # type: ignore[arg-type]
                    pending.add("stdout", f"{value!r}\n")
                return
            with self.lock:
                view = self.views.get(cell)
            if view is not None:
                view.show_result(value)

        ref.future().add_done_callback(done)

    def _display_refs_live(self, enable: bool) -> None:
        from nbray.jupyter.progress import show_ref

        formatter = self.shell.display_formatter.ipython_display_formatter
        if enable:
            formatter.for_type(ObjectRef, show_ref)
        else:
            formatter.pop(ObjectRef, None)

    def cancel(self, cell: object, force: bool = False, every_cell: bool = False) -> int:
        """Cancel the unfinished tasks of a cell (or of every cell); how many there were."""
        with self.lock:
            ledger = self.ledger
            unfinished = ledger.all_unfinished() if every_cell else ledger.unfinished(cell)
        for task_id in unfinished:
            nbray.events.cancel_task(task_id, force=force)
        return len(unfinished)

    # ---- the runtime's thread ------------------------------------------------------------

    def _on_event(self, event: ev.Event) -> None:
        with self.lock:
            context = self.ledger.apply(event)
            if context is None:
                return
            self._dirty.add(context)
            if isinstance(event, ev.TaskFinished | ev.TaskFailed | ev.TaskCancelled):
                self.ended.notify_all()
        self._poke()

    def _on_output(self, event: ev.TaskOutput) -> None:
        with self.lock:
            context = self.ledger.context_of_task(event.task_id)
            if context is not None and self.use_widgets:
                self._pending.setdefault(context, PendingOutput()).add(event.stream, event.text)
                self._dirty.add(context)
            elif context is not None and event.task_id is not None:
                self._unprinted.setdefault(event.task_id, PendingOutput()).add(
                    event.stream, event.text
                )
        if context is None:  # not a notebook cell's task: as without the extension (and
            write(event.stream, event.text)  # not while holding the lock)
            return
        self._poke()

    def _poke(self) -> None:
        if self._painter is not None and self.use_widgets:
            self._painter.poke()

    # ---- the painter thread --------------------------------------------------------------

    def _paint(self) -> bool:
        try:
            return self.paint_now()
        except Exception as error:  # keep painting the next changes; say once what broke
            print(f"nbray: could not update a cell's view: {error!r}", file=sys.__stderr__)
            return False

    def paint_now(self) -> bool:
        """Repaint the changed views; whether any view still has live tasks (a clock to tick)."""
        now = time.time()
        with self.lock:
            live = {c for c in self.views if self.ledger.is_live(c)}
            for cell in self._dirty | live:
                view = self.views.get(cell)
                if view is None:
                    continue
                view.write(self._pending.pop(cell, PendingOutput()).take())
                view.paint(self.ledger, cell, now)
            self._dirty.clear()
            return bool(live)

    def now(self) -> float:
        return time.time()


def write(stream: str, text: str) -> None:
    target = sys.stderr if stream == "stderr" else sys.stdout
    target.write(text)
    target.flush()


_session: NotebookSession | None = None


def current_session() -> NotebookSession | None:
    return _session


def load(shell: Any, use_widgets: bool | None = None) -> None:
    global _session
    from nbray.jupyter.magics import NbrayMagics, status_text
    from nbray.jupyter.remote_magic import RemoteMagics

    if _session is not None:
        return
    _session = NotebookSession(shell, use_widgets)
    _session.start()
    shell.register_magics(NbrayMagics(shell, _session))
    shell.register_magics(RemoteMagics(shell, _session))
    print(status_text())


def unload(shell: Any) -> None:
    global _session
    if _session is not None:
        _session.stop()
        _session = None
