"""The task ledger: a fold over the runtime's events, by caller context (a notebook cell).

Everything the notebook shows about tasks — counts by state, progress, elapsed time, errors —
is computed here from the event stream alone, so widgets, `%nbray` reports and the sidebar agree
and are tested without a notebook. Times come from the events.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from nbray.core import events as ev
from nbray.core.ids import TaskId, format_id
from nbray.core.task import ErrorInfo, TaskState

_ORDER = (
    TaskState.WAITING_FOR_ARGS,
    TaskState.READY,
    TaskState.QUEUED,
    TaskState.RUNNING,
    TaskState.FINISHED,
    TaskState.FAILED,
    TaskState.CANCELLED,
)
LIVE_STATES = tuple(s for s in TaskState if not s.is_terminal)
_STAGE = {
    TaskState.WAITING_FOR_ARGS: 0,
    TaskState.READY: 0,
    TaskState.QUEUED: 0,
    TaskState.RUNNING: 1,
}  # else 2
_ENDED = {
    ev.TaskFinished: TaskState.FINISHED,
    ev.TaskFailed: TaskState.FAILED,
    ev.TaskCancelled: TaskState.CANCELLED,
}


@dataclass(slots=True)
class TaskEntry:
    task_id: TaskId
    name: str
    context: object
    state: TaskState
    submitted: float
    number: int = 0  # in submission order, as the runtime saw it
    started: float | None = None
    ended: float | None = None
    error: ErrorInfo | None = None


@dataclass(slots=True)
class ContextTally:
    """A context's numbers, kept as events arrive, so a repaint costs O(1) per cell, not
    O(tasks)."""

    counts: Counter[TaskState] = field(default_factory=Counter)
    first_submitted: float = 0.0
    last_ended: float = 0.0
    failures: list[TaskId] = field(default_factory=list)  # in the order they failed

    @property
    def live(self) -> bool:
        return any(self.counts[s] for s in LIVE_STATES)


@dataclass(slots=True)
class Ledger:
    tasks: dict[TaskId, TaskEntry] = field(default_factory=dict)
    by_context: dict[object, list[TaskId]] = field(default_factory=dict)
    tallies: dict[object, ContextTally] = field(default_factory=dict)

    def apply(self, event: ev.Event) -> object | None:
        """Fold one event in; the context whose tasks it touched, if any."""
        if isinstance(event, ev.TaskSubmitted):
            return self._submitted(event)
        entry = self.tasks.get(getattr(event, "task_id", None))  # type: ignore[arg-type]
        if entry is None:
            return None
        if isinstance(event, ev.TaskStarted):
            entry.started = event.time
            self._move(entry, TaskState.RUNNING)
            return entry.context
        state = _ENDED.get(type(event))
        if state is None:
            return None
        entry.ended = event.time
        if isinstance(event, ev.TaskFailed):
            entry.error = event.error
            self.tallies[entry.context].failures.append(entry.task_id)
        self._move(entry, state)
        tally = self.tallies[entry.context]
        tally.last_ended = max(tally.last_ended, event.time)
        return entry.context

    def _submitted(self, event: ev.TaskSubmitted) -> object:
        spec = event.spec
        state = TaskState.READY if not spec.dependencies else TaskState.WAITING_FOR_ARGS
        context = self._context_of(spec.context, spec.parent)
        self.tasks[spec.task_id] = TaskEntry(
            spec.task_id, spec.name, context, state, event.time, len(self.tasks)
        )
        self.by_context.setdefault(context, []).append(spec.task_id)
        tally = self.tallies.get(context)
        if tally is None:
            tally = self.tallies[context] = ContextTally(first_submitted=event.time)
        tally.counts[state] += 1
        return context

    def _move(self, entry: TaskEntry, state: TaskState) -> None:
        counts = self.tallies[entry.context].counts
        counts[entry.state] -= 1
        counts[state] += 1
        entry.state = state

    def _context_of(self, context: object, parent: TaskId | None) -> object:
        """A task submitted by a task belongs where its parent does (its cell)."""
        if context is None and parent is not None and parent in self.tasks:
            return self.tasks[parent].context
        return context

    def submission_order(self, task_id: TaskId) -> int:
        entry = self.tasks.get(task_id)
        return entry.number if entry is not None else -1

    def context_of_task(self, task_id: TaskId | None) -> object:
        entry = self.tasks.get(task_id) if task_id is not None else None
        return entry.context if entry is not None else None

    def of(self, context: object) -> list[TaskEntry]:
        return [self.tasks[t] for t in self.by_context.get(context, ())]

    def states(self, context: object, limit: int) -> list[TaskState]:
        """The states of the context's first `limit` tasks, in submission order."""
        return [self.tasks[t].state for t in self.by_context.get(context, ())[:limit]]

    def unfinished(self, context: object) -> list[TaskId]:
        return [e.task_id for e in self.of(context) if e.state in LIVE_STATES]

    def all_unfinished(self) -> list[TaskId]:
        return [e.task_id for e in self.tasks.values() if e.state in LIVE_STATES]

    def is_live(self, context: object) -> bool:
        tally = self.tallies.get(context)
        return tally is not None and tally.live

    def counts(self, context: object) -> Counter[TaskState]:
        tally = self.tallies.get(context)
        return +tally.counts if tally is not None else Counter()  # + drops the zeros

    def failures(self, context: object | None = None) -> list[TaskEntry]:
        if context is None:
            return [e for e in self.tasks.values() if e.state is TaskState.FAILED]
        tally = self.tallies.get(context)
        return [self.tasks[t] for t in tally.failures] if tally is not None else []

    def elapsed(self, context: object, now: float) -> float:
        tally = self.tallies.get(context)
        if tally is None:
            return 0.0
        end = now if tally.live else tally.last_ended
        return end - tally.first_submitted

    def summary(self, context: object, now: float | None) -> str:
        """One line: `4 tasks: 1 running, 3 finished (75%) in 1.2 s`; without the time (and so
        deterministic) when `now` is None."""
        counts = self.counts(context)
        total = sum(counts.values())
        if not total:
            return "no tasks"
        parts = ", ".join(f"{counts[s]} {s.value}" for s in _ORDER if counts[s])
        line = f"{tasks_phrase(total)}: {parts} ({100 * done_count(counts) // total}%)"
        return line if now is None else f"{line} in {self.elapsed(context, now):.1f} s"

    def describe(self, entry: TaskEntry) -> str:
        error = f" — {entry.error.type_name}: {entry.error.message}" if entry.error else ""
        return f"{format_id(entry.task_id):>6}  {entry.name:<24} {entry.state.value}{error}"


def done_count(counts: Counter[TaskState]) -> int:
    return sum(n for state, n in counts.items() if state.is_terminal)


def tasks_phrase(count: int) -> str:
    """`1 task`, `3 tasks`."""
    return f"{count} task{'s' if count != 1 else ''}"


@dataclass(slots=True)
class PendingOutput:
    """Task output not shown yet, in arrival order; neighbouring writes to one stream merge,
    so a chatty task costs one message per repaint, not one per line."""

    chunks: list[tuple[str, str]] = field(default_factory=list)  # (stream, text)

    def add(self, stream: str, text: str) -> None:
        if self.chunks and self.chunks[-1][0] == stream:
            self.chunks[-1] = (stream, self.chunks[-1][1] + text)
        else:
            self.chunks.append((stream, text))

    def take(self) -> list[tuple[str, str]]:
        chunks, self.chunks = self.chunks, []
        return chunks


class RefProgress:
    """The states of a list of refs, by the task making each (None: a `put`, ready), folded
    from events; `advance` merges a state read directly, never moving a ref backwards."""

    def __init__(self, task_ids: list[TaskId | None]) -> None:
        self.states = [TaskState.READY if t is not None else TaskState.FINISHED for t in task_ids]
        self._counts = Counter(self.states)
        self._positions: dict[TaskId, list[int]] = {}
        for position, task_id in enumerate(task_ids):
            if task_id is not None:
                self._positions.setdefault(task_id, []).append(position)

    def apply(self, event: ev.Event) -> bool:
        """Fold one event in; whether it changed anything."""
        positions = self._positions.get(getattr(event, "task_id", None))  # type: ignore[arg-type]
        if not positions:
            return False
        state = TaskState.RUNNING if isinstance(event, ev.TaskStarted) else _ENDED.get(type(event))
        if state is None:
            return False
        return any([self.advance(p, state) for p in positions])

    def advance(self, position: int, state: TaskState) -> bool:
        old = self.states[position]
        if _STAGE.get(state, 2) <= _STAGE.get(old, 2):
            return False
        self.states[position] = state
        self._counts[old] -= 1
        self._counts[state] += 1
        return True

    def counts(self) -> Counter[TaskState]:
        return +self._counts

    def done(self) -> int:
        return done_count(self.counts())

    def summary(self) -> str:
        """`3/4 done: 1 running, 2 finished, 1 failed` — deterministic once all are done."""
        counts = self.counts()
        counts[TaskState.READY] += counts.pop(TaskState.WAITING_FOR_ARGS, 0)
        parts = ", ".join(
            f"{counts[s]} {'pending' if s is TaskState.READY else s.value}"
            for s in _ORDER
            if counts[s]
        )
        return f"{done_count(counts)}/{len(self.states)} done: {parts}"
