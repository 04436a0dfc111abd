"""What a task is in the local runtime, how a call becomes one, and how it runs.

Shared by the driver (building specs), the worker processes and the inline backend (running them),
so a task behaves the same whichever runs it.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cloudpickle

from nbray.core.ids import IdAllocator, ObjectId, TaskId, WorkerId
from nbray.core.task import ErrorInfo, ErrorKind, TaskSpec
from nbray.exceptions import RayTaskError, SerializationError
from nbray.object_ref import ObjectRef
from nbray.options import TaskOptions
from nbray.serialization import FunctionBlob, Serialized, deserialize, serialize

_NBRAY_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


@dataclass(frozen=True, slots=True)
class TaskBody:
    """The part of a task spec that only the worker looks at."""

    function: FunctionBlob
    arguments: Serialized
    num_returns: int
    retry_exceptions: bytes | bool = False  # True, False, or the pickled exception classes


def make_task_spec(
    ids: IdAllocator,
    function: FunctionBlob,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    options: TaskOptions,
    owner: WorkerId,
    context: object,
    parent: TaskId | None = None,
) -> TaskSpec:
    name = options.name or function.name
    dependencies = tuple(
        dict.fromkeys(a.id for a in (*args, *kwargs.values()) if isinstance(a, ObjectRef))
    )
    arguments = serialize((args, dict(kwargs)), what=f"arguments of task {name}")
    top_level = set(dependencies)
    return TaskSpec(
        task_id=ids.task_id(),
        name=name,
        return_ids=tuple(ids.object_id() for _ in range(options.num_returns)),
        dependencies=dependencies,
        contained_ids=tuple(oid for oid in arguments.contained_ids if oid not in top_level),
        captured_ids=function.captured_ids,
        resources=options.resource_request(),
        max_retries=options.max_retries if options.max_retries >= 0 else 1 << 30,
        max_calls=options.max_calls,
        function_key=function.function_id,
        parent=parent,
        owner=owner,
        context=context,
        body=TaskBody(function, arguments, options.num_returns, _retry_on(options)),
    )


def _retry_on(options: TaskOptions) -> bytes | bool:
    retry = options.retry_exceptions
    # Classes go by value: the worker cannot import a class defined in a notebook.
    return retry if isinstance(retry, bool) else cloudpickle.dumps(retry)


# ---- running a task (in a worker, or inline) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Returned:
    values: tuple[Any, ...]  # Serialized, then placed: Serialized or InStore


@dataclass(frozen=True, slots=True)
class Raised:
    error: ErrorInfo
    value: Serialized


class FunctionCache:
    def __init__(self) -> None:
        self._functions: dict[bytes, Callable[..., Any]] = {}

    def load(self, function_id: bytes, data: bytes | None) -> Callable[..., Any]:
        function = self._functions.get(function_id)
        if function is None:
            if data is None:
                raise RuntimeError("nbray bug: the driver sent a function id this worker lacks")
            function = self._functions[function_id] = cloudpickle.loads(data)
        return function


def run_task(
    load_function: Callable[[], Callable[..., Any]],
    name: str,
    body: TaskBody,
    resolved: Mapping[ObjectId, Any],
    load_value: Callable[[ObjectId, Any], Any],
) -> Returned | Raised:
    """Call the function with its arguments, top-level refs replaced by their values. Whatever
    fails — loading the function, its arguments, the call, pickling the results — is the task's
    error."""
    try:
        function = load_function()
        dependencies = {oid: load_value(oid, payload) for oid, payload in resolved.items()}
        raw_args, raw_kwargs = deserialize(body.arguments)
        args = [_resolve(a, dependencies) for a in raw_args]
        kwargs = {k: _resolve(v, dependencies) for k, v in raw_kwargs.items()}
        result = function(*args, **kwargs)
        results = _split_returns(result, body.num_returns, name)
        return Returned(tuple(serialize(v, what=f"return value of task {name}") for v in results))
    except BaseException as error:  # everything a task raises is its result
        return describe_failure(name, error, _retryable(error, body.retry_exceptions))


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


def _split_returns(result: Any, num_returns: int, name: str) -> tuple[Any, ...]:
    if num_returns == 1:
        return (result,)
    if num_returns == 0:
        return ()
    values = tuple(result)
    if len(values) != num_returns:
        raise ValueError(
            f"Task {name} was declared with num_returns={num_returns} but returned "
            f"{len(values)} values. Return exactly {num_returns} values, or change num_returns."
        )
    return values


def describe_failure(name: str, error: BaseException, retryable: bool = False) -> Raised:
    """The error a task raised, as published data and as the value `get` will raise."""
    text = _format_traceback(error)
    if isinstance(error, RayTaskError):  # a failed subtask: keep its original type and traceback
        text = f"{error.traceback_str.rstrip()}\n\nwhich failed task {name}:\n{text}"
        cause, type_name, message = error.cause, error.cause_type_name, error.cause_message
    else:
        cause, type_name, message = error, type(error).__name__, str(error)
    info = ErrorInfo(ErrorKind.TASK_ERROR, message, type_name, text, retryable=retryable)
    try:
        value = serialize(RayTaskError(name, text, cause, type_name, message))
    except SerializationError:  # the exception itself cannot be pickled: keep its text
        value = serialize(RayTaskError(name, text, None, type_name, message))
    return Raised(info, value)


def _format_traceback(error: BaseException) -> str:
    """The traceback without nbray's own frames: the user's code is what matters."""
    summary = traceback.TracebackException.from_exception(error)
    frames = [f for f in summary.stack if not f.filename.startswith(_NBRAY_DIR)]
    summary.stack = traceback.StackSummary.from_list(frames)
    return "".join(summary.format())
