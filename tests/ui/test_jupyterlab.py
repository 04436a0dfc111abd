"""JupyterLab in headless Chromium runs a notebook with nbray, as a user sees it.

The recipe is DESIGN.md's: Debian's chromium driven by Playwright, `jupyter lab` on 127.0.0.1
with a random token and throw-away settings, every cell kept in the DOM (`windowingMode: none`),
a cell done when its prompt no longer shows `[*]`. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, expect, sync_playwright

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 120_000
expect.set_options(timeout=TIMEOUT_MS)
KERNEL_IDLE = (
    "window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'"
)

CELLS = [
    "%load_ext nbray",
    "import nbray\n"
    "@nbray.remote\ndef gated(path):\n    with open(path) as gate:\n        return gate.read()\n"
    "@nbray.remote\ndef talk():\n    print('printed by a task')\n    return 1\n"
    "@nbray.remote\ndef broken():\n    raise ValueError('broken on purpose')",
    "ref = gated.remote('gate-1')  # finishes while the next cell runs",
    "open('gate-1', 'w').write('go')\nopen('gate-2').read()  # blocks until the test lets go",
    "nbray.get(talk.remote())",
    "nbray.get(broken.remote())",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """A JupyterLab server on a notebook of CELLS; its URL with the token."""
    root = tmp_path / "notebooks"
    root.mkdir()
    for gate in ("gate-1", "gate-2"):
        os.mkfifo(root / gate)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, root / "demo.ipynb")
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "NBRAY_NONINTERACTIVE"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "w"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{url}/api/status?token={token}", server)
        yield f"{url}/lab/tree/demo.ipynb?token={token}"
    finally:
        server.terminate()
        server.wait(timeout=60)


def wait_for_server(status_url: str, server: subprocess.Popen[bytes]) -> None:
    while server.poll() is None:
        try:
            with urllib.request.urlopen(status_url, timeout=5):
                return
        except OSError:  # not listening yet: poll a starting server (setup, not a test sync)
            time.sleep(0.2)
    raise AssertionError(f"jupyter lab exited with {server.returncode}")


@pytest.fixture
def page(lab: str) -> Iterator[Page]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 2000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(lab)
        try:
            yield page
        finally:
            page.screenshot(path=ARTIFACTS / "jupyterlab-final.png", full_page=True)
            browser.close()


def cell(page: Page, index: int):  # type: ignore[no-untyped-def]
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


@pytest.mark.timeout(600)
def test_a_notebook_shows_live_ledgers_output_and_errors_in_their_cells(
    page: Page, tmp_path: Path
) -> None:
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    page.wait_for_function(f"() => document.querySelector('.jp-Dialog') || ({KERNEL_IDLE})")
    if page.locator(".jp-Dialog").count():  # "Select Kernel"
        page.locator(".jp-Dialog .jp-mod-accept").click()
    page.wait_for_function(f"() => {KERNEL_IDLE}")
    # Not awaited: the command's promise settles only when every cell has run.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    # While cell 3 blocks, cell 2's ledger (a finished cell) shows its task finishing.
    submitted, blocking = cell(page, 2), cell(page, 3)
    expect(submitted.locator(".jp-Cell-outputArea")).to_contain_text("1 task: 1 finished")
    expect(blocking.locator(".jp-InputPrompt")).to_contain_text("[*]")
    page.screenshot(path=ARTIFACTS / "jupyterlab-ledger-updates-while-a-later-cell-runs.png")
    with open(tmp_path / "notebooks" / "gate-2", "w") as gate:
        gate.write("go")

    expect(cell(page, 5).locator(".jp-InputPrompt")).not_to_contain_text("[*]")
    expect(cell(page, 5).locator(".jp-InputPrompt")).to_contain_text("[")
    expect(cell(page, 4).locator(".jp-Cell-outputArea")).to_contain_text("printed by a task")
    expect(cell(page, 4).locator(".jp-Cell-outputArea")).not_to_contain_text("Warning")
    for other in (2, 3, 5):
        expect(cell(page, other).locator(".jp-Cell-outputArea")).not_to_contain_text("printed by")
    expect(cell(page, 5).locator(".jp-Cell-outputArea")).to_contain_text("Cell In[")
    expect(cell(page, 5).locator(".jp-Cell-outputArea")).to_contain_text("broken on purpose")
