"""A thread that repaints the notebook's views: when poked, at most every `INTERVAL`, and every
`TICK` while something is live (elapsed times keep counting while no event arrives).

Events can arrive thousands of times a second; each widget update is a comm message to the
browser, so updates are coalesced here rather than sent per event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

INTERVAL = 0.1
TICK = 1.0


class Painter:
    def __init__(self, paint: Callable[[], bool]) -> None:
        """`paint()` repaints what changed and says whether anything is still live."""
        self._paint = paint
        self._poked = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nbray-painter", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._poked.set()

    def stop(self) -> None:
        self._stopped.set()
        self._poked.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        live = False
        while not self._stopped.is_set():
            self._poked.wait(TICK if live else None)
            self._poked.clear()
            if self._stopped.is_set():
                return
            live = self._paint()
            self._stopped.wait(INTERVAL)  # coalesce the events of the next INTERVAL
