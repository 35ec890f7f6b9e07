"""A probe and its confirmations in one invoke: the same NAT path probed up to ``samples`` times, each
sample an independent round of checks (new connections), every one of which must fail.

The next sample starts when the last one failed, or when it has gone ``HEDGE_SHARE`` of its timeout
without an answer: a healthy path answers in milliseconds (the measured probe takes ~50 ms), a dead
one never does, so the confirmation runs alongside the first sample's wait instead of after it. A
blackholed NAT is then confirmed after ``timeout x (1 + (samples - 1) x HEDGE_SHARE)`` — 3 s at the
defaults (timeout 2 s, fail_after 2) instead of 4 s — in the same execution environment (no second
Lambda environment and its cold start), and a path that answers costs one round as before. The first
sample that passes ends the probe; samples still running are dropped. How many samples one invoke
takes for a stack's settings, and how long they may take, is ``ProbeSettings.samples`` and
``ProbeSettings.chain_s`` (chalicelib/settings.py).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace

from ..settings import HEDGE_SHARE
from .checks import FINISH_MARGIN_S, run_checks
from .results import ProbeResult

Check = Callable[[str, Sequence[str], float, Callable[[], float]], ProbeResult]



def run_samples(zone: str, targets: Sequence[str], timeout_s: float, samples: int,
                clock: Callable[[], float], *, check: Check = run_checks,
                monotonic: Callable[[], float] = time.monotonic) -> ProbeResult:
    """Up to ``samples`` rounds of ``check``, chained as the module says: the first sample, with the
    others (in the order started, up to the first that passed) as its ``confirmations``."""
    hedge_s = float(timeout_s) * HEDGE_SHARE
    pool = ThreadPoolExecutor(max_workers=max(1, int(samples)), thread_name_prefix=f"sample-{zone}")
    started: list[tuple[Future, float, bool]] = []     # (future, monotonic start, hedged)

    def launch(hedged: bool) -> None:
        started.append((pool.submit(check, zone, targets, timeout_s, clock), monotonic(), hedged))

    try:
        launch(False)
        while True:
            last, last_at, _ = started[-1]
            if any(f.done() and f.result().passed for f, _, _ in started):
                break
            if len(started) < samples and (last.done() or monotonic() - last_at >= hedge_s):
                launch(hedged=not last.done())
                continue
            running = [f for f, _, _ in started if not f.done()]
            if not running:
                break
            until = last_at + hedge_s if len(started) < samples else None
            timeout = None if until is None else max(0.0, until - monotonic())
            wait(running, timeout=timeout if timeout is not None else timeout_s + FINISH_MARGIN_S,
                 return_when=FIRST_COMPLETED)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    done = [replace(f.result(), hedged=hedged) for f, _, hedged in started if f.done()]
    cut = next((i for i, r in enumerate(done) if r.passed), len(done) - 1)
    done = done[:cut + 1]
    return replace(done[0], confirmations=tuple(done[1:]))
