"""The backend that this process's API calls go to.

Set by `nbray.init` in the driver and by the worker main loop in a worker process, where `get`,
`put`, `wait` and `.remote()` inside a task talk to the driver. Kept in a module of its own so
that the worker (below the API in the layering) can set it.
"""

from __future__ import annotations

import threading
from typing import Any

backend: Any = None  # a nbray.backends.base.Backend, or None before init
lock = threading.RLock()
