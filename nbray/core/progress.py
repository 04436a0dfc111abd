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
    TaskState.RUNNING,
    TaskState.FINISHED,
    TaskState.FAILED,
    TaskState.CANCELLED,
)


@dataclass(slots=True)
class TaskEntry:
    task_id: TaskId
    name: str
    context: object
    state: TaskState
    submitted: float
    started: float | None = None
    ended: float | None = None
    error: ErrorInfo | None = None


@dataclass(slots=True)
class Ledger:
    tasks: dict[TaskId, TaskEntry] = field(default_factory=dict)
    by_context: dict[object, list[TaskId]] = field(default_factory=dict)

    def apply(self, event: ev.Event) -> object | None:
        """Fold one event in; the context whose tasks it touched, if any."""
        if isinstance(event, ev.TaskSubmitted):
            spec = event.spec
            state = TaskState.READY if not spec.dependencies else TaskState.WAITING_FOR_ARGS
            self.tasks[spec.task_id] = TaskEntry(
                spec.task_id, spec.name, spec.context, state, event.time
            )
            self.by_context.setdefault(spec.context, []).append(spec.task_id)
            return spec.context
        entry = self.tasks.get(getattr(event, "task_id", None))  # type: ignore[arg-type]
        if entry is None:
            return None
        if isinstance(event, ev.TaskStarted):
            entry.state, entry.started = TaskState.RUNNING, event.time
        elif isinstance(event, ev.TaskFinished):
            entry.state, entry.ended = TaskState.FINISHED, event.time
        elif isinstance(event, ev.TaskFailed):
            entry.state, entry.ended, entry.error = TaskState.FAILED, event.time, event.error
        elif isinstance(event, ev.TaskCancelled):
            entry.state, entry.ended = TaskState.CANCELLED, event.time
        else:
            return None
        return entry.context

    def of(self, context: object) -> list[TaskEntry]:
        return [self.tasks[t] for t in self.by_context.get(context, ())]

    def counts(self, context: object) -> Counter[TaskState]:
        return Counter(entry.state for entry in self.of(context))

    def failures(self, context: object | None = None) -> list[TaskEntry]:
        entries = self.tasks.values() if context is None else self.of(context)
        return [e for e in entries if e.state is TaskState.FAILED]

    def elapsed(self, context: object, now: float) -> float:
        entries = self.of(context)
        if not entries:
            return 0.0
        done = all(e.ended is not None for e in entries)
        end = max(e.ended for e in entries if e.ended is not None) if done else now
        return end - min(e.submitted for e in entries)

    def summary(self, context: object, now: float) -> str:
        """One deterministic line: `4 tasks: 1 running, 3 finished (75%) in 1.2 s`."""
        counts = self.counts(context)
        total = sum(counts.values())
        if not total:
            return "no tasks"
        parts = ", ".join(f"{counts[s]} {s.value}" for s in _ORDER if counts[s])
        done = counts[TaskState.FINISHED] + counts[TaskState.FAILED] + counts[TaskState.CANCELLED]
        plural = "s" if total != 1 else ""
        return (
            f"{total} task{plural}: {parts} ({100 * done // total}%) "
            f"in {self.elapsed(context, now):.1f} s"
        )

    def describe(self, entry: TaskEntry) -> str:
        error = f" — {entry.error.type_name}: {entry.error.message}" if entry.error else ""
        return f"{format_id(entry.task_id):>6}  {entry.name:<24} {entry.state.value}{error}"
