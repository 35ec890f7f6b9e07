"""The lab's clock: what every lab actor reads and waits on; wall time (``RealClock``) for the netns plane.

Every lab actor that waits — the drill scripts, the heartbeat schedule, the EventBridge poller, the data
plane sync, the computed plane's clients and probes, the Lambda endpoint's timeouts — and the controller
itself (``Deps.clock``/``Deps.sleep``) read and wait on the session's ``LabClock``: ``time()``,
``sleep(s)``, ``event()`` (an Event whose ``wait`` waits on the clock) and ``thread(target, name)``.

``RealClock`` is ``time`` and ``threading``; the hand-overs (``participant``, ``token``, ``lend``,
``claim``) mean something only to lab time, lab.virtual_clock.VirtualClock (the computed data plane's
clock: lab.dataplane.kinds.clock_for), which needs to know who runs and who waits.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class LabEvent(Protocol):
    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class LabThread(Protocol):
    name: str

    def start(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def is_alive(self) -> bool: ...


class LabClock(Protocol):
    """What the lab's actors wait on (see the module doc)."""

    virtual: bool

    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...
    def event(self) -> LabEvent: ...
    def thread(self, target: Callable[..., object], name: str, args: tuple = ()) -> LabThread: ...
    def participant(self, name: str): ...      # context manager: the calling thread takes part
    def token(self, name: str) -> Token: ...     # a turn taken now, for a task that runs later
    def lend(self, expect: int): ...           # context manager: the caller waits on `expect` claims
    def claim(self, name: str): ...            # context manager: a request that a caller waits on


class Token:
    """A turn for a task handed over now that runs later (``run``): on a real clock, nothing."""

    def run(self, fn: Callable[..., object], *args) -> object:
        return fn(*args)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class RealClock:
    """Wall time (``time.time``, ``time.sleep``, ``threading``): the netns data plane's clock."""

    virtual = False

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def event(self) -> threading.Event:
        return threading.Event()

    def thread(self, target: Callable[..., object], name: str, args: tuple = ()) -> threading.Thread:
        return threading.Thread(target=target, args=args, name=name, daemon=True)

    def participant(self, name: str):
        return _nothing()

    def token(self, name: str) -> Token:
        return Token()

    def lend(self, expect: int):
        return _nothing()

    def claim(self, name: str):
        return _nothing()
