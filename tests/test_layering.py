"""The architecture is enforced: each layer imports only layers below it, and `import nbray`
does nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nbray"

# Bottom to top. A module may import modules of its own layer or of layers below.
LAYERS = [
    ["nbray.core"],
    [
        "nbray.exceptions",
        "nbray.serialization",
        "nbray.object_ref",
        "nbray.options",
        "nbray._current",
        "nbray._lazy",
        "nbray.arguments",
        "nbray.runtime_env",
        "nbray.placement",
        "nbray.runtime_context",
        "nbray.util.scheduling_strategies",  # pure data: the runtime's options name them
    ],
    ["nbray.local"],
    ["nbray.backends"],
    ["nbray.api", "nbray.remote_function", "nbray.actor", "nbray.events", "nbray.util"],
    ["nbray.jupyter"],
    ["nbray"],  # the package root: `import nbray` (lazy names) and `%load_ext nbray` (hooks)
]
FORBIDDEN_BELOW_JUPYTER = ("IPython", "ipywidgets", "ipykernel", "comm", "ray")


def layer_of(module: str) -> int:
    best = -1, -1  # (prefix length, layer)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = len(prefix), index
    assert best[1] >= 0, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [
                f"{node.module}.{alias.name}" for alias in node.names if node.module == "nbray"
            ]
    return names


def test_each_layer_imports_only_layers_below_it() -> None:
    for name, path in modules():
        own = layer_of(name)
        for imported in imports_of(path):
            top = imported.split(".")[0]
            if not name.startswith("nbray.jupyter"):
                assert top not in FORBIDDEN_BELOW_JUPYTER, f"{name} imports {imported}"
            if top == "nbray" and imported != "nbray":
                assert layer_of(imported) <= own, f"{name} (layer {own}) imports {imported}"


def test_the_core_is_pure() -> None:
    impure = {
        "threading",
        "subprocess",
        "socket",
        "os",
        "time",
        "multiprocessing",
        "queue",
        "select",
    }
    for name, path in modules():
        if layer_of(name) == 0:
            assert not impure & {i.split(".")[0] for i in imports_of(path)}, name


def test_importing_nbray_starts_nothing_and_imports_nothing_heavy() -> None:
    probe = (
        "import sys, threading, nbray, psutil\n"
        "names = ('IPython', 'ipywidgets', 'ray', 'numpy', 'cloudpickle', 'nbray.api')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(heavy, threading.active_count(), len(psutil.Process().children()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[] 1 0"


def test_a_worker_starts_without_the_drivers_modules() -> None:
    """Every worker pays for what its entry module imports, at every start (cold start)."""
    probe = (
        "import sys, nbray.local.worker_main\n"
        "names = ('nbray.local.driver', 'nbray.core.scheduler', 'nbray.local.event_loop',\n"
        "         'psutil', 'asyncio', 'concurrent.futures', 'numpy')\n"
        "print([m for m in names if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
