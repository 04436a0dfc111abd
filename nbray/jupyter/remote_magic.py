"""`%%remote`: run a cell's body as a task.

    %%remote [names ...] [--num-cpus N] [--num-gpus N] [--resources R] [--timeout S]
             [--retries N] [--block]

The variables the body reads are captured from the notebook (an `ObjectRef` among them is
resolved to its value, like a top-level argument). `names` become `ObjectRef`s in the notebook
at once; the value of the body's last expression is shown in the cell when the task is done.
Options mirror `.options()`: `--resources` is JSON or `name=amount,...`; `--retries` retries
crashes and exceptions; `--timeout` cancels the task if it has not finished in S seconds;
`--block` waits and shows the result as a normal cell would.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import json
import threading
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

import nbray
from nbray.exceptions import GetTimeoutError
from nbray.jupyter.cell_task import run_cell_body
from nbray.jupyter.magics import SessionMagics
from nbray.object_ref import ObjectRef

_NOT_CAPTURED = {"In", "Out", "get_ipython", "exit", "quit"}
USAGE = (__doc__ or "").split("\n\n")[1]


@magics_class
class RemoteMagics(SessionMagics):
    @magic_arguments()
    @argument("names", nargs="*", help="variables of the cell to bind as ObjectRefs")
    @argument("--num-cpus", type=float, default=1)
    @argument("--num-gpus", type=float, default=0)
    @argument("--resources", type=str, default="")
    @argument("--timeout", type=float, default=None)
    @argument("--retries", type=int, default=0)
    @argument("--block", action="store_true")
    @cell_magic
    def remote(self, line: str, cell: str) -> Any:
        options = parse_options(line)
        number = self.ip.execution_count - 1  # IPython counted this cell already
        source = f"# %%remote {line}\n{cell}"  # line numbers as in the cell
        filename = self.ip.compile.cache(source, number)
        try:
            free = sorted(read_names(cell))
        except SyntaxError as error:
            raise UsageError(f"The %%remote cell is not valid Python: {error}") from None
        names = tuple(n for n in free if n in self.ip.user_ns and n not in _NOT_CAPTURED)
        task = nbray.remote(run_cell_body).options(
            name=f"remote cell In[{number}]",
            num_returns=1 + len(options.names),
            num_cpus=options.num_cpus,
            num_gpus=options.num_gpus,
            resources=options.resources,
            max_retries=options.retries,
            retry_exceptions=options.retries > 0,
        )
        values = [self.ip.user_ns[n] for n in names]
        refs = task.remote(source, filename, names, tuple(options.names), *values)
        refs = refs if isinstance(refs, list) else [refs]
        result, bound = refs[0], refs[1:]
        self.ip.user_ns.update(zip(options.names, bound, strict=True))
        if options.block:
            return _wait(result, options.timeout)
        if options.timeout is not None:
            _cancel_after(result, options.timeout)
        self.session.show_when_done(result)
        return None


class _Parsed(argparse.Namespace):
    names: list[str]
    num_cpus: float
    num_gpus: float
    resources: dict[str, float]
    timeout: float | None
    retries: int
    block: bool


def parse_options(line: str) -> _Parsed:
    """The magic's options, checked; a `UsageError` with the usage for anything wrong."""
    try:
        options = parse_argstring(RemoteMagics.remote, line)
    except UsageError as error:
        raise UsageError(f"{error}\n{USAGE}") from None
    for name in options.names:
        if not name.isidentifier():
            raise UsageError(f"{name!r} is not a variable name.\n{USAGE}")
    if options.timeout is not None and options.timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds.\n{USAGE}")
    if options.retries < 0:
        raise UsageError(f"--retries must be 0 or more.\n{USAGE}")
    options.resources = _resources(options.resources)
    parsed: _Parsed = options
    return parsed


def _resources(text: str) -> dict[str, float]:
    if not text:
        return {}
    try:
        if text.lstrip().startswith("{"):
            value = json.loads(text)
        else:
            value = {k.strip(): float(v) for k, v in (p.split("=") for p in text.split(","))}
    except ValueError:
        raise UsageError(
            f"--resources takes JSON or name=amount,... (e.g. TPU=1,memory=2), got {text!r}."
            f"\n{USAGE}"
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"--resources must name amounts, got {text!r}.\n{USAGE}")
    return value


def read_names(source: str) -> set[str]:
    """Names the code reads (and that a notebook variable could provide)."""
    tree = ast.parse(source)
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return {n for n in read if not hasattr(builtins, n)}


def _wait(ref: ObjectRef[Any], timeout: float | None) -> Any:
    try:
        return nbray.get(ref, timeout=timeout)
    except GetTimeoutError:
        nbray.cancel(ref)
        raise GetTimeoutError(
            f"The %%remote cell did not finish within --timeout {timeout:g} s; it was cancelled."
        ) from None


def _cancel_after(ref: ObjectRef[Any], timeout: float) -> None:
    timer = threading.Timer(timeout, nbray.cancel, [ref])
    timer.daemon = True
    timer.start()
    ref.future().add_done_callback(lambda _: timer.cancel())
