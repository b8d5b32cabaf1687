"""Watching a process's open files, to show that nothing it handles reaches a file.

    with FdWatch(server.pid, temp_dirs=[tmpdir]) as watch:
        ...  # upload, download
    assert watch.temp_files() == []

A thread reads the link of every descriptor in /proc/PID/fd (and of every child
process's, for nginx's workers) every few milliseconds and keeps each target it
sees. A spilled body or response shows as a regular file in a temporary folder,
or as an unlinked file: waitress's O_TMPFILE is "/tmp/#1234 (deleted)", Python's
TemporaryFile "/tmp/tmpab12cd (deleted)", nginx's "/…/client_body_temp/0000000001
(deleted)". Sockets, pipes, anonymous inodes and memfds ("/memfd:… (deleted)")
hold nothing on disk and are not reported, nor is anything already open when the
block starts (pytest's own output capture is an unlinked file in /tmp).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType

POLL_SECONDS = 0.002
NOT_FILES = ("socket:", "pipe:", "anon_inode:", "/memfd:", "/dev/")


def _children(pid: int) -> list[int]:
    """The processes `pid` started (Linux lists them per thread)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except OSError:  # the process or thread has just exited
        pass
    return found


def open_files(pid: int) -> set[str]:
    """What the descriptors of `pid` and its children point at, now."""
    targets: set[str] = set()
    for process in [pid, *_children(pid)]:
        try:
            descriptors = list(Path(f"/proc/{process}/fd").iterdir())
        except OSError:
            continue
        for fd in descriptors:
            try:
                targets.add(os.readlink(fd))
            except OSError:  # closed between the listing and the read
                continue
    return targets


class FdWatch:
    """Records every file a process (and its children) holds open while the block runs."""

    def __init__(self, pid: int, temp_dirs: list[Path] | None = None) -> None:
        self.pid = pid
        self.temp_dirs = tuple(str(path) for path in temp_dirs or [])
        self.seen: set[str] = set()
        self.before: set[str] = set()
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="fdwatch", daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.seen |= open_files(self.pid)
            self.polls += 1
            time.sleep(POLL_SECONDS)

    def __enter__(self) -> FdWatch:
        self.before = open_files(self.pid)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.seen |= open_files(self.pid)

    def temp_files(self) -> list[str]:
        """Unlinked files anywhere, and any file in one of `temp_dirs`, opened while
        the block ran."""
        return sorted(
            target
            for target in self.seen - self.before
            if not target.startswith(NOT_FILES)
            and (
                target.endswith(" (deleted)")
                or any(target.startswith(folder) for folder in self.temp_dirs)
            )
        )
