"""Remote tracebacks that name notebook code the way IPython does: `Cell In[3], line 2`.

A task's traceback is formatted in its worker, where a function defined in a cell has the file
name IPython compiled the cell under (e.g. `/tmp/ipykernel_7/1234.py`). Only the kernel knows
which cell that was (`shell.compile.format_code_name`), so the frames are relabelled here.
"""

from __future__ import annotations

import re
from typing import Any

from nbray.exceptions import RayTaskError, RemoteTraceback

_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)')


def label_cells(text: str, shell: Any) -> str:
    """`File "<cell file>", line L` -> `Cell In[N], line L` for every frame from a cell."""

    def label(match: re.Match[str]) -> str:
        named = shell.compile.format_code_name(match["file"])
        if named is None:
            return match[0]
        kind, name = named
        return f"{kind} {name}, line {match['line']}"

    return _FRAME.sub(label, text)


def install(shell: Any) -> None:
    """Show the remote traceback of a `RayTaskError` raised in a cell with its cells named."""

    def show(
        self: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: Any = None
    ) -> Any:
        cause = value.__cause__
        if isinstance(cause, RemoteTraceback):
            cause.traceback_text = label_cells(cause.traceback_text, self)
        self.showtraceback((etype, value, tb), tb_offset=tb_offset)  # IPython's own display
        return None

    shell.set_custom_exc((RayTaskError,), show)


def uninstall(shell: Any) -> None:
    if RayTaskError in shell.custom_exceptions:
        shell.set_custom_exc((), None)
