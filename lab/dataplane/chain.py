"""A computed probe invoke's samples, chained as chalicelib.probes.samples.run_samples chains them, in lab time.

``run_samples`` starts the next sample when the last one failed or has gone ``HEDGE_SHARE`` of its
timeout without an answer, and stops at the first sample that passes; it waits for its samples' threads
on the wall clock. The computed plane knows each sample's result and cost the moment it starts, so it
plays the same chain on the session's clock instead: each sample is computed when it starts (from the
data plane as it is then), the clock sleeps to the next start or end, and the answer holds the samples
``run_samples`` would hand back (done by then, in the order started, up to the first that passed), each
marked ``hedged`` when it started while the one before still waited.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from chalicelib.probes.results import ProbeResult
from chalicelib.settings import HEDGE_SHARE

# () -> (the sample's result, the seconds the real checks would take for it)
Sample = Callable[[], tuple[ProbeResult, float]]


@dataclass
class _Started:
    at: float
    ends: float
    result: ProbeResult
    hedged: bool


def chain(samples: int, timeout_s: float, sample: Sample, *, now: Callable[[], float],
          sleep: Callable[[float], object]) -> ProbeResult:
    """Up to ``samples`` samples, chained as ``run_samples`` chains them, ``sleep`` spending the time
    between their starts and ends (``now``: the session's clock)."""
    hedge_s = float(timeout_s) * HEDGE_SHARE
    t0, clock = now(), now
    at = 0.0      # seconds since the chain started
    started: list[_Started] = []

    def launch(hedged: bool) -> None:
        result, cost = sample()
        started.append(_Started(at, at + cost, result, hedged))

    launch(False)
    while True:
        if any(s.result.passed for s in started if s.ends <= at):
            break
        last = started[-1]
        if len(started) < samples and (last.ends <= at or at >= last.at + hedge_s):
            launch(hedged=last.ends > at)
            continue
        running = [s.ends for s in started if s.ends > at]
        if not running:
            break
        wake = min(running)
        if len(started) < samples:
            wake = min(wake, last.at + hedge_s)
        sleep(max(0.0, t0 + wake - clock()))
        at = wake
    done = [replace(s.result, hedged=s.hedged) for s in started if s.ends <= at]
    cut = next((i for i, r in enumerate(done) if r.passed), len(done) - 1)
    done = done[:cut + 1]
    return replace(done[0], confirmations=tuple(done[1:]))
