"""nbray: a parallel runtime made for Jupyter, with Ray's core API.

    import nbray as ray

    @ray.remote
    def square(x):
        return x * x

    ray.get([square.remote(i) for i in range(4)])   # [0, 1, 4, 9]

Importing nbray starts nothing and imports nothing heavy: every name below is loaded on first
use (PEP 562), and the runtime starts at `init()` or at the first `.remote()`, `put` or `get`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nbray._lazy import lazy_names

__version__ = "0.1.0"

_LAZY = {
    "init": "nbray.api",
    "shutdown": "nbray.api",
    "is_initialized": "nbray.api",
    "remote": "nbray.api",
    "get": "nbray.api",
    "put": "nbray.api",
    "wait": "nbray.api",
    "cancel": "nbray.api",
    "get_actor": "nbray.api",
    "get_gpu_ids": "nbray.api",
    "kill": "nbray.api",
    "method": "nbray.actor",
    "ActorClass": "nbray.actor",
    "ActorHandle": "nbray.actor",
    "available_resources": "nbray.api",
    "get_runtime_context": "nbray.api",
    "nodes": "nbray.api",
    "cluster_resources": "nbray.api",
    "RuntimeInfo": "nbray.api",
    "ObjectRef": "nbray.object_ref",
    "ObjectRefGenerator": "nbray.object_ref",
    "DynamicObjectRefGenerator": "nbray.object_ref",
    "RemoteFunction": "nbray.remote_function",
    "progress": "nbray.jupyter.progress",
}
_SUBMODULES = frozenset({"actor", "exceptions", "events", "runtime_env", "util"})

if TYPE_CHECKING:
    from nbray import actor, events, exceptions, runtime_env, util
    from nbray.actor import ActorClass, ActorHandle, method
    from nbray.api import (
        RuntimeInfo,
        available_resources,
        cancel,
        cluster_resources,
        get,
        get_actor,
        get_gpu_ids,
        get_runtime_context,
        init,
        is_initialized,
        kill,
        nodes,
        put,
        remote,
        shutdown,
        wait,
    )
    from nbray.jupyter.progress import progress
    from nbray.object_ref import DynamicObjectRefGenerator, ObjectRef, ObjectRefGenerator
    from nbray.remote_function import RemoteFunction


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext nbray`: start (or reuse) the runtime in this kernel; see nbray.jupyter."""
    from nbray.jupyter.extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext nbray`: stop the runtime; no process or shared memory is left."""
    from nbray.jupyter.extension import unload

    unload(ipython)


__getattr__, __dir__ = lazy_names(__name__, _LAZY, _SUBMODULES)


__all__ = [
    "ActorClass",
    "ActorHandle",
    "DynamicObjectRefGenerator",
    "ObjectRef",
    "ObjectRefGenerator",
    "RemoteFunction",
    "RuntimeInfo",
    "actor",
    "available_resources",
    "cancel",
    "cluster_resources",
    "events",
    "exceptions",
    "get",
    "get_actor",
    "get_gpu_ids",
    "get_runtime_context",
    "init",
    "is_initialized",
    "kill",
    "method",
    "nodes",
    "progress",
    "put",
    "remote",
    "runtime_env",
    "shutdown",
    "util",
    "wait",
]
