"""EC2's eventual consistency for the emulators: for a moment after a write, a Describe* may answer from before it.

"The Amazon EC2 API follows an eventual consistency model ... the result of an API command you run that
affects your Amazon EC2 resources might not be immediately visible to all subsequent commands you run"
(Amazon EC2 Developer Guide, "Eventual consistency in the Amazon EC2 API",
https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html). moto is strongly consistent,
so code that reads right after its own write and relies on the answer passes against it and fails on AWS.

``StaleReads`` models that deterministically (no coin flips): it remembers the last answer to each read
(per request shape: the action and every parameter) with the moment the read was sent, and every EC2
write with the moment it completed. A read is answered from that memory — the view from before the
write — while some write came after the remembered answer and the first such write is younger than the
window W; otherwise the read goes to the emulator (the truth) and its answer is remembered. A read of a
shape never asked before reads the truth. Writes are counted per scope (a region): any write may make
any read of that scope stale, stricter than AWS, whose lag is per resource, never looser. The callers'
own writes lag; a write that stands for the world changing by itself a while ago (a test's or a
drill's arrangement: a NAT stopped, a route edited by hand) is seen at once (``lags=False``).

One implementation, two places it runs: lab/aws/moto_server.py (the lab's moto server: the answer is the
HTTP response) and tests/support/consistency.py (a botocore hook in the moto tier: the answer is botocore's
``(http, parsed)``). They decide who is hanat (whose reads may be stale) and hand ``StaleReads`` the rest.
"""
from __future__ import annotations

import bisect
import copy
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

READ_PREFIX = "Describe"
# Reads that change nothing but are not Describe* (left alone: they are never stale here, never writes).
NOT_WRITES = ("Describe", "Get", "List", "Search")


def is_stale_able_read(action: str) -> bool:
    """An EC2 action whose answer may lag the writes before it (the Describe* family)."""
    return action.startswith(READ_PREFIX)


def is_write(action: str) -> bool:
    """An EC2 action that changes something (Run/Terminate/CreateTags/ReplaceRoute/Associate...)."""
    return bool(action) and not action.startswith(NOT_WRITES)


class StaleReads:
    """The memory of answers and writes; ``window_s`` 0 turns it off (every read is the truth)."""

    def __init__(self, window_s: float = 0.0, clock: Callable[[], float] = time.monotonic):
        if window_s < 0:
            raise ValueError(f"the stale-read window must be >= 0 s, got {window_s!r}")
        self.window_s = float(window_s)
        self.clock = clock
        self._lock = threading.Lock()
        self._answers: dict[tuple[Hashable, Hashable], tuple[float, Any]] = {}
        self._writes: dict[Hashable, list[float]] = {}
        self.counts = {"reads": 0, "stale": 0, "writes": 0}

    @property
    def on(self) -> bool:
        return self.window_s > 0

    def wrote(self, scope: Hashable, at: float | None = None, *, lags: bool = True) -> None:
        """A write in ``scope`` completed at ``at`` (now by default). ``lags=False``: a change the reads
        see at once (one that stands for a change made a while ago, by someone else): every answer
        remembered in ``scope`` is forgotten."""
        at = self.clock() if at is None else at
        with self._lock:
            self.counts["writes"] += 1
            if not lags:
                self._answers = {k: v for k, v in self._answers.items() if k[0] != scope}
                return
            writes = self._writes.setdefault(scope, [])
            bisect.insort(writes, at)
            # Writes older than the window matter only as "the newest settled write": keep that one.
            settled = bisect.bisect_right(writes, at - self.window_s)
            if settled > 1:
                del writes[:settled - 1]

    def settle(self) -> None:
        """Every write so far is visible from now on (as if the window had passed since the last one)."""
        with self._lock:
            settled_at = self.clock() - self.window_s
            for writes in self._writes.values():
                writes[:] = [min(writes[-1], settled_at)] if writes else []

    def answer(self, scope: Hashable, key: Hashable, now: float | None = None) -> Any | None:
        """The remembered answer to serve for this read (a copy), or None: read the truth (then ``saw``)."""
        now = self.clock() if now is None else now
        with self._lock:
            self.counts["reads"] += 1
            if not self.on or (scope, key) not in self._answers:
                return None
            seen_at, response = self._answers[(scope, key)]
            writes = self._writes.get(scope, [])
            first_after = bisect.bisect_right(writes, seen_at)
            if first_after == len(writes) or now - writes[first_after] >= self.window_s:
                return None
            self.counts["stale"] += 1
            return copy.deepcopy(response)

    def saw(self, scope: Hashable, key: Hashable, response: Any, at: float) -> None:
        """The truth answered this read, sent at ``at``: remember it (a copy)."""
        if not self.on:
            return
        with self._lock:
            previous = self._answers.get((scope, key))
            if previous is None or previous[0] <= at:
                self._answers[(scope, key)] = (at, copy.deepcopy(response))

    def state(self) -> dict:
        with self._lock:
            return {"stale_reads_s": self.window_s, "ec2_reads": self.counts["reads"],
                    "ec2_stale": self.counts["stale"], "ec2_writes": self.counts["writes"]}
