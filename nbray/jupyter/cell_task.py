"""The task a `%%remote` cell runs in a worker. Kept free of IPython: workers import it."""

from __future__ import annotations

import ast
from typing import Any

from nbray.serialization import remember_source


def run_cell_body(
    source: str, filename: str, names: tuple[str, ...], outputs: tuple[str, ...], *values: Any
) -> Any:
    """Run a cell's code with the captured variables; the value of its last expression, then
    the values of `outputs` (the variables `%%remote a b` binds)."""
    # Source lines for the worker's traceback; the kernel relabels the file as "Cell In[N]".
    remember_source(filename, source.splitlines(True))
    namespace: dict[str, Any] = {"__name__": "__main__", **dict(zip(names, values, strict=True))}
    tree = ast.parse(source, filename)
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        tree.body.pop()
    else:
        last = None
    exec(compile(tree, filename, "exec"), namespace)
    result = None
    if last is not None:
        result = eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
    if not outputs:
        return result
    missing = [name for name in outputs if name not in namespace]
    if missing:
        raise NameError(f"The cell did not define {', '.join(missing)}, which %%remote binds.")
    return (result, *(namespace[name] for name in outputs))
