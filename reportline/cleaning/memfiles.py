"""Anonymous in-memory files (memfd) that a child process can open as /dev/fd/N.

They are never linked into any filesystem: nothing reaches the disk or /tmp.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def memory_file(name: str, data: bytes = b"") -> Iterator[int]:
    """A memfd holding ``data``, closed (and so freed) on exit."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        yield fd
    finally:
        os.close(fd)


def read_all(fd: int) -> bytes:
    """The whole content of a memory file as one bytes object (read in place, one copy)."""
    with os.fdopen(os.dup(fd), "rb", buffering=0) as stream:
        stream.seek(0)
        return stream.readall()
