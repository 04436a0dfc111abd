"""Utilities with Ray's names, as in `ray.util`: `register_serializer`."""

from nbray.serialization import deregister_serializer, register_serializer

__all__ = ["deregister_serializer", "register_serializer"]
