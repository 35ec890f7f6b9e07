"""The lab heartbeat keeps each run's wall time (lab.aws.heartbeat.Heartbeat.longest_run_s): at the heartbeat's
CPU share a sweep takes over a second of wall time, and the roll drill allows that much more after the drain
before it expects the NATs' resets (lab/drills/scenarios/connections.py)."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from lab.aws.heartbeat import Heartbeat
from lab.timeline import Timeline


class StepClock:
    def __init__(self) -> None:
        self.now = 100.0

    def time(self) -> float:
        return self.now

    def event(self):
        return threading.Event()


def beat_with(takes: list[float | None]) -> tuple[Heartbeat, StepClock]:
    """A heartbeat whose runs take ``takes`` seconds each (None: the run fails), one per second."""
    clock, durations = StepClock(), iter(takes)

    def sweep(_deps):
        took = next(durations)
        if took is None:
            raise RuntimeError("boom")
        clock.now += took
        return SimpleNamespace(hedged={})

    beat = Heartbeat(make_deps=object, sweep=sweep, status=lambda _d: [], interval_s=1.0,
                     timeline=Timeline(clock.time), clock=clock)
    for _ in takes:
        beat.tick()
        clock.now += 1.0
    return beat, clock


CASES = {   # id: (each run's wall time, since, until, expected longest)
    "none_yet": ([], 0.0, float("inf"), 0.0),
    "all_runs": ([0.2, 1.4, 0.3], 0.0, float("inf"), 1.4),
    "only_runs_started_in_the_window": ([2.5, 0.4, 0.6], 103.0, float("inf"), 0.6),
    "until_bounds_it": ([0.2, 1.4, 0.3], 0.0, 100.5, 0.2),
}


@pytest.mark.parametrize("case", CASES)
def test_longest_run_in_a_window(case):
    takes, since, until, expected = CASES[case]
    beat, _ = beat_with(takes)
    assert beat.longest_run_s(since, until) == pytest.approx(expected)


def test_a_failed_run_is_not_counted_and_forget_clears_them():
    beat, _ = beat_with([0.5, None])
    assert beat.longest_run_s(0.0) == pytest.approx(0.5) and beat.errors == ["RuntimeError: boom"]
    beat.forget()
    assert beat.longest_run_s(0.0) == 0.0
