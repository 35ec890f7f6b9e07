"""A probe and its confirmations in one invoke: the same NAT path probed up to ``samples`` times, each
sample an independent round of checks (new connections), every one of which must fail.

The next sample starts when the last one failed, or when it has gone ``HEDGE_SHARE`` of its timeout
without an answer: a healthy path answers in milliseconds (the measured probe takes ~50 ms), a dead
one never does, so the confirmation runs alongside the first sample's wait instead of after it. A
blackholed NAT is then confirmed after ``timeout x (1 + (samples - 1) x HEDGE_SHARE)`` — 3 s at the
defaults (timeout 2 s, fail_after 2) instead of 4 s — in the same execution environment (no second
Lambda environment and its cold start), and a path that answers costs one round as before. The first
sample that passes ends the probe; samples still running are dropped.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace

from ..settings import MAX_PROBE_TIMEOUT_S, ProbeSettings
from .checks import FINISH_MARGIN_S, run_checks
from .results import ProbeResult

HEDGE_SHARE = 0.5
# The longest one probe invoke may sample: a probe and one hedged confirmation at the longest timeout
# (the probe function's Lambda timeout and the heartbeat's probe round follow from it).
MAX_CHAIN_S = MAX_PROBE_TIMEOUT_S * (1 + HEDGE_SHARE)
MAX_SAMPLES = 10

Check = Callable[[str, Sequence[str], float, Callable[[], float]], ProbeResult]


def chain_s(timeout_s: float, samples: int) -> float:
    """The longest ``samples`` samples take: the first's timeout, then one hedge interval per further sample."""
    return float(timeout_s) * (1 + (max(1, int(samples)) - 1) * HEDGE_SHARE)


def samples_for(timeout_s: float, fail_after: int) -> int:
    """How many samples the heartbeat asks one probe invoke for: ``fail_after``, as many as fit in
    MAX_CHAIN_S and MAX_SAMPLES (the sweep re-probes for the rest)."""
    n = max(1, min(int(fail_after), MAX_SAMPLES))
    while n > 1 and chain_s(timeout_s, n) > MAX_CHAIN_S:
        n -= 1
    return n


def probe_samples(probe: ProbeSettings) -> int:
    """The ``samples`` the heartbeat sends each probe function for these settings."""
    return samples_for(probe.timeout_s, probe.fail_after)


def probe_chain_s(probe: ProbeSettings) -> float:
    """The longest one probe invoke takes for these settings (its Lambda timeout, the heartbeat's wait
    and read timeout follow from it)."""
    return chain_s(probe.timeout_s, probe_samples(probe))


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
