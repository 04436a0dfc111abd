"""Where objects go when the arena is full: one file per runtime, with no name.

The file is created private (0600) in the spill directory and unlinked at once, so nothing of it
is ever visible for long and it vanishes with the process however that ends (SIGKILL included):
nothing to sweep later. Space in it is handed out by the arena's own allocator (first fit by
address, page-aligned); a freed range is given back to the filesystem at once (a hole punched
with fallocate), so the disk holds only what is spilled now.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import tempfile

from nbray.core.arena import ArenaAllocator

_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
_VIRTUAL_SIZE = 1 << 50  # the file is sparse: only what is written takes space
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def punch_hole(fd: int, offset: int, size: int) -> bool:
    """Give the pages of a byte range of a file (or memfd) back to the system; reading it
    again gives zeros. False where the filesystem cannot (the space then stays until close)."""
    flags = _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE
    return bool(_libc.fallocate(fd, flags, offset, size) == 0)


class SpillFile:
    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._fd: int | None = None  # opened at the first spill: most runtimes never spill
        self._allocator = ArenaAllocator(_VIRTUAL_SIZE)

    def write(self, data: memoryview) -> int:
        """Write a block; its offset in the file."""
        fd = self._open()
        offset = self._allocator.allocate(len(data))
        assert offset is not None, "a petabyte spilled"
        try:
            written = 0
            while written < len(data):
                written += os.pwrite(fd, data[written:], offset + written)
        except BaseException:
            self.free(offset)
            raise
        return offset

    def read_into(self, offset: int, target: memoryview) -> None:
        read = 0
        while read < len(target):
            count = os.preadv(self._open(), [target[read:]], offset + read)
            if count == 0:
                raise OSError(f"the spill file ended at {offset + read}: it was truncated")
            read += count

    def read(self, offset: int, size: int) -> bytearray:
        block = bytearray(size)
        self.read_into(offset, memoryview(block))
        return block

    def free(self, offset: int) -> None:
        size = self._allocator.size_of(offset)
        self._allocator.free(offset)
        if self._fd is not None:
            punch_hole(self._fd, offset, size)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open(self) -> int:
        if self._fd is None:
            os.makedirs(self._directory, exist_ok=True)
            fd, path = tempfile.mkstemp(prefix="nbray-spill-", dir=self._directory)  # 0600
            os.unlink(path)  # from now on it has no name: it ends with this process
            self._fd = fd
        return self._fd
