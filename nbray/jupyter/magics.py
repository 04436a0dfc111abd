"""`%nbray`: the runtime and this notebook's tasks, as plain deterministic text.

%nbray status     workers, resources, object store
%nbray tasks      each cell's tasks: counts by state, progress, time
%nbray errors     failed tasks with their tracebacks
%nbray cancel     cancel the unfinished tasks of a cell (In[N]) or of all cells (all)
%nbray restart    a fresh runtime with the same settings
%nbray help       this text
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

import nbray
from nbray.core.task import TaskState
from nbray.jupyter.extension import Cell, NotebookSession

USAGE = (__doc__ or "").split("\n\n", 1)[1]
_UNFINISHED = (TaskState.WAITING_FOR_ARGS, TaskState.READY, TaskState.RUNNING)


@magics_class
class NbrayMagics(Magics):
    def __init__(self, shell: Any, session: NotebookSession) -> None:
        super().__init__(shell)
        self.session = session

    @line_magic
    def nbray(self, line: str) -> None:
        command, _, argument = line.strip().partition(" ")
        handler = {
            "": self._status,
            "status": self._status,
            "tasks": self._tasks,
            "errors": self._errors,
            "cancel": self._cancel,
            "restart": self._restart,
            "help": self._help,
        }.get(command)
        if handler is None:
            raise UsageError(f"Unknown %nbray command {command!r}. Usage:\n{USAGE}")
        # One round trip through the runtime: events of everything submitted before this
        # line have been folded into the ledger by the time it answers.
        nbray.events.snapshot()
        handler(argument.strip())

    def _status(self, argument: str) -> None:
        print(status_text())

    def _tasks(self, argument: str) -> None:
        session = self.session
        with session.lock:
            contexts = [c for c in session.ledger.by_context if c is not None]
            lines = [f"{c}: {session.ledger.summary(c, session.now())}" for c in contexts]
            outside = session.ledger.by_context.get(None)
            if outside:
                lines.append(f"outside cells: {session.ledger.summary(None, session.now())}")
        print("\n".join(lines) or "No tasks yet.")

    def _errors(self, argument: str) -> None:
        with self.session.lock:
            failures = self.session.ledger.failures()
        if not failures:
            print("No failed tasks.")
        for entry in failures:
            where = f" ({entry.context})" if entry.context is not None else ""
            print(f"--- {self.session.ledger.describe(entry).strip()}{where}")
            if entry.error is not None and entry.error.traceback:
                print(entry.error.traceback.rstrip())

    def _cancel(self, argument: str) -> None:
        if not argument:
            raise UsageError("Say which tasks: %nbray cancel In[N]  or  %nbray cancel all")
        with self.session.lock:
            entries = [
                e
                for e in self.session.ledger.tasks.values()
                if e.state in _UNFINISHED and (argument == "all" or str(e.context) == argument)
            ]
        for entry in entries:
            nbray.events.cancel_task(entry.task_id)
        print(f"Cancelling {len(entries)} task{'s' if len(entries) != 1 else ''}.")

    def _restart(self, argument: str) -> None:
        self.session.restart()
        print(status_text())

    def _help(self, argument: str) -> None:
        print(USAGE)


def status_text() -> str:
    info = nbray.api.current_backend()
    state = nbray.events.snapshot()
    workers = len([w for w in state.workers.values() if w.value in ("idle", "busy", "blocked")])
    starting = len([w for w in state.workers.values() if w.value == "starting"])
    running = len([t for t in state.tasks if t.state is TaskState.RUNNING])
    queued = len(state.tasks) - running
    store = info.store
    used, _ = store.usage()
    warming = f" ({starting} starting)" if starting else ""
    return (
        f"nbray: {info.kind} runtime, {workers} workers{warming}, "
        f"{_amount(state.available, 'CPU')}/{_amount(state.total, 'CPU')} CPUs and "
        f"{_amount(state.available, 'GPU')}/{_amount(state.total, 'GPU')} GPUs free, "
        f"{running} tasks running, {queued} waiting; object store {used / 2**20:,.1f} MiB of "
        f"{store.capacity / 2**30:,.1f} GiB used, {store.spilled_bytes / 2**20:,.1f} MiB "
        "spilled. %nbray help for more."
    )


def _amount(resources: Any, name: str) -> str:
    return f"{resources.get(name, 0):g}"


__all__ = ["Cell", "NbrayMagics", "status_text"]
