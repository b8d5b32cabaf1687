"""Bounds on expensive work in flight, per process: no client can take all the CPU.

A gate has a number of slots; work takes one for as long as it runs. A request
that finds every slot taken waits its turn for a few seconds (if few others are
waiting already), then is told the service is busy (`Throttled`) without having
done the work. Gates count no
client and write nothing: they bound what guessing can cost the server, never
who may try.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from reportline.services.errors import Throttled


class WorkGate:
    """At most `slots` pieces of one kind of work at once in this process, and at most
    `waiting` more waiting for a slot.

    A waiting request holds one of the server's few threads: with no bound on the
    waiting, strangers queued for their lane would fill every thread and hold up every
    page. Beyond the bound, or after `wait_seconds`, the answer is "busy" at once.
    """

    def __init__(self, slots: int, wait_seconds: float, waiting: int = 1) -> None:
        self._semaphore = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._waiting = 0
        self.max_waiting = waiting
        self.wait_seconds = wait_seconds

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot while the block runs; raise Throttled if none frees up in time."""
        if not self._semaphore.acquire(blocking=False):
            with self._lock:
                if self._waiting >= self.max_waiting:
                    raise Throttled(max(1, math.ceil(self.wait_seconds)))
                self._waiting += 1
            try:
                acquired = self._semaphore.acquire(timeout=self.wait_seconds)
            finally:
                with self._lock:
                    self._waiting -= 1
            if not acquired:
                raise Throttled(max(1, math.ceil(self.wait_seconds)))
        try:
            yield
        finally:
            self._semaphore.release()
