"""Actors: `@nbray.remote` on a class, as in Ray.

    @nbray.remote
    class Counter:
        def __init__(self, start): self.n = start
        def add(self, k): self.n += k; return self.n

    counter = Counter.remote(10)            # an ActorHandle; the actor starts in its own process
    nbray.get(counter.add.remote(1))        # 11; calls run one at a time, in submission order

Handles can be passed to tasks and other actors. The actor lives while a handle to it exists
anywhere (or until `nbray.kill`); see `nbray/core/actors.py` for the theory.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NoReturn

from nbray.arguments import ArgumentCheck
from nbray.core.task import TaskKind
from nbray.local.tasks import BUILT_IN_METHODS, ActorTarget
from nbray.object_ref import ObjectRef, ObjectRefGenerator
from nbray.options import ActorOptions, TaskOptions, with_generator_default
from nbray.serialization import FunctionBlob

_METHOD_OPTIONS = "__nbray_method_options__"


def method(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Options for one actor method, e.g. `@nbray.method(num_returns=2)` (as `ray.method`)."""
    checked = TaskOptions().updated(**options)

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        given = {"num_returns": checked.num_returns, "name": checked.name}
        setattr(function, _METHOD_OPTIONS, {k: v for k, v in given.items() if k in options})
        return function

    return mark


ASYNC_ACTOR_CONCURRENCY = 1000  # Ray's default for async actors: their calls interleave


def default_concurrency(cls: type) -> int:
    """An actor with async methods runs its calls concurrently on its event loop by default,
    so one call can wait for another; any other actor runs one call at a time."""
    methods = (getattr(cls, name, None) for name in dir(cls) if not name.startswith("__"))
    is_async = any(inspect.iscoroutinefunction(m) or inspect.isasyncgenfunction(m) for m in methods)
    return ASYNC_ACTOR_CONCURRENCY if is_async else 1


class ActorClass:
    """What `@nbray.remote` makes of a class: `.remote(...)` starts an actor."""

    def __init__(self, cls: type, options: ActorOptions, shared: ActorClass | None = None) -> None:
        self._cls = cls
        self._options = options
        self._blob: FunctionBlob | None = shared._blob if shared else None
        self._concurrency = options.max_concurrency or default_concurrency(cls)  # once, here
        # Once per class, shared by its .options() copies:
        self._check: ArgumentCheck | None = (
            shared._check if shared else ArgumentCheck.of(cls, cls.__name__)
        )
        self._methods: dict[str, dict[str, Any]] = shared._methods if shared else _method_table(cls)
        self.__name__ = cls.__name__
        self.__qualname__ = cls.__qualname__
        self.__doc__ = cls.__doc__

    def remote(self, *args: Any, **kwargs: Any) -> ActorHandle:
        from nbray.api import current_backend

        if self._check is not None:
            self._check(args, kwargs)
        backend = current_backend()
        if self._blob is None:
            self._blob = FunctionBlob.export(self._cls, self._cls.__name__)
        target = ActorTarget(
            TaskKind.ACTOR_CREATION,
            max_restarts=self._options.max_restarts,
            max_concurrency=self._concurrency,
        )
        task_options = self._options.as_task_options()
        (creation,) = backend.submit(self._blob, args, kwargs, task_options, target)
        handle = ActorHandle(creation, self._cls.__name__, self._methods)
        if self._options.name:
            backend.claim_actor_name(self._options.name, handle._state())
        return handle

    def options(self, **options: Any) -> ActorClass:
        return ActorClass(self._cls, self._options.updated(**options), self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"Actor classes cannot be instantiated directly. Instead of '{self.__name__}()', "
            f"use '{self.__name__}.remote()'."
        )

    def __repr__(self) -> str:
        return f"<nbray actor class {self.__qualname__}>"


class ActorHandle:
    """A reference to a live actor; `handle.method.remote(...)` calls it."""

    def __init__(
        self, creation: ObjectRef[Any], class_name: str, methods: dict[str, dict[str, Any]]
    ) -> None:
        self._creation = creation  # counted like any ref: the actor lives while handles do
        self._class_name = class_name
        self._methods = methods

    @property
    def actor_id(self) -> Any:
        return self._creation.task_id()

    def __getattr__(self, name: str) -> ActorMethod:
        methods = self.__dict__.get("_methods", {})
        if name not in methods:
            raise AttributeError(f"The actor {self._class_name} has no method {name!r}.")
        return ActorMethod(self, name, methods[name])

    def _state(self) -> tuple[Any, ...]:
        return (self._creation, self._class_name, self._methods)

    def __reduce__(self) -> tuple[Any, ...]:
        return ActorHandle, self._state()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorHandle) and other._creation == self._creation

    def __hash__(self) -> int:
        return hash(self._creation)

    def __repr__(self) -> str:
        return f"ActorHandle({self._class_name}, {self._creation!r})"


class ActorMethod:
    def __init__(self, handle: ActorHandle, name: str, options: dict[str, Any]) -> None:
        self._handle = handle
        self._name = name
        self._options = options

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        from nbray.api import current_backend

        check = self._options.get("check")
        if check is not None:
            check(args, kwargs)
        handle = self._handle
        qualified = f"{handle._class_name}.{self._name}"
        options = TaskOptions(
            num_returns=self._options.get("num_returns", 1),
            num_cpus=0,
            max_retries=0,
            name=self._options.get("name") or qualified,
        )
        target = ActorTarget(
            TaskKind.ACTOR_METHOD,
            actor_id=handle.actor_id,
            method=self._name,
            handle=handle._creation.id,
        )
        blob = FunctionBlob(b"", b"", qualified)
        refs = current_backend().submit(blob, args, kwargs, options, target)
        if options.streaming:
            return ObjectRefGenerator(refs[0])
        if options.num_returns == 1:
            return refs[0]
        return None if options.num_returns == 0 else refs

    def options(self, **options: Any) -> ActorMethod:
        checked = TaskOptions().updated(**options)
        merged = dict(self._options)
        if "num_returns" in options:
            merged["num_returns"] = checked.num_returns
        if checked.name:
            merged["name"] = checked.name
        return ActorMethod(self._handle, self._name, merged)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"Actor methods cannot be called directly. Instead of '{self._name}()', "
            f"use '{self._name}.remote()'."
        )


def exit_actor() -> NoReturn:
    """End the actor whose method calls this, as Ray's `ray.actor.exit_actor()`: the actor is
    dead from now on (it is not restarted), and this call and those after it raise
    `ActorDiedError`. (`sys.exit()` in a method does the same.)"""
    from nbray.api import current_backend

    if not current_backend().in_actor_method():
        raise TypeError("exit_actor() ends an actor: call it inside an actor's method.")
    raise SystemExit(0)


def _method_table(cls: type) -> dict[str, dict[str, Any]]:
    """The class's public methods: their options (from `@nbray.method`) and the check of their
    arguments (made once per class; it travels with the handle)."""
    table: dict[str, dict[str, Any]] = {name: {} for name in BUILT_IN_METHODS}
    for name, member in inspect.getmembers(cls, callable):
        if name.startswith("__") and name != "__call__":
            continue
        is_plain = inspect.isfunction(inspect.getattr_static(cls, name))  # so it takes self
        check = ArgumentCheck.of(member, f"{cls.__name__}.{name}", drop_first=is_plain)
        options = with_generator_default(member, getattr(member, _METHOD_OPTIONS, {}))
        table[name] = {**options, "check": check}
    return table
