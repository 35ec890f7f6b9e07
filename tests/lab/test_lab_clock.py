"""The lab's clock (lab.clock) and the computed probe chain on it (lab.dataplane.chain): lab time passes only
while every participant waits in the clock, jumps straight to the next wake-up, and a probe invoke's samples
chain in lab time exactly as the production probe function chains them on the wall clock."""
from __future__ import annotations

import itertools
import os
import signal
import threading
import time

import pytest

from chalicelib.probes.results import ProbeResult, TargetResult
from chalicelib.probes.samples import run_samples
from lab.clock import RealClock
from lab.dataplane.chain import chain
from lab.dataplane.kinds import clock_for
from lab.virtual_clock import VirtualClock


def in_threads(clock, *bodies):
    threads = [clock.thread(body, f"t{i}") for i, body in enumerate(bodies)]
    with clock.participant("test"):   # lab time stands still until every thread is started
        for t in threads:
            t.start()
        for t in threads:
            t.join(3600)   # lab seconds
    assert not any(t.is_alive() for t in threads)


def test_lab_time_jumps_to_each_wake_up_in_order_without_wall_time():
    clock = VirtualClock(start=1000.0)
    woke: list[tuple[str, float]] = []

    def sleeper(name, seconds):
        return lambda: (clock.sleep(seconds), woke.append((name, round(clock.time() - 1000.0, 3))))

    wall = time.monotonic()
    in_threads(clock, sleeper("long", 300.0), sleeper("short", 60.0), sleeper("mid", 120.0))
    assert woke == [("short", 60.0), ("mid", 120.0), ("long", 300.0)]
    assert time.monotonic() - wall < 5          # five lab minutes, no wall minutes
    assert clock.strays == set()


def test_lab_time_stands_still_while_a_participant_works_off_the_clock():
    """A participant blocked on something else (an HTTP answer, here a wall sleep) holds lab time."""
    clock = VirtualClock(start=0.0)
    seen = {}

    def worker():
        time.sleep(0.3)                      # real work: no lab time may pass meanwhile
        seen["worker_done"] = clock.time()
        clock.sleep(1.0)

    def waiter():
        clock.sleep(0.5)
        seen["waiter_woke"] = clock.time()

    in_threads(clock, worker, waiter)
    assert seen["worker_done"] < 0.001 and 0.5 <= seen["waiter_woke"] < 0.501


def test_an_event_wakes_its_waiter_at_the_moment_it_is_set_and_a_timeout_in_lab_time():
    clock = VirtualClock(start=0.0)
    event, seen = clock.event(), {}

    def setter():
        clock.sleep(2.0)
        event.set()

    def waiter():
        seen["set"] = (event.wait(30.0), clock.time())
        seen["timed_out"] = (clock.event().wait(5.0), clock.time())

    in_threads(clock, setter, waiter)
    assert seen["set"][0] is True and 2.0 <= seen["set"][1] < 2.001
    assert seen["timed_out"][0] is False and 7.0 <= seen["timed_out"][1] < 7.001


def test_reads_at_one_instant_are_ordered():
    """What happens first at one lab instant is stamped first (a sample before the fault it preceded)."""
    clock = VirtualClock(start=0.0)
    reads = [clock.time() for _ in range(1000)]
    assert all(a < b for a, b in itertools.pairwise(reads)) and reads[-1] < 0.01


def test_a_lent_turn_covers_the_requests_and_the_way_back():
    """The heartbeat lends its turn to its probe invokes (handled in other threads, as the Lambda
    endpoint handles them): lab time runs while they wait, and does not run on between the last answer
    and the caller's return, even with a busy poller ticking every 0.1 s."""
    clock = VirtualClock(start=0.0)
    stop, seen = clock.event(), {}

    def request(cost):
        def handle():
            with clock.claim("invoke"):
                time.sleep(0.05)                 # the request on its way: lab time may not pass
                clock.sleep(cost)
        return handle

    def caller():
        with clock.lend(2):
            handlers = [threading.Thread(target=request(c)) for c in (0.0, 1.5)]
            for h in handlers:
                h.start()
            for h in handlers:
                h.join()
            time.sleep(0.05)                     # the answers on their way back
        seen["back"] = clock.time()
        stop.set()

    def poller():
        while not stop.wait(0.1):
            pass

    in_threads(clock, caller, poller)
    assert 1.5 <= seen["back"] < 1.501
    assert clock.strays == set()


def test_a_wait_outside_every_participant_is_noted_and_holds_no_lab_time():
    clock = VirtualClock(start=0.0)
    t = threading.Thread(target=clock.sleep, args=(3.0,), name="stray")
    t.start()
    t.join(10)
    assert not t.is_alive() and clock.strays == {"stray"} and clock.time() >= 3.0


def test_each_data_plane_gets_its_clock():
    assert isinstance(clock_for("computed"), VirtualClock) and isinstance(clock_for("netns"), RealClock)


# --- the probe chain -----------------------------------------------------------------------------
def sample_of(passed: bool, cost: float, at: float = 0.0) -> tuple[ProbeResult, float]:
    result = TargetResult(target="tcp://198.51.100.11:80", ok=passed, error=None if passed else "timeout")
    return ProbeResult(zone="az-a", passed=passed, results=(result,), at=at), cost


def shape(result: ProbeResult) -> list[tuple[bool, bool]]:
    """(passed, hedged) of the result and each confirmation, in order."""
    return [(r.passed, r.hedged) for r in (result, *result.confirmations)]


@pytest.mark.parametrize("samples, plan, lab_s", [
    (2, [(False, 1.0), (False, 1.0)], 1.5),    # a dead path: the confirmation hedged at half the timeout
    (2, [(True, 0.0)], 0.0),                   # a healthy path: one sample, nothing more
    (3, [(False, 1.0), (True, 0.0)], 0.5),     # the hedged confirmation passes at once
    (2, [(False, 0.2), (False, 1.0)], 1.2),    # a fast failure: the next sample starts when it fails
    (3, [(False, 1.0), (False, 1.0), (False, 1.0)], 2.0),
])
def test_the_lab_time_chain_equals_the_probe_functions_chain(samples, plan, lab_s):
    """chalicelib.probes.samples.run_samples on the wall clock (its checks sleeping their cost, scaled
    down) and lab.dataplane.chain on a VirtualClock hand back the same samples, hedged the same way; the
    chain spends the lab time run_samples spends."""
    scale = 0.4   # wall seconds per lab second for run_samples
    wall_plan = iter(plan)

    def check(zone, targets, timeout_s, clock):
        passed, cost = next(wall_plan)
        time.sleep(cost * scale)
        return sample_of(passed, cost)[0]

    wall = run_samples("az-a", ["tcp://198.51.100.11:80"], 1.0 * scale, samples, time.time, check=check)
    clock = VirtualClock(start=0.0)
    lab_plan = iter(plan)
    with clock.participant("probe"):
        lab = chain(samples, 1.0, lambda: sample_of(*next(lab_plan)), now=clock.time, sleep=clock.sleep)
    assert shape(lab) == shape(wall)
    assert clock.time() == pytest.approx(lab_s, abs=0.001)


def test_an_interrupted_wait_is_dropped_and_its_thread_runs_on():
    """Ctrl-C (SIGINT) in a drill's lab-time wait: the drill's thread runs again (its clean-up), so lab
    time must stand still under its work, as under any participant's (it ran on to the dropped wait's
    100 s before)."""
    clock = VirtualClock(start=0.0)

    def poller():
        for _ in range(50):
            clock.sleep(0.1)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)   # Ctrl-C raises KeyboardInterrupt
    try:
        with clock.participant("drill"):
            holder = clock.thread(lambda: time.sleep(0.8), "holder")   # real work: lab time stands still
            ticker = clock.thread(poller, "poller")
            holder.start()
            ticker.start()
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
            with pytest.raises(KeyboardInterrupt):
                clock.sleep(100.0)
            interrupted_at = clock.time()
            time.sleep(1.5)                      # the clean-up's work, past the holder's end
            assert clock.time() - interrupted_at < 0.01
            ticker.join(100)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not ticker.is_alive() and clock.time() < 10
