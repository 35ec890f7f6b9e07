"""Reading a write back until it shows (adapter helper): EC2's reads lag its writes.

"The result of an API command you run that affects your Amazon EC2 resources might not be immediately
visible to all subsequent commands you run"; AWS's advice is to run the Describe command again with
growing delays ("Eventual consistency in the Amazon EC2 API", EC2 Developer Guide,
https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html). A caller that acts on what it
reads next (the replacement machine, ``hanat up``'s own checks) would otherwise repeat a write it already
made, or report the state from before it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import AwsError
from .calls import RetryPolicy

T = TypeVar("T")

READ_BACK_S = 10.0
READ_BACK_POLICY = RetryPolicy(within_s=READ_BACK_S, base_delay_s=0.1, max_delay_s=2.0)


def until_shown(op: str, read: Callable[[], T], shows: Callable[[T], bool], expected: str, *,
                deadline: float | None = None, sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic, policy: RetryPolicy = READ_BACK_POLICY) -> T:
    """``read()`` until ``shows(value)``, for up to ``policy.within_s`` and never past ``deadline`` (a
    ``time.monotonic()`` instant); the value that showed it, or AwsError ``VerifyFailed`` from ``op``
    naming ``expected`` and what was read last."""
    started = clock()
    give_up = started + policy.within_s if deadline is None else min(started + policy.within_s, deadline)
    attempt = 0
    while True:
        attempt += 1
        value = read()
        if shows(value):
            return value
        delay = policy.delay(attempt)
        if clock() + delay > give_up:
            raise AwsError(op, "VerifyFailed", f"read back {value!r}, expected {expected} "
                                               f"({attempt} reads in {clock() - started:.1f}s)")
        sleep(delay)
