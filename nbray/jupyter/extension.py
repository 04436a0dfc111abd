"""`%load_ext nbray`: the runtime in the kernel, every task tagged with the cell that made it.

Theory of operation: `pre_run_cell` records which cell is running; the context provider hands it
to every task submitted from the kernel's threads, so the runtime's events name the cell. The
session folds those events into a `Ledger` on the runtime's thread (under a lock: the magics
read it from the kernel's main thread).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import nbray
from nbray.core.events import Event
from nbray.core.progress import Ledger


@dataclass(frozen=True, slots=True)
class Cell:
    """A notebook cell run, the context of the tasks it submits."""

    execution_count: int
    cell_id: str | None = None

    def __str__(self) -> str:
        return f"In[{self.execution_count}]"


class NotebookSession:
    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.ledger = Ledger()
        self.lock = threading.Lock()
        self.current_cell: Cell | None = None
        self._unsubscribe: Any = None

    def start(self) -> None:
        nbray.init(ignore_reinit_error=True)  # reuse a running runtime: re-running is harmless
        self._unsubscribe = nbray.events.subscribe(self._on_event)
        nbray.events.set_context_provider(lambda: self.current_cell)
        self.shell.events.register("pre_run_cell", self._on_pre_run_cell)

    def stop(self) -> None:
        self.shell.events.unregister("pre_run_cell", self._on_pre_run_cell)
        nbray.events.set_context_provider(None)
        if self._unsubscribe is not None:
            self._unsubscribe()
        nbray.shutdown()

    def restart(self) -> None:
        config = nbray.api.current_backend().config
        if self._unsubscribe is not None:
            self._unsubscribe()
        nbray.shutdown()
        with self.lock:
            self.ledger = Ledger()
        nbray.init(
            num_cpus=config.num_cpus,
            num_gpus=config.num_gpus,
            resources=dict(config.resources),
            object_store_memory=config.object_store_memory,
            local_mode=config.local_mode,
        )
        self._unsubscribe = nbray.events.subscribe(self._on_event)

    def _on_pre_run_cell(self, info: Any) -> None:
        # IPython has already counted a cell that stores history when this hook runs.
        number = self.shell.execution_count - (1 if getattr(info, "store_history", False) else 0)
        self.current_cell = Cell(number, getattr(info, "cell_id", None))

    def _on_event(self, event: Event) -> None:
        with self.lock:
            self.ledger.apply(event)

    def now(self) -> float:
        return time.time()


_session: NotebookSession | None = None


def load(shell: Any) -> None:
    global _session
    from nbray.jupyter.magics import NbrayMagics, status_text

    if _session is not None:
        return
    _session = NotebookSession(shell)
    _session.start()
    shell.register_magics(NbrayMagics(shell, _session))
    print(status_text())


def unload(shell: Any) -> None:
    global _session
    if _session is not None:
        _session.stop()
        _session = None
