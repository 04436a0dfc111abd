"""The local backend (the default): worker processes on this machine, driven by an event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from nbray.core import events as ev
from nbray.core.ids import ObjectId
from nbray.core.scheduler import Snapshot
from nbray.local.driver import Driver
from nbray.local.event_loop import EventLoop
from nbray.local.runtime import Runtime
from nbray.local.worker_pool import ProcessPool
from nbray.options import RuntimeConfig

T = TypeVar("T")


class LocalBackend(Driver):
    kind = "local"

    def __init__(self, config: RuntimeConfig) -> None:
        super().__init__(config)
        try:
            pool = ProcessPool(self.store, self.node.node_id, self.namespace)
            self._runtime = Runtime(config, pool, self.table, self.store)
            self._runtime.subscribe(self.on_output, ev.TaskOutput)  # type: ignore[arg-type]
            self._runtime.subscribe(self.names.on_actor_changed, ev.ActorChanged)  # type: ignore[arg-type]
            self._loop = EventLoop(self._runtime, pool, self._failed, self.answer_names)
            self._loop.start()  # returns at once: workers start in the background
        except BaseException:  # a failed init keeps nothing: no store, no descriptor
            self.store.close()
            raise

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    def snapshot(self) -> Snapshot:
        return self._loop.call(self._runtime.scheduler.snapshot)  # type: ignore[no-any-return]

    def _on_runtime_thread(self, function: Callable[[], T]) -> T:
        return self._loop.call(function)  # type: ignore[no-any-return]

    def _send(self, event: ev.Event) -> None:
        self._loop.post(event)

    def _wait_ready(
        self, object_ids: list[ObjectId], num_ready: int, timeout: float | None, wake_on_error: bool
    ) -> list[ObjectId]:
        return self.table.wait_ready(object_ids, num_ready, timeout, wake_on_error)

    def _failed(self, why: str) -> None:
        self.failure = why

    def _close(self) -> None:
        self._loop.stop()
