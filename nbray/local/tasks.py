"""What a task is in the local runtime, how a call becomes one, and how it runs.

Shared by the driver (building specs), the worker processes and the inline backend (running them),
so a task behaves the same whichever runs it.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import cloudpickle

from nbray import _current
from nbray.core.ids import IdAllocator, ObjectId, TaskId, WorkerId
from nbray.core.task import ErrorInfo, ErrorKind, TaskKind, TaskSpec
from nbray.exceptions import RayTaskError, SerializationError
from nbray.object_ref import DynamicObjectRefGenerator, ObjectRef
from nbray.options import TaskOptions
from nbray.placement import Node, why_not_here
from nbray.runtime_env import Environment, applied
from nbray.serialization import (
    FunctionBlob,
    Serialized,
    deserialize,
    load_function,
    serialize,
)

_NBRAY_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


BUILT_IN_METHODS = ("__ray_ready__", "__ray_terminate__")  # every actor has them, as in Ray
STREAMED_RETURNS = -1
DYNAMIC_RETURNS = -2  # num_returns="dynamic": the items put, one ref to their refs


class TaskBody(NamedTuple):
    """The part of a task spec that only the worker looks at (a NamedTuple: it is sent with
    every task)."""

    function: FunctionBlob  # for an actor's creation: its class; for a method call: unused
    arguments: Serialized
    num_returns: int  # STREAMED_RETURNS for a streaming generator
    retry_exceptions: bytes | bool = False  # True, False, or the pickled exception classes
    method: str = ""  # an actor method call: the method's name
    creates_actor: bool = False
    max_concurrency: int = 1  # an actor's creation: how many calls it runs at once
    runtime_env: Environment | None = None  # a task's (or an actor's creation's): its parent's


@dataclass(frozen=True, slots=True)
class ActorTarget:
    """What makes a task an actor's: its creation, or a call of one of its methods."""

    kind: TaskKind
    actor_id: TaskId | None = None  # a call: the actor (its creation task's id)
    method: str = ""
    handle: ObjectId | None = None  # a call holds the actor's handle object while pending
    max_restarts: int = 0
    max_concurrency: int = 1
    detached: bool = False


_PLAIN_TASK = ActorTarget(TaskKind.TASK)


def make_task(
    ids: IdAllocator,
    where: Submitter,
    function: FunctionBlob,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    options: TaskOptions,
    context: object,
    parent: TaskId | None = None,
    actor: ActorTarget | None = None,
) -> tuple[TaskSpec, TaskBody]:
    """The task's spec, for the scheduler, and its body, for the worker."""
    name = options.name or function.name
    dependencies: tuple[ObjectId, ...] = ()
    if args or kwargs:
        values = (*args, *kwargs.values())
        dependencies = tuple(dict.fromkeys(a.id for a in values if isinstance(a, ObjectRef)))
    arguments = serialize((args, dict(kwargs)), what=f"arguments of task {name}")
    contained = arguments.contained_ids  # refs inside arguments: held, not resolved
    if contained and dependencies:
        top_level = set(dependencies)
        contained = tuple(oid for oid in contained if oid not in top_level)
    task_id = ids.task_id()
    actor = actor or _PLAIN_TASK
    if actor.handle is not None:
        contained = (*contained, actor.handle)
    streaming, dynamic = options.streaming, options.dynamic
    num_returns = 1 if streaming or dynamic else int(options.num_returns)  # a stream: its end
    body = TaskBody(
        function,
        arguments,
        STREAMED_RETURNS if streaming else DYNAMIC_RETURNS if dynamic else num_returns,
        _retry_on(options),
        actor.method,
        actor.kind is TaskKind.ACTOR_CREATION,
        actor.max_concurrency,
        _environment(options.runtime_env, where.environment) if not actor.method else None,
    )
    spec = TaskSpec(
        task_id=task_id,
        name=name,
        return_ids=tuple(ids.object_id() for _ in range(num_returns)),
        dependencies=dependencies,
        contained_ids=contained,
        captured_ids=function.captured_ids,
        resources=options.request,
        max_retries=options.max_retries if options.max_retries >= 0 else 1 << 30,
        max_calls=options.max_calls,
        function_key=function.function_id,
        parent=parent,
        kind=actor.kind,
        actor_id=task_id if actor.kind is TaskKind.ACTOR_CREATION else actor.actor_id,
        max_restarts=actor.max_restarts if actor.max_restarts >= 0 else 1 << 30,
        max_concurrency=actor.max_concurrency,
        detached=actor.detached,
        owner=where.owner,
        context=context,
        infeasible=why_not_here(
            name, options.scheduling_strategy, options.label_selector, where.node
        )
        if options.placed
        else "",
    )
    return spec, body


class Submitter(NamedTuple):
    """Where a task is submitted from: the process (its owner), the runtime's node, and the
    environment its parent runs in (the runtime's own for the driver), which it inherits."""

    owner: WorkerId
    node: Node
    environment: Environment | None = None


def _environment(own: Environment | None, parent: Environment | None) -> Environment | None:
    if own is None:
        return parent
    return own.merged_into(parent)


def _retry_on(options: TaskOptions) -> bytes | bool:
    retry = options.retry_exceptions
    # Classes go by value: the worker cannot import a class defined in a notebook.
    return retry if isinstance(retry, bool) else cloudpickle.dumps(retry)


# ---- running a task (in a worker, or inline) -------------------------------------------------


# A task's outcome: NamedTuples, built twice per task (a frozen dataclass's __init__ is slow).
class Returned(NamedTuple):
    values: tuple[Any, ...]  # Serialized, then placed: Serialized or InStore


class Raised(NamedTuple):
    error: ErrorInfo
    value: Serialized
    made: tuple[Serialized, ...] = ()  # yielded before the error (num_returns=N): kept


class ActorHost:
    """The actor instance a worker hosts (one per worker; the inline backend keeps one per
    actor), and the callables a task body means.

    Async methods run on the actor's own event loop: to completion, one at a time, when the
    actor runs one call at a time; on a loop thread of their own, side by side, when calls run
    concurrently (max_concurrency > 1)."""

    def __init__(self) -> None:
        self.instance: Any = None
        self.concurrency = 1
        self.runtime_env: Environment | None = None  # the actor's, for its calls
        self.actor_id: TaskId | None = None
        self.gpu_ids: tuple[int, ...] = ()  # of the running task, or for good of the actor
        self._loop: Any = None
        self._loop_thread: threading.Thread | None = None
        self._loop_lock = threading.Lock()

    def callable_for(self, body: TaskBody, functions: FunctionCache) -> Callable[..., Any]:
        if body.method:
            if self.instance is None:
                raise RuntimeError("nbray bug: a method call reached a worker without its actor")
            if body.method in BUILT_IN_METHODS:
                return _ready if body.method == "__ray_ready__" else _terminate
            method = getattr(self.instance, body.method)
            return self._in_event_loop(method) if inspect.iscoroutinefunction(method) else method
        function = functions.load(body.function.function_id, body.function.data or None)
        if body.creates_actor:
            return self._constructor(function, body)
        return function

    def environment_of(self, body: TaskBody) -> Environment | None:
        """The runtime_env a task runs in: its own, or for a method call its actor's."""
        return self.runtime_env if body.method else body.runtime_env

    def _constructor(self, cls: Callable[..., Any], body: TaskBody) -> Callable[..., None]:
        def construct(*args: Any, **kwargs: Any) -> None:
            self.instance = cls(*args, **kwargs)
            self.concurrency = body.max_concurrency
            self.runtime_env = body.runtime_env

        return construct

    def _in_event_loop(self, method: Callable[..., Any]) -> Callable[..., Any]:
        import asyncio

        with self._loop_lock:  # concurrent calls must share one loop: their awaits meet there
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                if self.concurrency > 1:
                    self._loop_thread = threading.Thread(
                        target=self._loop.run_forever, name="nbray-actor-loop", daemon=True
                    )
                    self._loop_thread.start()

        def run(*args: Any, **kwargs: Any) -> Any:
            if self.concurrency > 1:
                return asyncio.run_coroutine_threadsafe(
                    method(*args, **kwargs), self._loop
                ).result()
            return self._loop.run_until_complete(method(*args, **kwargs))

        return run

    def close(self) -> None:
        """The actor is gone: drop its instance, end its event loop (in the driver, for the
        inline backend; a worker's end takes everything with it)."""
        self.instance = None
        with self._loop_lock:
            loop, thread, self._loop, self._loop_thread = self._loop, self._loop_thread, None, None
        if loop is None:
            return
        if thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
        loop.close()


def _ready() -> bool:
    return True  # constructed: this call runs after the constructor


def _terminate() -> None:
    raise SystemExit(0)  # after the calls queued before it: the actor's end (see exits_actor)


def exits_actor(body: TaskBody, outcome: Returned | Raised) -> bool:
    """An actor's method raised SystemExit (sys.exit, nbray.actor.exit_actor,
    __ray_terminate__): the actor ends, as in Ray."""
    raised = isinstance(outcome, Raised) and outcome.error.type_name == "SystemExit"
    return raised and bool(body.method)


class FunctionCache:
    """A worker's functions by id. The driver sends a function's bytes to a worker once, with
    the first task that uses it there; a task that does not run (skipped when cancelled or taken
    back, bounced) leaves them here for the next."""

    def __init__(self) -> None:
        self._functions: dict[bytes, Callable[..., Any]] = {}
        self._unloaded: dict[bytes, bytes] = {}  # brought by tasks that did not run

    def keep(self, body: TaskBody) -> None:
        function = body.function
        if function.data and function.function_id not in self._functions:
            self._unloaded[function.function_id] = function.data

    def load(self, function_id: bytes, data: bytes | None) -> Callable[..., Any]:
        function = self._functions.get(function_id)
        if function is None:
            data = data or self._unloaded.pop(function_id, None)
            if data is None:
                raise RuntimeError("nbray bug: the driver sent a function id this worker lacks")
            function = self._functions[function_id] = load_function(data)
        return function


def run_task(
    load_function: Callable[[], Callable[..., Any]],
    name: str,
    body: TaskBody,
    resolved: Mapping[ObjectId, Any],
    load_value: Callable[[ObjectId, Any], Any],
    emit: Callable[[Any], None] | None = None,
    env: Environment | None = None,
) -> Returned | Raised:
    """Call the function with its arguments, top-level refs replaced by their values, in its
    runtime environment `env`. Whatever fails — setting the environment, loading the function,
    its arguments, the call, pickling the results — is the task's error."""
    made: list[Any] = []  # what a generator yielded for its first return ids
    try:
        with _UNCHANGED if env is None else applied(env):
            function = load_function()
            args, kwargs = deserialize(body.arguments)
            if resolved:  # else no argument is a ref to replace
                dependencies = {oid: load_value(oid, payload) for oid, payload in resolved.items()}
                args = [_resolve(a, dependencies) for a in args]
                kwargs = {k: _resolve(v, dependencies) for k, v in kwargs.items()}
            result = function(*args, **kwargs)
            if body.num_returns == STREAMED_RETURNS:
                assert emit is not None, "nbray bug: a streaming task without a stream"
                for item in result:  # each item leaves as soon as it is made
                    emit(item)
                result = None  # the stream's end
            elif body.num_returns == DYNAMIC_RETURNS:
                result = DynamicObjectRefGenerator([_current.backend.put(v) for v in result])
            count = body.num_returns if body.num_returns >= 0 else 1  # a stream's end, a generator
            results = _split_returns(result, count, name, made)
            what = f"return value of task {name}"
            return Returned(tuple(serialize(v, what=what) for v in results))
    except BaseException as error:  # everything a task raises is its result
        raised = describe_failure(name, error, _retryable(error, body.retry_exceptions))
        return raised._replace(made=_serialize_made(made, name)) if made else raised


_UNCHANGED = contextlib.nullcontext()  # reusable: it holds no state


def _serialize_made(made: list[Any], name: str) -> tuple[Serialized, ...]:
    """Inline, whatever their size: rare, and a failed task has no store blocks to settle."""
    try:
        return tuple(serialize(v, what=f"return value of task {name}") for v in made)
    except SerializationError:
        return ()  # then they fail with the rest


def _retryable(error: BaseException, retry_exceptions: bytes | bool) -> bool:
    if isinstance(retry_exceptions, bool):
        return retry_exceptions and isinstance(error, Exception)
    return isinstance(error, cloudpickle.loads(retry_exceptions))


def place_results(
    outcome: Returned, name: str, place: Callable[[Serialized], Any]
) -> Returned | Raised:
    """Put the task's results where they go (large ones in the object store); if the store
    cannot take them, that is the task's error."""
    try:
        return Returned(tuple(place(value) for value in outcome.values))
    except BaseException as error:
        return describe_failure(name, error)


def _resolve(argument: Any, resolved: Mapping[ObjectId, Any]) -> Any:
    if isinstance(argument, ObjectRef):
        return resolved[argument.id]
    return argument


def _split_returns(result: Any, num_returns: int, name: str, made: list[Any]) -> tuple[Any, ...]:
    if num_returns == 1:
        if inspect.isgenerator(result):  # a generator function asked for one value: as Ray
            (result,) = _exactly(result, 1, name, [])
        return (result,)
    if num_returns == 0:
        return ()
    return _exactly(result, num_returns, name, made if inspect.isgenerator(result) else [])


def _exactly(result: Any, num_returns: int, name: str, made: list[Any]) -> tuple[Any, ...]:
    """The values of `result`, exactly `num_returns` of them; each one made is in `made` as
    soon as it is, should the generator raise before the end."""
    for value in result:
        made.append(value)
    values = tuple(made)
    made.clear()  # complete: nothing partial to keep
    if len(values) != num_returns:
        raise ValueError(
            f"Task {name} was declared with num_returns={num_returns} but returned "
            f"{len(values)} values. Return exactly {num_returns} values, or change num_returns."
        )
    return values


def describe_failure(name: str, error: BaseException, retryable: bool = False) -> Raised:
    """The error a task raised, as published data and as the value `get` will raise. Whatever
    the exception does when described or pickled (a `__str__` that raises, a `__reduce__` that
    exits), this returns: it is the task's error, never the worker's end."""
    text = _format_traceback(error)
    if isinstance(error, RayTaskError):  # a failed subtask: keep its original type and traceback
        text = f"{error.traceback_str.rstrip()}\n\nwhich failed task {name}:\n{text}"
        cause, type_name, message = error.cause, error.cause_type_name, error.cause_message
    else:
        cause, type_name, message = error, type(error).__name__, _message_of(error)
    info = ErrorInfo(ErrorKind.TASK_ERROR, message, type_name, text, retryable=retryable)
    try:
        value = serialize(RayTaskError(name, text, cause, type_name, message))
    except BaseException:  # the exception itself cannot be pickled: keep its text
        value = serialize(RayTaskError(name, text, None, type_name, message))
    return Raised(info, value)


def _message_of(error: BaseException) -> str:
    try:
        return str(error)
    except BaseException as why:
        return f"<its str() raised {type(why).__name__}>"


def _format_traceback(error: BaseException) -> str:
    """The traceback without nbray's own frames: the user's code is what matters."""
    try:
        summary = traceback.TracebackException.from_exception(error)
        frames = [f for f in summary.stack if not f.filename.startswith(_NBRAY_DIR)]
        summary.stack = traceback.StackSummary.from_list(frames)
        return "".join(summary.format())
    except BaseException as why:  # the exception's own code raised while being described
        return f"{type(error).__name__} (its traceback could not be formatted: {why!r})\n"
