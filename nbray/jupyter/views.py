"""What a cell shows of its tasks: a live ipywidgets ledger, or the same facts as plain text.

Both render the pure `Ledger`. Widgets are painted from the session's painter thread, also
after their cell has finished, so they only use the routes DESIGN.md found to reach a past cell:
trait updates and `Output.append_*` — never `with output:`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence

import ipywidgets as widgets

from nbray.core.progress import Ledger, TaskEntry, done_count
from nbray.core.task import TaskState

GRID_LIMIT = 400  # squares drawn; beyond that the bar and the counts tell the story
STATE_COLOURS = {
    TaskState.WAITING_FOR_ARGS: "#d0d0d0",
    TaskState.READY: "#d0d0d0",
    TaskState.QUEUED: "#d0d0d0",
    TaskState.RUNNING: "#2f80ed",
    TaskState.FINISHED: "#27ae60",
    TaskState.FAILED: "#eb5757",
    TaskState.CANCELLED: "#f2994a",
}


def grid_html(states: Sequence[TaskState], total: int | None = None) -> str:
    """One square per task (or ref), coloured by state, with the state as its tooltip; the first
    GRID_LIMIT of `total`."""
    total = len(states) if total is None else total
    squares = "".join(
        f'<span title="{s.value}" style="display:inline-block;width:9px;height:9px;'
        f'margin:1px;border-radius:2px;background:{STATE_COLOURS[s]}"></span>'
        for s in states[:GRID_LIMIT]
    )
    more = f" +{total - GRID_LIMIT} more" if total > GRID_LIMIT else ""
    return f'<div style="line-height:9px">{squares}{more}</div>'


class LedgerWidget(widgets.VBox):
    """One cell's tasks: bar, counts and time, a cancel button, a readiness grid, and
    collapsible sections with what the tasks printed and their errors."""

    def __init__(
        self,
        label: str,
        on_cancel: Callable[[], object],
        label_traceback: Callable[[str], str] = str,
    ) -> None:
        self.label = label
        self.label_traceback = label_traceback
        self.bar = widgets.IntProgress(value=0, min=0, max=1, layout={"width": "200px"})
        self.summary = widgets.HTML()
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop", tooltip="Cancel this cell's unfinished tasks"
        )
        self.cancel_button.on_click(lambda _: on_cancel())
        self.grid = widgets.HTML()
        self.output = widgets.Output()
        self.errors = widgets.Output()
        self.details = widgets.Accordion(
            children=[self.output, self.errors], titles=("Output", "Errors")
        )
        self.details.layout.display = "none"  # until there is something to show
        self._text = f"nbray {label}: task ledger (a live widget in Jupyter)"
        self._errors_shown: list[int] = []
        header = widgets.HBox([self.bar, self.summary, self.cancel_button])
        super().__init__([header, self.grid, self.details])

    def paint(self, ledger: Ledger, context: object, now: float) -> None:
        counts = ledger.counts(context)
        live = ledger.is_live(context)
        self._text = f"nbray {self.label}: {ledger.summary(context, None)}"
        self.bar.max = max(1, sum(counts.values()))
        self.bar.value = done_count(counts)
        failed = counts[TaskState.FAILED]
        self.bar.bar_style = "danger" if failed else ("" if live else "success")
        self.summary.value = html.escape(f"{self.label}: {ledger.summary(context, now)}")
        self.cancel_button.disabled = not live
        self.grid.value = grid_html(ledger.states(context, GRID_LIMIT), sum(counts.values()))
        for entry in ledger.failures(context)[len(self._errors_shown) :]:
            self._show_error(ledger, entry)

    def write(self, chunks: Iterable[tuple[str, str]]) -> None:
        for stream, text in chunks:
            if stream == "stderr":
                self.output.append_stderr(text)
            else:
                self.output.append_stdout(text)
            self._open(0)

    def show_result(self, value: object) -> None:
        """A value to show in this cell (a `%%remote` cell's last expression)."""
        self.output.append_display_data(value)
        self._open(0)

    def _show_error(self, ledger: Ledger, entry: TaskEntry) -> None:
        self._errors_shown.append(entry.task_id)
        traceback = self.label_traceback(entry.error.traceback if entry.error else "")
        self.errors.append_stderr(f"{ledger.describe(entry).strip()}\n{traceback}\n")
        self.details.set_title(1, f"Errors ({len(self._errors_shown)})")
        self._open(1)

    def _open(self, section: int) -> None:
        if self.details.layout.display == "none":
            self.details.layout.display = None
            self.details.selected_index = section

    def __repr__(self) -> str:  # the text fallback where widgets cannot render
        return self._text


def cell_text(ledger: Ledger, context: object, label: str) -> str:
    """The deterministic text report of a cell's tasks (no widgets, e.g. under nbval)."""
    failed = ledger.failures(context)
    hint = "; %nbray errors shows the tracebacks" if failed else ""
    return f"nbray {label}: {ledger.summary(context, None)}{hint}"
