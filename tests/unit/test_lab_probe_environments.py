"""The netns plane counts the probe environments an invoke had to start (a cold start: none idle, as
Lambda starts one when every environment is busy) and the invokes past their function's timeout (their
environment dropped, as Lambda does); the drill reports carry them as ``probe_cold_starts`` and
``probe_timeouts`` (lab.drills.runner), to tell a failover slowed by a cold start from one slowed by EC2."""
from __future__ import annotations

import pytest

from lab.aws.lambda_endpoint import TIMEOUT
from lab.dataplane.netns import plane as netns_plane
from lab.drills.runner import probe_environments
from tests.unit.test_netns_layout import spec


class StandIn:
    """An execution environment whose invoke returns what the test says (and may invoke again meanwhile)."""

    def __init__(self, script):
        self.busy, self.script, self.cpu_attached, self.proc = False, script, True, None

    def claim(self):
        if self.busy:
            return False
        self.busy = True
        return True

    def release(self):
        self.busy = False

    def invoke(self, function, event, request_id):
        return self.script(event)

    def close(self):
        pass


def outcome(kind: str):
    return type("Outcome", (), {"kind": kind})()


# id: the invokes one after the other, each (its outcome, invokes made while it runs), then the expected
# (cold starts, timeouts); the plane starts with no environment for the zone, so the first invoke is cold
CASES = {
    "one-environment-serves-invokes-in-turn": ((("ok", 0), ("ok", 0), ("ok", 0)), (1, 0)),
    "an-invoke-while-one-runs-starts-another": ((("ok", 1), ("ok", 0)), (2, 0)),
    "two-in-turn-while-one-runs-need-one-more": ((("ok", 2),), (2, 0)),
    "a-timed-out-environment-is-dropped-the-next-invoke-starts-one": (((TIMEOUT, 0), ("ok", 0)), (2, 1)),
}


@pytest.mark.parametrize("case", CASES)
def test_cold_starts_and_timeouts_are_counted(monkeypatch, tmp_path, case):
    invokes, expected = CASES[case]
    monkeypatch.setattr(netns_plane.tempfile, "mkdtemp", lambda prefix: str(tmp_path))
    monkeypatch.setattr("lab.dataplane.netns.shell.stop_process", lambda proc: None)
    plane = netns_plane.NetnsDataPlane(spec(), "t1")

    def script(event):
        for _ in range(event.get("meanwhile", 0)):      # these find the environment busy
            plane.invoke_probe("az-0", None, {"kind": "ok"}, "r2")
        return outcome(event["kind"])

    monkeypatch.setattr(plane, "_new_agent", lambda az: StandIn(script))
    for kind, meanwhile in invokes:
        plane.invoke_probe("az-0", None, {"kind": kind, "meanwhile": meanwhile}, "r1")
    assert (plane.probe_cold_starts, plane.probe_timeouts) == expected


def test_the_runner_reads_them_from_a_netns_plane_and_nothing_from_another():
    netns = type("S", (), {"dataplane": type("D", (), {"probe_cold_starts": 3, "probe_timeouts": 1})()})()
    computed = type("S", (), {"dataplane": object()})()
    assert probe_environments(netns) == (3, 1)
    assert probe_environments(computed) is None
