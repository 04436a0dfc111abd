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
from typing import Any, NamedTuple, NoReturn

from nbray.arguments import ArgumentCheck
from nbray.core.task import TaskKind
from nbray.exceptions import PendingCallsLimitExceeded
from nbray.local.tasks import BUILT_IN_METHODS, ActorTarget
from nbray.object_ref import ObjectRef, ObjectRefGenerator
from nbray.options import ActorOptions, TaskOptions, unknown_option, with_generator_default
from nbray.serialization import FunctionBlob

_METHOD_OPTIONS = "__nbray_method_options__"


def method(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Options for one actor method, as `ray.method`: `num_returns`, `max_task_retries`,
    `retry_exceptions`, `name`, `enable_task_events`; e.g. `@nbray.method(num_returns=2)`."""
    checked = _method_options(options)

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        setattr(function, _METHOD_OPTIONS, checked)
        return function

    return mark


_METHOD_OPTION_NAMES = frozenset(
    {"num_returns", "name", "max_task_retries", "retry_exceptions", "enable_task_events"}
)


def _method_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options of one method's calls, checked (only those given)."""
    for name in options:
        if name not in _METHOD_OPTION_NAMES:
            raise TypeError(unknown_option(name, _METHOD_OPTION_NAMES, "an actor method"))
    retries = options.get("max_task_retries", 0)
    task_options = {k: v for k, v in options.items() if k != "max_task_retries"}
    checked = TaskOptions(max_retries=retries).updated(**task_options)  # checks each one
    return {name: getattr(checked, _AS_TASK_OPTION.get(name, name)) for name in options}


_AS_TASK_OPTION = {"max_task_retries": "max_retries"}


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
        options = self._options
        if options.get_if_exists:  # (checked: it has a name)
            existing = backend.named_actor(options.namespace, options.name)
            if existing is not None:
                return existing  # type: ignore[no-any-return]
        if self._blob is None:
            self._blob = FunctionBlob.export(self._cls, self._cls.__name__)
        target = ActorTarget(
            TaskKind.ACTOR_CREATION,
            max_restarts=options.max_restarts,
            max_concurrency=self._concurrency,
            detached=options.detached,
        )
        task_options = options.as_task_options()
        (creation,) = backend.submit(self._blob, args, kwargs, task_options, target)
        limits = CallLimits(options.max_task_retries, options.max_pending_calls)
        handle = ActorHandle(creation, self._cls.__name__, self._methods, limits)
        if options.name:
            taken = backend.claim_actor_name(options.namespace, options.name, handle)
            if taken is not None and options.get_if_exists:  # made meanwhile: ours goes
                return taken  # type: ignore[no-any-return]
            if taken is not None:
                where = f" in namespace {options.namespace!r}" if options.namespace else ""
                raise ValueError(
                    f"An actor named {options.name!r} already exists{where}. Use "
                    f"nbray.get_actor({options.name!r}) to reach it, pass get_if_exists=True, "
                    "kill it with nbray.kill, or choose another name."
                )
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


class CallLimits(NamedTuple):
    """What an actor's options say about its calls: each handle carries them."""

    max_task_retries: int = 0  # how often a call is run again (its actor died, or it raised
    # an exception its retry_exceptions names)
    max_pending_calls: int = -1  # unfinished calls one handle may have (-1: any number)


NO_LIMITS = CallLimits()


class ActorHandle:
    """A reference to a live actor; `handle.method.remote(...)` calls it."""

    def __init__(
        self,
        creation: ObjectRef[Any],
        class_name: str,
        methods: dict[str, dict[str, Any]],
        limits: CallLimits = NO_LIMITS,
    ) -> None:
        self._creation = creation  # counted like any ref: the actor lives while handles do
        self._class_name = class_name
        self._methods = methods
        self._limits = limits
        self._pending: list[ObjectRef[Any]] = []  # its unfinished calls, if they are limited

    @property
    def actor_id(self) -> Any:
        return self._creation.task_id()

    def __getattr__(self, name: str) -> ActorMethod:
        methods = self.__dict__.get("_methods", {})
        if name not in methods:
            raise AttributeError(f"The actor {self._class_name} has no method {name!r}.")
        return ActorMethod(self, name, methods[name])

    def _state(self) -> tuple[Any, ...]:
        return (self._creation, self._class_name, self._methods, self._limits)

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
        limits = handle._limits
        if limits.max_pending_calls > 0:
            _check_pending(handle, limits.max_pending_calls)
        qualified = f"{handle._class_name}.{self._name}"
        given = self._options
        options = TaskOptions(
            num_returns=given.get("num_returns", 1),
            num_cpus=0,
            max_retries=given.get("max_task_retries", limits.max_task_retries),
            retry_exceptions=given.get("retry_exceptions", False),
            name=given.get("name") or qualified,
        )
        target = ActorTarget(
            TaskKind.ACTOR_METHOD,
            actor_id=handle.actor_id,
            method=self._name,
            handle=handle._creation.id,
        )
        blob = FunctionBlob(b"", b"", qualified)
        refs = current_backend().submit(blob, args, kwargs, options, target)
        if limits.max_pending_calls > 0 and refs:
            handle._pending.append(refs[0])
        if options.streaming:
            return ObjectRefGenerator(refs[0])
        if options.num_returns == 1:
            return refs[0]
        return None if options.num_returns == 0 else refs

    def options(self, **options: Any) -> ActorMethod:
        return ActorMethod(self._handle, self._name, {**self._options, **_method_options(options)})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"Actor methods cannot be called directly. Instead of '{self._name}()', "
            f"use '{self._name}.remote()'."
        )


def _check_pending(handle: ActorHandle, limit: int) -> None:
    """Raise if the handle has `limit` unfinished calls (Ray's max_pending_calls)."""
    from nbray.api import current_backend

    pending = handle._pending
    if len(pending) >= limit:
        ready, _ = current_backend().wait(pending, len(pending), 0)
        finished = set(ready)
        pending[:] = [ref for ref in pending if ref not in finished]
    if len(pending) >= limit:
        raise PendingCallsLimitExceeded(
            f"The actor {handle._class_name} has {len(pending)} unfinished calls from this "
            f"handle, its max_pending_calls={limit}: wait for some (nbray.wait / nbray.get) "
            "before calling again, or raise the limit."
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
