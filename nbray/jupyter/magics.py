"""`%nbray`: the runtime and this notebook's tasks, as plain deterministic text.

%nbray status     workers, resources, object store
%nbray tasks      each cell's tasks: counts by state, progress, time
%nbray refs       live refs held by notebook variables and Out[N]: state, size, where
%nbray errors     failed tasks with their tracebacks
%nbray cancel     cancel the unfinished tasks of a cell (In[N]) or of all cells (all)
%nbray interrupt  what a kernel interrupt during get/wait does to the cell's tasks:
                  cancel (default; interrupt again to kill), kill, or keep
%nbray restart    a fresh runtime with the same settings
%nbray help       this text
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

import nbray
from nbray.core.ids import format_id
from nbray.core.progress import tasks_phrase
from nbray.core.task import TaskState
from nbray.jupyter.extension import Cell, NotebookSession
from nbray.jupyter.interrupts import InterruptPolicy
from nbray.jupyter.tracebacks import label_cells
from nbray.object_ref import ObjectRef

USAGE = (__doc__ or "").split("\n\n", 1)[1]
_SCAN_LIMIT = 10_000  # items looked at per list or dict
_POLICY = {
    InterruptPolicy.CANCEL: "cancel its cell's tasks (interrupt again to kill them)",
    InterruptPolicy.KILL: "kill its cell's tasks",
    InterruptPolicy.KEEP: "leave its cell's tasks running",
}


class SessionMagics(Magics):
    """Magics that act on the notebook session (`%nbray`, `%%remote`)."""

    def __init__(self, shell: Any, session: NotebookSession) -> None:
        super().__init__(shell)
        self.ip: Any = shell  # typed as optional by IPython: always set here
        self.session = session


@magics_class
class NbrayMagics(SessionMagics):
    @line_magic
    def nbray(self, line: str) -> None:
        command, _, argument = line.strip().partition(" ")
        handler = {
            "": self._status,
            "status": self._status,
            "tasks": self._tasks,
            "refs": self._refs,
            "errors": self._errors,
            "cancel": self._cancel,
            "interrupt": self._interrupt,
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
                print(label_cells(entry.error.traceback.rstrip(), self.shell))

    def _refs(self, argument: str) -> None:
        print(refs_table(held_refs(self.ip.user_ns)))

    def _cancel(self, argument: str) -> None:
        if not argument:
            raise UsageError("Say which tasks: %nbray cancel In[N]  or  %nbray cancel all")
        if argument == "all":
            count = self.session.cancel(None, every_cell=True)
        else:
            with self.session.lock:
                cells = [c for c in self.session.ledger.by_context if str(c) == argument]
            if not cells:
                raise UsageError(f"{argument} submitted no tasks. Usage: %nbray cancel In[N]|all")
            count = sum(self.session.cancel(cell) for cell in cells)
        print(f"Cancelling {tasks_phrase(count)}.")

    def _interrupt(self, argument: str) -> None:
        if argument:
            try:
                self.session.interrupt_policy = InterruptPolicy(argument)
            except ValueError:
                raise UsageError("Usage: %nbray interrupt cancel|kill|keep") from None
        print(f"A kernel interrupt during get/wait will {_POLICY[self.session.interrupt_policy]}.")

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


def held_refs(namespace: Mapping[str, Any]) -> dict[ObjectRef[Any], list[str]]:
    """The refs the notebook holds: in variables, in lists/tuples/dicts they hold (one level)
    and in `Out[N]`, each with the names that hold it, in namespace order."""
    holders: dict[ObjectRef[Any], list[str]] = {}
    for name, value in list(namespace.items()):
        if not name.startswith("_") and name != "Out":
            _visit(holders, name, value, depth=1)
    outputs = namespace.get("Out")
    for number, output in list(outputs.items()) if isinstance(outputs, dict) else ():
        _visit(holders, f"Out[{number}]", output, depth=1)
    return holders


def _visit(holders: dict[ObjectRef[Any], list[str]], name: str, value: Any, depth: int) -> None:
    # A plain function, not a closure: a recursive closure is a reference cycle, and the refs
    # it collected would outlive the report until the garbage collector ran.
    if isinstance(value, ObjectRef):
        holders.setdefault(value, []).append(name)
    elif depth and isinstance(value, list | tuple):
        for i, item in enumerate(value[:_SCAN_LIMIT]):
            _visit(holders, f"{name}[{i}]", item, depth - 1)
    elif depth and isinstance(value, dict):
        for key, item in list(value.items())[:_SCAN_LIMIT]:
            _visit(holders, f"{name}[{key!r}]", item, depth - 1)


def refs_table(holders: Mapping[ObjectRef[Any], list[str]]) -> str:
    if not holders:
        return "No refs held by notebook variables."
    rows = [("ref", "task", "state", "size", "where", "held by")]
    for ref, names in holders.items():
        info = nbray.events.object_info(ref)
        size = "" if info.size is None else _bytes(info.size)
        held = ", ".join(names[:4]) + (f" (+{len(names) - 4})" if len(names) > 4 else "")
        rows.append((format_id(ref.id), ref.origin, info.state.value, size, info.location, held))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


def _bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return ""


def _amount(resources: Any, name: str) -> str:
    return f"{resources.get(name, 0):g}"


__all__ = ["Cell", "NbrayMagics", "status_text"]
