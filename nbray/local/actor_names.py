"""Named actors, by namespace and name, as in Ray.

A name is taken while its actor lives. The registry keeps the handle pickled, not a ref: a name
does not keep its actor alive (as in Ray, an actor that is not detached dies when its handles
are gone, named or not); each lookup unpickles a handle of its own, counted like any ref. The
runtime's `ActorChanged` events tell it when an actor died, and frees its name.

Shared by the caller's threads (`get_actor`, `.options(name=...)`) and the event loop (the same,
asked by tasks), hence the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

from nbray.core import events as ev
from nbray.core.actors import ActorState
from nbray.core.ids import ObjectId, TaskId
from nbray.serialization import Serialized

Key = tuple[str, str]  # (namespace, name)


class NamedActor(NamedTuple):
    actor_id: TaskId
    handle_id: ObjectId  # the object every handle refers to: freed when no handle is left
    handle: Serialized  # the handle, pickled


class ActorNames:
    def __init__(self, is_known: Callable[[ObjectId], bool]) -> None:
        self._is_known = is_known
        self._actors: dict[Key, NamedActor] = {}
        self._lock = threading.Lock()

    def claim(self, key: Key, actor: NamedActor) -> NamedActor | None:
        """Give `key` to `actor`; the live actor that has it already, if any (then unchanged)."""
        with self._lock:
            taken = self._actors.get(key)
            if taken is not None and self._is_known(taken.handle_id):
                return taken
            self._actors[key] = actor
            return None

    def lookup(self, key: Key) -> NamedActor | None:
        with self._lock:
            actor = self._actors.get(key)
            if actor is not None and not self._is_known(actor.handle_id):
                del self._actors[key]
                actor = None
            return actor

    def names(self, namespace: str | None) -> list[Key]:
        """The live named actors, of one namespace or (None) all."""
        with self._lock:
            keys = list(self._actors)
        return [k for k in keys if (namespace in (None, k[0])) and self.lookup(k) is not None]

    def on_actor_changed(self, event: ev.ActorChanged) -> None:
        """A dead actor's name is free (its handles may live on, in variables)."""
        if event.state is ActorState.DEAD:
            self.forget(event.actor_id)

    def forget(self, actor_id: TaskId) -> None:
        with self._lock:
            for key, actor in list(self._actors.items()):
                if actor.actor_id == actor_id:
                    del self._actors[key]
