"""`%%remote`: a cell's body as a task, through a real IPython shell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import nbray
from nbray.jupyter.remote_magic import read_names
from tests.jupyter.conftest import run


@pytest.fixture
def loaded(shell: InteractiveShell) -> InteractiveShell:
    shell.run_line_magic("load_ext", "nbray")
    return shell


def test_block_runs_the_body_remotely_with_the_notebooks_variables(
    loaded: InteractiveShell,
) -> None:
    run(
        loaded,
        "import os, nbray, numpy as np\ndef double(x):\n    return 2 * x\n"
        "data = nbray.put(np.arange(10))\nscale = 3",
    )
    value = run(loaded, "%%remote --block\npid = os.getpid()\n(double(data.sum()) * scale, pid)")
    assert value[0] == 270  # the ref `data` arrived as its value
    assert value[1] != os.getpid()  # it ran in a worker


def test_names_are_bound_as_refs_and_the_value_printed_when_done(
    loaded: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    count = loaded.execution_count
    run(loaded, "%%remote a b\na = [1, 2]\nb = {'k': a}\nlen(b)")
    a, b = loaded.user_ns["a"], loaded.user_ns["b"]
    assert isinstance(a, nbray.ObjectRef) and isinstance(b, nbray.ObjectRef)
    assert nbray.get([a, b]) == [[1, 2], {"k": [1, 2]}]
    capsys.readouterr()
    run(loaded, "x = 1")  # without widgets the value comes with the next cell's report
    assert f"nbray: output of In[{count}]'s tasks since it ran:\n1\n" in capsys.readouterr().out


def test_a_missing_binding_or_an_error_reads_like_a_cell(loaded: InteractiveShell) -> None:
    with pytest.raises(NameError, match="did not define c"):
        run(loaded, "%%remote --block c\nd = 1")
    count = loaded.execution_count
    result = loaded.run_cell("%%remote --block\nx = 1\nraise ValueError(x)", store_history=True)
    assert isinstance(result.error_in_exec, ValueError)
    traceback = str(result.error_in_exec.__cause__)
    assert f"Cell In[{count}], line 3" in traceback and "raise ValueError(x)" in traceback


def test_options_reach_the_task(loaded: InteractiveShell, gate: Path) -> None:
    with pytest.raises(nbray.exceptions.RayError, match="TPU"):  # unschedulable: fails at once
        run(loaded, "%%remote --block --resources TPU=1\n1")
    with pytest.raises(nbray.exceptions.RayError, match="TPU"):
        run(loaded, '%%remote --block --resources {"TPU":2}\n1')
    fifo = gate
    run(loaded, f"fifo = {str(fifo)!r}")
    with pytest.raises(nbray.exceptions.GetTimeoutError, match="it was cancelled"):
        run(loaded, "%%remote --block --timeout 0.2\nopen(fifo).read()")
    assert run(loaded, "%%remote --block --num-cpus 2 --num-gpus 0 --retries 2\n7") == 7


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--num-cpus lots", "invalid float"),
        ("--timeout -1", "--timeout must be a positive"),
        ("--retries -2", "--retries must be 0 or more"),
        ("--resources TPU", "--resources takes JSON"),
        ("1x", "'1x' is not a variable name"),
        ("--frobnicate", "unrecognized arguments"),
    ],
)
def test_bad_options_are_usage_errors(loaded: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as error:
        loaded.run_cell_magic("remote", line, "1")
    assert "%%remote [names ...]" in str(error.value)


def test_only_the_names_the_body_reads_are_captured() -> None:
    assert read_names("y = x + len(z)\ndef f():\n    return w\nprint(y)") == {"x", "z", "w", "y"}
