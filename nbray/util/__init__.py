"""Utilities with Ray's names, as in `ray.util`: `ActorPool`, `queue.Queue`,
`register_serializer`."""

from nbray.serialization import deregister_serializer, register_serializer
from nbray.util.actor_pool import ActorPool

__all__ = ["ActorPool", "deregister_serializer", "register_serializer"]
