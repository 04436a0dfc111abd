"""Utilities with Ray's names, as in `ray.util`: `ActorPool`, `queue.Queue`, scheduling
strategies, `register_serializer`. Loaded on first use (the runtime's own modules import
`nbray.util.scheduling_strategies`, which must not pull in the API)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbray._lazy import lazy_names

_LAZY = {
    "ActorPool": "nbray.util.actor_pool",
    "list_named_actors": "nbray.api",
    "register_serializer": "nbray.serialization",
    "deregister_serializer": "nbray.serialization",
}

if TYPE_CHECKING:
    from nbray.api import list_named_actors
    from nbray.serialization import deregister_serializer, register_serializer
    from nbray.util.actor_pool import ActorPool


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


__all__ = ["ActorPool", "deregister_serializer", "list_named_actors", "register_serializer"]
