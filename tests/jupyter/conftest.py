"""A real IPython shell with the extension loaded, in text mode or with widgets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from nbray.jupyter import extension


@pytest.fixture(autouse=True, scope="session")
def jupyter_clients_event_loop() -> None:
    """jupyter_client keeps an asyncio loop per thread for good, made at its first use: made
    here, before any test, the leak guard does not count it as that test's."""
    from jupyter_core.utils import ensure_event_loop

    ensure_event_loop()


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    yield ip
    ip.run_line_magic("unload_ext", "nbray")
    InteractiveShell.clear_instance()


@pytest.fixture
def widget_session(shell: InteractiveShell) -> Iterator[extension.NotebookSession]:
    """The extension as in a notebook frontend: each cell with tasks shows a ledger widget."""
    extension.load(shell, use_widgets=True)
    session = extension.current_session()
    assert session is not None
    yield session
    extension.unload(shell)


def run(shell: InteractiveShell, code: str) -> object:
    result = shell.run_cell(code, store_history=True)  # as a kernel runs cells: In[N] advances
    result.raise_error()
    return result.result


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    """A named pipe: a task that opens it to read waits until the test writes to it."""
    path = tmp_path / "gate"
    os.mkfifo(path)
    return path
