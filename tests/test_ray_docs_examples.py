"""Every Python example of shared/reference/ray-docs/ runs with `import nbray as ray`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "ray-docs"

_spec = importlib.util.spec_from_file_location(
    "run_ray_docs", ROOT / "examples" / "run_ray_docs.py"
)
assert _spec and _spec.loader
runner = importlib.util.module_from_spec(_spec)
sys.modules["run_ray_docs"] = runner  # dataclasses look their module up there
_spec.loader.exec_module(runner)

EXPECTED = {
    "objects_put_get.py": ["`get` timed out."],
    "objects_passing_arguments.py": [
        "1 2 3\n",
        "args: [ObjectRef(",
        "values: [1, 2, 3]",
        "actor got obj",
        "actor got [ObjectRef(",
        "method got obj",
        "method got [ObjectRef(",
        "nested: 1",
    ],
    "object_store.py": ["0.0", "10 ready, 90 pending", "(np.float64(5.0), np.float64(0.0))"],
    "tasks.py": [
        "1 ready, 2 remaining",
        "generator returns: [0, 1, 2]",
        "Object reference was cancelled.",
    ],
    "tutorial.py": [
        "f.remote(0) -> 1",
        "two returns -> [1, 2]",
        "4 of 5 ready",
        "still running: 5",
    ],
}


@pytest.mark.parametrize("example", runner.EXAMPLES, ids=lambda e: e.file)
def test_the_example_runs_and_shows_what_the_docs_say(example: object) -> None:
    result = runner.run(example)
    assert result.returncode == 0, result.stderr
    for expected in EXPECTED[example.file]:  # type: ignore[attr-defined]
        assert expected in result.stdout
    if example.file == "objects_passing_arguments.py":  # type: ignore[attr-defined]
        assert result.stdout.splitlines().count("1 2 3") == 2  # whole lines, from two tasks
    if example.file == "tutorial.py":  # type: ignore[attr-defined]
        # "If a task throws an exception, that exception will be printed in the background."
        assert "Exception: This task failed!!" in result.stderr


def test_every_example_is_the_docs_code() -> None:
    """Each line not marked `# nbray:` stands in the page the example comes from."""
    if not REFERENCE.is_dir():
        pytest.skip(f"the reference pages are not beside the repository ({REFERENCE})")
    for example in runner.EXAMPLES:
        page = {line.strip() for line in (REFERENCE / example.source_page).read_text().splitlines()}
        body = example.path.read_text().split('"""', 2)[2]  # after the module docstring
        for line in body.splitlines():
            if line.strip() and "# nbray:" not in line:
                assert line.strip() in page, f"{example.file}: {line.strip()!r} is not in the docs"


def test_every_reference_page_has_an_example() -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"the reference pages are not beside the repository ({REFERENCE})")
    pages_with_code = {
        p.name
        for p in REFERENCE.glob("*.txt")
        if "@ray.remote" in p.read_text() or "ray.put" in p.read_text()
    }
    assert pages_with_code <= {e.source_page for e in runner.EXAMPLES}
