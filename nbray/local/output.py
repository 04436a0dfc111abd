"""Capturing what tasks write, at the file-descriptor level, in a worker process.

Theory of operation: at startup the worker points fd 1 and fd 2 at pipes, so Python prints and
C code writing to stdout/stderr alike land there. One reader thread per pipe sends what it reads
to the driver, tagged with the task running at the time; it handles each chunk under a lock.
When a task ends, `settle()` makes sure everything it wrote has left before its result does:
if both pipes are empty and their readers idle (one poll, under their locks: the common case, a few
microseconds), there is nothing to wait for; otherwise it writes a marker into the pipe and waits
until the reader has passed it. Output comes in order and is never lost to a late read.
"""

from __future__ import annotations

import codecs
import os
import select
import sys
import threading
from collections.abc import Callable

_MARKER = b"\x00nbray-settled\x00"
_CHUNK = 65536


class OutputCapture:
    def __init__(self, send: Callable[[str, str], None]) -> None:
        self._send = send  # (stream, text): sends it tagged with the running task
        self._settle_lock = threading.Lock()  # one settle at a time
        self._pipes: list[_Pipe] = []  # stdout's, stderr's
        self._poller = select.poll()  # the pipes' read ends: is anything unread?
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            pipe = _Pipe(fd, read_end)
            self._pipes.append(pipe)
            self._poller.register(read_end, select.POLLIN)
            threading.Thread(target=self._read, args=(pipe, stream), daemon=True).start()

    def settle(self) -> None:
        """Return once everything written so far has been sent."""
        with self._settle_lock:
            sys.stdout.flush()
            sys.stderr.flush()
            waiting = self._pending()
            for pipe in waiting:
                pipe.settled.clear()
                os.write(pipe.write_fd, _MARKER)
            for pipe in waiting:
                pipe.settled.wait()

    def _pending(self) -> list[_Pipe]:
        """The pipes holding output not sent yet: unread, or read but held back. One poll for
        both, under their readers' locks, so a chunk being read is seen in one or the other."""
        for pipe in self._pipes:
            pipe.lock.acquire()
        try:
            unread = {fd for fd, _ in self._poller.poll(0)}
            return [pipe for pipe in self._pipes if pipe.read_fd in unread or pipe.held]
        finally:
            for pipe in self._pipes:
                pipe.lock.release()

    def _read(self, pipe: _Pipe, stream: str) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may
        while True:  # be split across reads
            select.select([pipe.read_fd], [], [])
            with pipe.lock:  # settle() sees either the data in the pipe or its text sent
                chunk = os.read(pipe.read_fd, _CHUNK)  # ready: this does not block
                if not chunk:
                    return
                pipe.held += chunk
                while _MARKER in pipe.held:
                    before, pipe.held = pipe.held.split(_MARKER, 1)
                    self._emit(stream, decoder.decode(before, final=False))
                    pipe.settled.set()
                cut = _safe_cut(pipe.held)  # keep what could be the start of a marker
                self._emit(stream, decoder.decode(pipe.held[:cut], final=False))
                pipe.held = pipe.held[cut:]

    def _emit(self, stream: str, text: str) -> None:
        if text:
            self._send(stream, text)


class _Pipe:
    def __init__(self, write_fd: int, read_fd: int) -> None:
        self.write_fd = write_fd
        self.read_fd = read_fd
        self.lock = threading.Lock()
        self.held = b""  # read but not sent: it may be the start of a marker
        self.settled = threading.Event()


def _safe_cut(data: bytes) -> int:
    """How much of `data` can go: all but a tail that may be the beginning of a marker."""
    for keep in range(min(len(_MARKER) - 1, len(data)), 0, -1):
        if _MARKER.startswith(data[-keep:]):
            return len(data) - keep
    return len(data)
