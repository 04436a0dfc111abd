"""Functions defined in notebook cells keep their file name and source through nbray's export, so
remote tracebacks can say `Cell In[N], line L` and show the line, whatever cloudpickle does to
code objects (3.1.3 renames every file to "<dynamic-code>"). Checked with the cloudpickle this
environment has and, in a subprocess, with the oldest one nbray supports."""

from __future__ import annotations

import linecache
import os
import pickle
import re
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

from nbray.serialization import FunctionBlob, deserialize, load_function, serialize

# A cell as IPython compiles it: code in a file that exists only in memory.
CELL_FILE = "/tmp/ipykernel_0/no-such-cell-file.py"
CELL = """\
def helper(x):
    return [item for item in range(x) if item > 1 / 0]

def outer(x):
    def inner(y):
        return (lambda z: helper(z))(y)
    return inner(x)

class Model:
    def predict(self, x):
        return helper(x)

    @staticmethod
    def check(x):
        return helper(x)
"""
ROOT = Path(__file__).resolve().parent.parent
OLDEST_CLOUDPICKLE = Path(sys.prefix) / "oldest" / "cloudpickle"  # made by scripts/setup.sh


def define_cell() -> dict[str, Any]:
    linecache.cache[CELL_FILE] = (len(CELL), None, CELL.splitlines(True), CELL_FILE)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(CELL, CELL_FILE, "exec"), namespace)
    return namespace


def failing_frames(call: Any) -> list[tuple[str, int, str]]:
    try:
        call()
    except ZeroDivisionError as error:
        frames = traceback.extract_tb(error.__traceback__)
        return [(f.filename, f.lineno or 0, f.line or "") for f in frames if f.filename != __file__]
    raise AssertionError("the call did not fail")


def frames_after_export(function: Any, call: Any) -> list[tuple[str, int, str]]:
    """Export `function` as a worker gets it, forget the cell's source as a fresh worker would,
    load it, and return the frames of `call(loaded)` failing."""
    blob = FunctionBlob.export(function, getattr(function, "__name__", "f"))
    del linecache.cache[CELL_FILE]
    return failing_frames(lambda: call(load_function(blob.data)))


def check_cell_code_survives_export() -> None:
    """What the tests below assert; also run by a subprocess with another cloudpickle."""
    namespace = define_cell()
    helper_frame = (CELL_FILE, 2, "return [item for item in range(x) if item > 1 / 0]")
    cases = {
        "nested function and lambda": (namespace["outer"], lambda f: f(3)),
        "method of a cell's class": (namespace["Model"], lambda cls: cls().predict(3)),
        "static method": (namespace["Model"], lambda cls: cls.check(3)),
    }
    for case, (function, call) in cases.items():
        define_cell()
        frames = frames_after_export(function, call)
        assert all(file == CELL_FILE for file, _, _ in frames), (case, frames)
        assert helper_frame in frames, (case, frames)
    lambda_frame = (CELL_FILE, 6, "return (lambda z: helper(z))(y)")
    define_cell()
    assert lambda_frame in frames_after_export(namespace["outer"], lambda f: f(3))


def test_cell_code_keeps_its_file_and_source_through_export() -> None:
    check_cell_code_survives_export()


def test_functions_passed_as_values_keep_their_file() -> None:
    function = define_cell()["outer"]
    loaded = deserialize(serialize(function))
    assert loaded.__code__.co_filename == CELL_FILE
    assert loaded(0) == []  # the nested comprehension's code works too


def test_a_functions_source_travels_only_for_files_that_exist_in_memory() -> None:
    blob = FunctionBlob.export(check_cell_code_survives_export, "check")
    _, sources = pickle.loads(blob.data)
    assert sources == {}  # this file is on disk: workers read it there


def test_the_oldest_supported_cloudpickle_keeps_cell_code_too() -> None:
    # scripts/setup.sh installs the oldest cloudpickle pyproject.toml allows into this folder.
    assert (OLDEST_CLOUDPICKLE / "cloudpickle").is_dir(), "run scripts/setup.sh"
    check = (
        "import cloudpickle, tests.test_serialization as t;"
        "print(cloudpickle.__version__); t.check_cell_code_survives_export()"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(OLDEST_CLOUDPICKLE), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", check], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == oldest_supported_cloudpickle()


def oldest_supported_cloudpickle() -> str:
    (version,) = re.findall(r'"cloudpickle>=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    return str(version)
