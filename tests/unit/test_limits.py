"""Gates on expensive work: bounded in flight and in waiting, never counting anyone."""

from __future__ import annotations

import threading

import pytest

from reportline.services.errors import Throttled
from reportline.services.limits import WorkGate


def test_a_gate_lets_one_wait_and_refuses_the_next_at_once() -> None:
    gate = WorkGate(1, wait_seconds=5, waiting=1)
    release = threading.Event()
    entered = threading.Event()
    waited: list[str] = []

    def holder() -> None:
        with gate.slot():
            entered.set()
            release.wait(5)

    def waiter() -> None:
        with gate.slot():
            waited.append("in")

    first = threading.Thread(target=holder)
    first.start()
    entered.wait(5)
    second = threading.Thread(target=waiter)
    second.start()
    while gate._waiting == 0:  # the second request is now waiting for the slot
        threading.Event().wait(0.001)
    with pytest.raises(Throttled), gate.slot():  # a third: "busy" at once, holding no thread
        pass
    release.set()
    first.join(5)
    second.join(5)
    assert waited == ["in"]


def test_a_waiting_request_gives_up_after_its_time() -> None:
    gate = WorkGate(1, wait_seconds=0.01, waiting=1)
    with gate.slot(), pytest.raises(Throttled) as refused, gate.slot():
        pass
    assert refused.value.retry_after == 1
