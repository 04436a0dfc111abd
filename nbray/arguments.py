"""Arguments checked against the signature at `.remote()`, as Ray binds them: a wrong call fails in
the caller, naming the function, instead of later in a worker."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

_EMPTY = inspect.Parameter.empty
_Spec = tuple[tuple[str, int, bool], ...]  # (name, kind, has a default) per parameter


class ArgumentCheck:
    """The parameters of one function, made once per function (remote functions and actor
    classes keep theirs). A check costs a length test for the common call (positional arguments
    only, the right number of them), `Signature.bind` otherwise. It travels with actor handles
    as names and kinds only: the defaults themselves may not pickle."""

    __slots__ = ("_fewest", "_most", "_name", "_signature", "_spec")

    def __init__(self, name: str, spec: _Spec) -> None:
        self._name, self._spec = name, spec
        self._signature = inspect.Signature(
            [
                inspect.Parameter(p, inspect._ParameterKind(kind), default=... if d else _EMPTY)
                for p, kind, d in spec
            ]
        )
        positional = [s for s in spec if s[1] <= inspect.Parameter.POSITIONAL_OR_KEYWORD]
        required_keyword = any(k == inspect.Parameter.KEYWORD_ONLY and not d for _, k, d in spec)
        self._fewest = sum(1 for _, _, d in positional if not d)
        varargs = any(k == inspect.Parameter.VAR_POSITIONAL for _, k, _ in spec)
        self._most = math.inf if varargs else len(positional)
        if required_keyword:  # no call without keywords can be right: always bind
            self._fewest = 1 << 62

    @classmethod
    def of(
        cls, function: Callable[..., Any], name: str, *, drop_first: bool = False
    ) -> ArgumentCheck | None:
        """The check for `function` (without its first parameter, `self`, if `drop_first`), or
        None when its signature cannot be read (some builtins): then the worker says."""
        try:
            parameters = list(inspect.signature(function).parameters.values())
        except (TypeError, ValueError):
            return None
        if drop_first and parameters and parameters[0].kind <= parameters[0].POSITIONAL_OR_KEYWORD:
            parameters = parameters[1:]
        spec = tuple((p.name, int(p.kind), p.default is not p.empty) for p in parameters)
        return cls(name, spec)

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not kwargs and self._fewest <= len(args) <= self._most:
            return
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as error:
            parameters = str(self._signature).replace("=Ellipsis", "=...")
            raise TypeError(
                f"{self._name}.remote() got wrong arguments for {self._name}{parameters}: {error}."
            ) from None

    def __reduce__(self) -> tuple[Any, ...]:
        return ArgumentCheck, (self._name, self._spec)
