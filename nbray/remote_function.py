"""`RemoteFunction`: what `@nbray.remote` makes of a function."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from nbray.arguments import ArgumentCheck
from nbray.object_ref import ObjectRefGenerator
from nbray.options import TaskOptions
from nbray.serialization import FunctionBlob


class RemoteFunction:
    def __init__(
        self,
        function: Callable[..., Any],
        options: TaskOptions,
        export: _Export | None = None,
    ) -> None:
        self._function = function
        self._options = options
        self._export = export or _Export(function)
        functools.update_wrapper(self, function)

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function as a task; its ObjectRef (a list of them if num_returns > 1)."""
        from nbray.api import current_backend

        export = self._export
        if export.check is not None:
            export.check(args, kwargs)
        refs = current_backend().submit(export.blob(), args, kwargs, self._options)
        num_returns = self._options.num_returns
        if self._options.streaming:
            return ObjectRefGenerator(refs[0])
        if num_returns == 1 or self._options.dynamic:
            return refs[0]
        return None if num_returns == 0 else refs

    def options(self, **options: Any) -> RemoteFunction:
        """The same function with some options changed, e.g. `f.options(num_cpus=2).remote()`."""
        return RemoteFunction(self._function, self._options.updated(**options), self._export)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = getattr(self._function, "__name__", "f")
        raise TypeError(
            f"Remote functions cannot be called directly. Instead of running '{name}()', "
            f"try '{name}.remote()'."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # A task that calls another remote function carries it by value, without its lock.
        return RemoteFunction, (self._function, self._options)

    def __repr__(self) -> str:
        return f"<nbray remote function {getattr(self._function, '__qualname__', self._function)}>"


class _Export:
    """The function pickled once, at its first call, and shared by its `.options()` copies.

    As in Ray, the function (with the globals it uses) is captured at the first `.remote()`;
    redefine it (re-run its cell) to ship new code.
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        self._function = function
        self.check = ArgumentCheck.of(function, getattr(function, "__name__", "f"))
        self._blob: FunctionBlob | None = None
        self._lock = threading.Lock()

    def blob(self) -> FunctionBlob:
        if self._blob is None:
            with self._lock:
                if self._blob is None:
                    name = getattr(self._function, "__name__", repr(self._function))
                    self._blob = FunctionBlob.export(self._function, name)
        return self._blob
