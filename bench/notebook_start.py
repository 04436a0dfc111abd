"""The notebook user's cold start: from `%load_ext nbray` sent to a fresh kernel to the first
task's result shown in a cell, as a frontend sees it (jupyter_client, IOPub messages).

    .venv/bin/python bench/notebook_start.py [repeats]
"""

from __future__ import annotations

import statistics
import sys
import time

from jupyter_client.manager import KernelManager

CELLS = ("%load_ext nbray", "import nbray\nnbray.get(nbray.remote(abs).remote(-1))")


def first_result_seconds() -> float:
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    try:
        start = time.perf_counter()
        for code in CELLS:
            client.execute(code)
        while True:
            message = client.get_iopub_msg(timeout=60)
            if message["msg_type"] == "execute_result":
                return time.perf_counter() - start
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    times = [first_result_seconds() for _ in range(repeats)]
    print(
        f"%load_ext nbray -> first result in a cell: median {statistics.median(times):.3f} s "
        f"(min {min(times):.3f}, max {max(times):.3f}, {repeats} kernels)"
    )


if __name__ == "__main__":
    main()
