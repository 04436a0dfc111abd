"""Runtime environments, as Ray's `runtime_env`: environment variables, a working directory and
modules a task (or actor, or the whole runtime) runs with.

On one machine nothing needs uploading: `working_dir` and `py_modules` are local paths, used in
place. Tasks run in the kernel's own Python environment, so the fields that install packages
(`pip`, `conda`, `uv`, `container`, `image_uri`) are refused, saying what to do instead.

    @nbray.remote(runtime_env={"env_vars": {"MODE": "fast"}, "working_dir": "data/"})
    def load(name): ...

A task's environment is set while it runs and undone after (its worker runs other tasks next);
an actor's is set for its whole life. Nested tasks and actors inherit their parent's, with
their own fields taking precedence and `env_vars` merged key by key, as in Ray.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import sys
import types
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

_FIELDS = frozenset({"env_vars", "working_dir", "py_modules", "excludes", "config"})
_INSTALLERS = frozenset({"pip", "conda", "uv", "container", "image_uri"})


class Environment(NamedTuple):
    """A checked runtime_env, in the form tasks carry: absolute paths, sorted variables."""

    env_vars: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None
    py_modules: tuple[str, ...] = ()  # directories to put on sys.path (or importable wheels)

    def merged_into(self, parent: Environment | None) -> Environment:
        """This environment for a child of `parent`: its own fields win, variables merge."""
        if parent is None:
            return self
        variables = {**dict(parent.env_vars), **dict(self.env_vars)}
        return Environment(
            tuple(sorted(variables.items())),
            self.working_dir or parent.working_dir,
            self.py_modules or parent.py_modules,
        )

    def as_dict(self) -> dict[str, Any]:
        """As Ray's `get_runtime_context().runtime_env` shows it."""
        shown: dict[str, Any] = {}
        if self.env_vars:
            shown["env_vars"] = dict(self.env_vars)
        if self.working_dir:
            shown["working_dir"] = self.working_dir
        if self.py_modules:
            shown["py_modules"] = list(self.py_modules)
        return shown


class RuntimeEnv(dict):  # type: ignore[type-arg]
    """Ray's `ray.runtime_env.RuntimeEnv`: a dict of runtime_env fields, checked when made."""

    def __init__(
        self,
        *,
        env_vars: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        py_modules: list[Any] | None = None,
        **fields: Any,
    ) -> None:
        given = {"env_vars": env_vars, "working_dir": working_dir, "py_modules": py_modules}
        super().__init__({k: v for k, v in {**given, **fields}.items() if v is not None})
        environment(self)  # refuses what nbray cannot honour, at once


def environment(runtime_env: object) -> Environment | None:
    """The checked environment of a `runtime_env` option (None for none); what nbray cannot
    honour raises, never silently ignored."""
    if runtime_env is None:
        return None
    if not isinstance(runtime_env, Mapping):
        raise TypeError(
            f"runtime_env must be a dict (or nbray.runtime_env.RuntimeEnv), got {runtime_env!r}."
        )
    for name in runtime_env:
        if name in _INSTALLERS:
            raise ValueError(
                f"runtime_env={{{name!r}: ...}} is not supported: nbray runs tasks in the "
                "kernel's own Python environment, on this machine. Install what they need "
                "there (in a notebook: %pip install ...), then restart the runtime."
            )
        if name not in _FIELDS:
            close = difflib.get_close_matches(str(name), sorted(_FIELDS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown runtime_env field {name!r}.{hint} nbray supports "
                f"{', '.join(sorted(_FIELDS))}."
            )
    return Environment(
        _variables(runtime_env.get("env_vars")),
        _directory(runtime_env.get("working_dir")),
        tuple(_module_path(module) for module in runtime_env.get("py_modules") or ()),
    )


def _variables(env_vars: object) -> tuple[tuple[str, str], ...]:
    if env_vars is None:
        return ()
    if not isinstance(env_vars, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env_vars.items()
    ):
        raise TypeError(
            f"runtime_env env_vars must be a dict of str to str, got {env_vars!r:.100} "
            "(as in Ray: write numbers as strings)."
        )
    return tuple(sorted(env_vars.items()))


def _local_path(value: object, field: str) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"runtime_env {field} must be a path, got {value!r}.")
    path = os.fspath(value)
    if "://" in path:
        raise ValueError(
            f"runtime_env {field}={path!r}: nbray runs on this machine and uses local paths "
            "only; download the files and pass their directory."
        )
    absolute = os.path.abspath(os.path.expanduser(path))  # relative to where it was given
    if not os.path.exists(absolute):
        raise ValueError(f"runtime_env {field}={path!r}: {absolute} does not exist.")
    return absolute


def _directory(value: object) -> str | None:
    if value is None:
        return None
    path = _local_path(value, "working_dir")
    if not os.path.isdir(path):
        raise ValueError(f"runtime_env working_dir={value!r} is not a directory.")
    return path


def _module_path(module: object) -> str:
    """What to put on sys.path so the module imports by its name: the directory holding a
    package or a .py file, or the wheel itself (pure-Python wheels import from the zip)."""
    if isinstance(module, types.ModuleType):
        file = getattr(module, "__file__", None)
        if file is None:
            raise ValueError(f"runtime_env py_modules: module {module.__name__} has no file.")
        is_package = os.path.basename(file) == "__init__.py"
        module = os.path.dirname(file) if is_package else file
    path = _local_path(module, "py_modules")
    return path if path.endswith(".whl") else os.path.dirname(path)


@contextlib.contextmanager
def applied(env: Environment | None) -> Iterator[None]:
    """Run the body in `env`, and undo it after (the process runs other tasks next)."""
    if env is None:
        yield
        return
    saved = {name: os.environ.get(name) for name, _ in env.env_vars}
    cwd = os.getcwd() if env.working_dir else None
    added = apply(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if cwd is not None:
            os.chdir(cwd)
        for path in added:
            with contextlib.suppress(ValueError):  # the task removed it itself
                sys.path.remove(path)


def apply(env: Environment) -> list[str]:
    """Set `env` in this process (for good, unless undone); the paths it put on sys.path.
    Values may name other variables, `${HOME}/x`, as in Ray."""
    for name, value in env.env_vars:
        os.environ[name] = os.path.expandvars(value)
    if env.working_dir:
        os.chdir(env.working_dir)
    added = [p for p in (env.working_dir, *env.py_modules) if p and p not in sys.path]
    sys.path[:0] = added
    return added
