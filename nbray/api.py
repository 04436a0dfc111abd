"""Ray's core API: `init`, `shutdown`, `get`, `put`, `wait`, `cancel`, `remote`, ...

Each function validates its arguments (saying what was wrong and what to do), finds the current
backend — starting the local runtime on first use, as Ray does — and delegates to it.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import math
import socket
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, overload

from nbray import _current
from nbray.actor import ActorClass, ActorHandle
from nbray.exceptions import RaySystemError
from nbray.object_ref import ObjectRef
from nbray.options import (
    ActorOptions,
    RuntimeConfig,
    TaskOptions,
    all_option_names,
    unknown_option,
    with_generator_default,
)
from nbray.remote_function import RemoteFunction
from nbray.runtime_context import RuntimeContext

R = TypeVar("R")

# Ray `init` arguments that have no meaning for a local runtime and are accepted as no-ops.
_IGNORED_INIT_OPTIONS = frozenset(
    {
        "include_dashboard",
        "dashboard_host",
        "dashboard_port",
        "logging_level",
        "logging_format",
        "log_to_driver",
        "configure_logging",
        "_temp_dir",
        "job_config",
    }
)
_context_provider: Callable[[], object] | None = None
_output_handler: Callable[[Any], None] | None = None
_blocking_observer: BlockingObserver | None = None
_atexit_registered = False


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """What `init` returns: which backend runs tasks, and with what."""

    backend: str
    num_cpus: int
    num_gpus: float
    resources: Mapping[str, float]
    dashboard_url: str | None = None


def init(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: float | None = None,
    resources: Mapping[str, float] | None = None,
    local_mode: bool = False,
    ignore_reinit_error: bool = False,
    object_store_memory: int | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    namespace: str | None = None,
    _system_config: Mapping[str, Any] | None = None,
    **options: Any,
) -> RuntimeInfo:
    """Start nbray's runtime in this process (worker processes start in the background).

    `object_store_memory` sizes the shared-memory object store (default: 30% of the machine's
    memory); `_system_config={"object_spilling_config": ...}` (Ray's format) says where objects
    spill when it is full (default: the temp directory).

    Calling it again with the same arguments returns the running runtime, so re-running a
    notebook works; with different arguments it raises and says how to restart.
    """
    for name in options:
        if name not in _IGNORED_INIT_OPTIONS:
            known = _IGNORED_INIT_OPTIONS | {
                "address",
                "num_cpus",
                "num_gpus",
                "resources",
                "local_mode",
                "ignore_reinit_error",
                "object_store_memory",
                "runtime_env",
                "namespace",
                "_system_config",
            }
            raise TypeError(unknown_option(name, known, "init"))
    if address not in (None, "local"):
        raise ValueError(
            f"init(address={address!r}): nbray runs a local runtime only for now; "
            "call init() without an address."
        )
    config = RuntimeConfig.resolve(
        num_cpus,
        num_gpus,
        resources,
        local_mode,
        object_store_memory,
        _system_config,
        runtime_env,
        namespace,
    )
    with _current.lock:
        running = _current.backend
        if running is not None and running.failure is not None:
            _current.backend = None
            running.shutdown()  # what is left of it: its store, its reports
            warnings.warn(
                f"The previous nbray runtime had died ({running.failure}); starting a new one.",
                RuntimeWarning,
                stacklevel=2,
            )
            running = None
        if running is not None:
            if running.config == config or ignore_reinit_error:
                return _info(running)
            raise RuntimeError(
                f"nbray is already running with {running.config.describe()}, and init() was "
                f"called with {config.describe()}. To restart with the new settings, call "
                "nbray.shutdown() first (in a notebook: run it in a cell), then nbray.init(...). "
                "To keep the running runtime, pass ignore_reinit_error=True."
            )
        _current.backend = _start(config)
        return _info(_current.backend)


def _start(config: RuntimeConfig) -> Any:
    global _atexit_registered
    if config.local_mode:
        from nbray.backends.inline import InlineBackend

        backend: Any = InlineBackend(config)
    else:
        from nbray.local.backend import LocalBackend

        backend = LocalBackend(config)
    backend.context_provider = _context_provider
    backend.output_handler = _output_handler
    if not _atexit_registered:  # a courtesy (reports unfetched errors); cleanup never needs it
        atexit.register(shutdown)
        _atexit_registered = True
    return backend


def _info(backend: Any) -> RuntimeInfo:
    config: RuntimeConfig = backend.config
    return RuntimeInfo(backend.kind, config.num_cpus, config.num_gpus, dict(config.resources))


def shutdown() -> None:
    """Stop the runtime: its workers exit, pending work is dropped. Safe to call twice."""
    with _current.lock:
        backend, _current.backend = _current.backend, None
    if backend is not None:
        backend.shutdown()


def is_initialized() -> bool:
    """Whether a runtime is running (False once it has died: `init()` then starts a new one)."""
    backend = _current.backend
    return backend is not None and backend.failure is None


def current_backend() -> Any:
    """The running backend, started with default settings if there is none (as Ray does)."""
    backend = _current.backend
    if backend is None:
        init()
        backend = _current.backend
    elif backend.failure is not None:
        raise RaySystemError(
            f"The nbray runtime has died ({backend.failure}): its tasks and objects are gone. "
            "Start a new one with nbray.init() (in a notebook: %nbray restart); refs made "
            "before cannot be fetched."
        )
    return backend


def set_context_provider(provider: Callable[[], object] | None) -> None:
    """Call `provider()` on the submitting thread for every task; its value tags the task in the
    runtime's events (the notebook layer passes the cell)."""
    global _context_provider
    _context_provider = provider
    backend = _current.backend
    if backend is not None and hasattr(backend, "context_provider"):
        backend.context_provider = provider


def set_output_handler(handler: Callable[[Any], None] | None) -> None:
    """Call `handler(event)` with each `TaskOutput` (what tasks print), on the runtime's thread,
    instead of writing it to this process's stdout/stderr (the notebook layer routes it to the
    cell that submitted the task). None restores the default."""
    global _output_handler
    _output_handler = handler
    backend = _current.backend
    if backend is not None and hasattr(backend, "output_handler"):
        backend.output_handler = handler


class BlockingObserver(Protocol):
    """Told when the caller blocks in `get`/`wait` on refs (the notebook shows progress after a
    while, and turns an interrupt into cancelling the cell's tasks)."""

    def __call__(
        self, refs: Sequence[ObjectRef[Any]], call: str
    ) -> contextlib.AbstractContextManager[object]: ...


def set_blocking_observer(observer: BlockingObserver | None) -> None:
    """`with observer(refs, "get"|"wait"):` wraps each blocking `get`/`wait` of this process."""
    global _blocking_observer
    _blocking_observer = observer


def _blocking(
    refs: Sequence[ObjectRef[Any]], call: str, timeout: float | None
) -> contextlib.AbstractContextManager[object]:
    if _blocking_observer is None or timeout == 0:
        return _UNOBSERVED
    return _blocking_observer(refs, call)


_UNOBSERVED = contextlib.nullcontext()  # reusable: it holds no state


# ---- objects ---------------------------------------------------------------------------


@overload
def get(
    object_refs: ObjectRef[R], *, timeout: float | None = None, return_exceptions: bool = False
) -> R: ...
@overload
def get(
    object_refs: Sequence[ObjectRef[Any]],
    *,
    timeout: float | None = None,
    return_exceptions: bool = False,
) -> list[Any]: ...
def get(object_refs: Any, *, timeout: float | None = None, return_exceptions: bool = False) -> Any:
    """The value of a ref, or the values of a list of refs in the same order.

    Raises the task's exception at once if one of the tasks failed, and `GetTimeoutError` if
    `timeout` seconds pass first (`timeout=0` only takes what is ready now). With
    `return_exceptions=True` (an nbray extension, as in `asyncio.gather`), failed refs give
    their exception in place of a value instead of raising.
    """
    __tracebackhide__ = True  # IPython shows the caller's frame, not nbray's
    timeout = _check_timeout(timeout, "get")
    _warn_if_in_async_code()
    if isinstance(object_refs, ObjectRef):
        with _blocking([object_refs], "get", timeout):
            return current_backend().get([object_refs], timeout, return_exceptions)[0]
    refs = _check_ref_list(object_refs, "get", allow_tuple=True)
    if not refs:
        return []
    with _blocking(refs, "get", timeout):
        return current_backend().get(refs, timeout, return_exceptions)


_warned_about_async = False


def _warn_if_in_async_code() -> None:
    global _warned_about_async
    if _warned_about_async:
        return
    # Only a coroutine calling get blocks its own loop; a notebook cell is run by the kernel's
    # loop too (ipykernel), but a cell without `await` is plain code and may block.
    caller = sys._getframe(2).f_code
    if not caller.co_flags & (inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
        return
    asyncio = sys.modules.get("asyncio")  # not imported: no event loop can be running
    if asyncio is None:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # not inside a running event loop
    _warned_about_async = True
    warnings.warn(
        "nbray.get blocks the running event loop. In async code use `await ref`, or "
        "`await asyncio.gather(*refs)` for a list.",
        RuntimeWarning,
        stacklevel=3,
    )


def put(value: Any) -> ObjectRef[Any]:
    """Store `value` in the object store; pass the ref to many tasks instead of the value."""
    if isinstance(value, ObjectRef):
        raise TypeError(
            "put() of an ObjectRef is not allowed: the ref already names a stored object. "
            "Pass the ref itself to tasks, or put a list containing it to nest it."
        )
    ref: ObjectRef[Any] = current_backend().put(value)
    return ref


def wait(
    object_refs: list[ObjectRef[Any]],
    *,
    num_returns: int = 1,
    timeout: float | None = None,
    fetch_local: bool = True,
) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]:
    """Wait until `num_returns` of the refs are ready (finished or failed) or `timeout` passes.

    Returns `(ready, not_ready)`, each in the order of the input list; `ready` has at most
    `num_returns` refs.
    """
    __tracebackhide__ = True
    refs = _check_ref_list(object_refs, "wait", allow_tuple=False)
    if len(set(refs)) != len(refs):
        raise ValueError("wait() requires a list of unique object refs; remove the duplicates.")
    if isinstance(num_returns, bool) or not isinstance(num_returns, int):
        raise TypeError(f"num_returns must be an integer, got {num_returns!r}.")
    if not refs:
        return [], []
    if not 1 <= num_returns <= len(refs):
        raise ValueError(
            f"num_returns must be between 1 and the number of refs ({len(refs)}), "
            f"got {num_returns}."
        )
    timeout = _check_timeout(timeout, "wait")
    result: tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]
    with _blocking(refs, "wait", timeout):
        result = current_backend().wait(refs, num_returns, timeout)
    return result


def cancel(object_ref: ObjectRef[Any], *, force: bool = False, recursive: bool = True) -> None:
    """Cancel the task that makes `object_ref`: a queued task never runs; a running one gets
    `KeyboardInterrupt` (or, with `force=True`, its worker is killed); with `recursive` the tasks
    it submitted are cancelled too. `get` then raises `TaskCancelledError`. Cancelling a
    finished task does nothing."""
    if not isinstance(object_ref, ObjectRef):
        raise TypeError(
            f"cancel() takes an ObjectRef returned by .remote(), got {type(object_ref).__name__}."
        )
    current_backend().cancel(object_ref, force, recursive)


# ---- resources -------------------------------------------------------------------------


def get_gpu_ids() -> list[int]:
    """The GPUs the running task (or actor) may use, as in its CUDA_VISIBLE_DEVICES; [] in
    the driver."""
    ids: list[int] = current_backend().gpu_ids()
    return ids


def get_runtime_context() -> RuntimeContext:
    """Who and where the calling code runs: ids of the job, node, task and actor, the
    namespace, the runtime_env, the resources it was given (as Ray's)."""
    return RuntimeContext(current_backend())


def nodes() -> list[dict[str, Any]]:
    """The runtime's nodes, as Ray's `ray.nodes()`: one, this machine."""
    backend = current_backend()
    hostname = socket.gethostname()
    return [
        {
            "NodeID": backend.node.node_id,
            "Alive": True,
            "alive": True,
            "NodeManagerAddress": "127.0.0.1",
            "NodeManagerHostname": hostname,
            "NodeName": "127.0.0.1",
            "Resources": cluster_resources(),
            "Labels": dict(backend.node.labels),
        }
    ]


def cluster_resources() -> dict[str, float]:
    return dict(current_backend().snapshot().total)


def available_resources() -> dict[str, float]:
    return dict(current_backend().snapshot().available)


# ---- remote ----------------------------------------------------------------------------


def remote(*args: Any, **options: Any) -> Any:
    """Make a function remote, or a class an actor: `@nbray.remote`, or
    `@nbray.remote(num_cpus=2, ...)`."""
    if len(args) == 1 and not options and callable(args[0]):
        return _make_remote(args[0], {})
    if args:
        raise TypeError(
            "The @nbray.remote decorator takes either no arguments and no parentheses "
            "('@nbray.remote') or only keyword arguments ('@nbray.remote(num_cpus=2)')."
        )
    _check_options_early(options)
    return lambda target: _make_remote(target, options)


def _make_remote(target: Any, options: dict[str, Any]) -> RemoteFunction | ActorClass:
    if inspect.isclass(target):
        return ActorClass(target, ActorOptions().updated(**options))
    if not callable(target):
        raise TypeError(f"@nbray.remote applies to functions, got {type(target).__name__}.")
    options = with_generator_default(target, options)
    return RemoteFunction(target, TaskOptions().updated(**options))


def _check_options_early(options: dict[str, Any]) -> None:
    """Refuse options no function and no class takes, at the decorator already."""
    known = all_option_names()
    for name in options:
        if name not in known:
            raise TypeError(unknown_option(name, known, "remote"))


def get_actor(name: str, namespace: str | None = None) -> ActorHandle:
    """The live actor created with `.options(name=name)` (in `namespace`, by default the
    runtime's: see `nbray.init(namespace=...)`)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"get_actor takes an actor's name, got {name!r}.")
    if namespace is not None and not isinstance(namespace, str):
        raise TypeError(f"namespace must be a string, got {namespace!r}.")
    handle: ActorHandle | None = current_backend().named_actor(namespace, name)
    if handle is None:
        where = f" in namespace {namespace!r}" if namespace else ""
        raise ValueError(
            f"No actor named {name!r} is alive{where}. Create it with "
            f"SomeClass.options(name={name!r}).remote(...); an actor that is not detached dies "
            'when no handle to it is left (keep one, or pass lifetime="detached").'
        )
    return handle


def list_named_actors(all_namespaces: bool = False) -> list[Any]:
    """The names of the live named actors of the runtime's namespace, as Ray's
    `ray.util.list_named_actors`; with `all_namespaces`, dicts of their name and namespace."""
    names = current_backend().actor_names(all_namespaces)
    if all_namespaces:
        return [{"name": name, "namespace": namespace} for namespace, name in names]
    return [name for _, name in names]


def kill(actor: ActorHandle, *, no_restart: bool = True) -> None:
    """Stop an actor at once: its running and queued calls fail with ActorDiedError. With
    `no_restart=False` it is restarted if it has restarts left."""
    if not isinstance(actor, ActorHandle):
        raise TypeError(f"kill() takes an actor handle, got {type(actor).__name__}.")
    current_backend().kill_actor(actor.actor_id, no_restart)


# ---- argument checks -------------------------------------------------------------------


FOREVER_AFTER = 1e6  # seconds (11 days): a longer timeout, inf included, means no timeout


def _check_timeout(timeout: float | None, where: str) -> float | None:
    """The timeout to wait with: None for none (or one too long for any clock to keep)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout):
        raise TypeError(f"{where}() timeout must be a number of seconds or None, got {timeout!r}.")
    if timeout < 0:
        raise ValueError(
            f"{where}() timeout must be >= 0 (or None to wait forever), got {timeout}."
        )
    return None if timeout >= FOREVER_AFTER else timeout


def _check_ref_list(object_refs: Any, where: str, allow_tuple: bool) -> list[ObjectRef[Any]]:
    kinds = (list, tuple) if allow_tuple else (list,)
    if not isinstance(object_refs, kinds):
        expected = "an ObjectRef or a list of ObjectRefs" if allow_tuple else "a list of ObjectRefs"
        raise TypeError(
            f"{where}() expects {expected}, got {type(object_refs).__name__}. "
            "Pass the refs returned by .remote() or put()."
        )
    for index, ref in enumerate(object_refs):
        if not isinstance(ref, ObjectRef):
            raise TypeError(
                f"{where}() expects ObjectRefs, but element {index} is a {type(ref).__name__} "
                f"({ref!r:.60}). Pass the refs returned by .remote() or put()."
            )
    return list(object_refs)
