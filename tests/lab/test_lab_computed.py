"""The lab without root: the computed data plane under the real emulator (moto server on loopback), the
stack built by `hanat up`'s code and the real controller (sweep, events, self-healing, alerts, Slack
relay) on the lab's clock.

Every scenario's criteria are proven on the real netns data plane (tests/lab/test_drills.py, root) and,
on lab time, on this one (tests/lab/test_lab_computed_drills.py); here what the no-root path itself must
show: a probe-driven failover and revert, a replacement (the event path, self-healing), a reused session,
and the CLI (chalice deploy, JSON, bad input). The session runs on lab time (lab.virtual_clock)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lab.aws.eventbridge import POLL_S
from lab.config import load_lab_settings
from lab.drills.runner import DrillOptions, run_scenarios
from tests.support.cli import hanat

COMPUTED_SCENARIOS = ("blackhole", "terminate")
# One run: blackhole on a fresh session, twice more on that session reused (lab.session_reset), then terminate.
RUNS = ("blackhole", "blackhole", "blackhole", "terminate")


@pytest.fixture(scope="module")
def runs():
    notes: list[str] = []
    done = run_scenarios(list(RUNS), load_lab_settings(), dataplane="computed", options=DrillOptions(),
                         progress=notes.append, deploy=False)
    return done, notes


@pytest.fixture(scope="module")
def reports(runs):
    done, _ = runs
    return {"blackhole": done[0], "terminate": done[3]}


@pytest.mark.parametrize("scenario", COMPUTED_SCENARIOS)
def test_drill_passes_its_criteria(reports, scenario):
    r = reports[scenario]
    assert r.dataplane == "computed"
    assert r.error is None
    assert r.passed, {k: v for k, v in r.checks.items() if not v}
    assert r.routes_ok and r.checks["routes_ok"]
    assert r.egress_ip_after == r.egress_ip_before and r.egress_ip_before.startswith("203.0.113.")


def test_blackhole_fails_over_then_back_with_measured_times(reports):
    r = reports["blackhole"]
    assert r.failovers == 1 and r.reverts == 1 and r.false_failovers == 0
    # the route move is seen by the lab's watcher up to one poll late; the computed plane serves the new
    # route at once, so egress may come back a moment before the move is on the timeline
    assert 0 < r.detection_s <= r.rto_s + POLL_S and r.rto_s <= 5
    assert r.egress_ips_during and r.egress_ip_before not in r.egress_ips_during
    assert any("FAILOVER" in a for a in r.alerts) and any(a.startswith("slack: ") for a in r.alerts)
    kinds = [e["event"] for e in r.timeline]
    assert kinds.index("fault") < kinds.index("failover") < kinds.index("recover") < kinds.index("revert")


def test_terminate_is_healed_by_a_replacement_keeping_the_egress_address(reports):
    r = reports["terminate"]
    new = [e for e in r.timeline if e["event"] == "new_nat"]
    assert len(new) == 1
    assert any("REPLACE" in a for a in r.alerts)
    revert = next(e for e in r.timeline if e["event"] == "revert")
    assert revert["nat"] == new[0]["instance"]          # routes came back to the replacement


def alert_kinds(r) -> list[str]:
    """Each alert's channel and kind ("[hanat] FAILOVER", "slack: [hanat] REVERT"), sorted."""
    return sorted(" ".join(a.split()[:3 if a.startswith("slack: ") else 2]) for a in r.alerts)


def moments(r) -> dict[str, float]:
    """Seconds from the fault to the first failover, the recovery and the first revert after it."""
    t = {e["event"]: e["t"] for e in reversed(r.timeline) if e["event"] in ("failover", "recover")}
    t["revert"] = next(e["t"] for e in r.timeline if e["event"] == "revert" and e["t"] >= t["recover"])
    return t


def test_a_reused_session_judges_a_drill_as_a_fresh_session_does(runs):
    """Three blackholes of one zone, back to back on one session: without the reset the third would be the
    zone's third failover inside the flap window (chalicelib.engine.model.FLAP_THRESHOLD): a FLAPPING
    alert, and a revert hold doubled. Its figures equal the first's (a fresh session's) within one probe
    round (interval + timeout: where the fault falls in the sweep cycle)."""
    done, notes = runs
    assert sum("built in" in n for n in notes) == 1 and sum("session reused" in n for n in notes) == 3, notes
    fresh, second, third = done[:3]
    p = load_lab_settings().config.probe
    tolerance = p.interval_s + p.timeout_s
    for reused in (second, third):
        assert reused.passed and reused.error is None, {k: v for k, v in reused.checks.items() if not v}
        assert (reused.failovers, reused.reverts, reused.false_failovers) == (fresh.failovers, fresh.reverts, 0)
        assert alert_kinds(reused) == alert_kinds(fresh), (reused.alerts, fresh.alerts)
        assert not [a for a in reused.alerts if "FLAPPING" in a.upper()]
        assert reused.egress_ip_before == fresh.egress_ip_before and reused.egress_ip_after == fresh.egress_ip_after
        assert abs(reused.rto_s - fresh.rto_s) <= tolerance and abs(reused.detection_s - fresh.detection_s) <= tolerance
        a, b = moments(reused), moments(fresh)
        assert abs((a["revert"] - a["failover"]) - (b["revert"] - b["failover"])) <= tolerance, (a, b)
        assert {e["event"] for e in reused.timeline} == {e["event"] for e in fresh.timeline}
        assert reused.errors == fresh.errors == []


def run_cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "controller.cli", *args], check=False, capture_output=True, text=True,
                          timeout=timeout)


def test_cli_drill_deploys_with_chalice_and_prints_one_json_object():
    proc = run_cli("lab", "drill", "--scenario", "stop", "--dataplane", "computed", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["scenario"] == "stop" and report["dataplane"] == "computed" and report["passed"] is True
    assert report["rto_s"] <= 2 and report["detection_s"] < 1.0   # event driven: faster than two probe rounds
    assert "controller deployed with chalice" in proc.stderr


@pytest.mark.parametrize("args, needle", [
    (["--scenario", "nope"], "nope"),
    (["--scenario", "stop", "--zone", "nowhere"], "nowhere"),
    (["--scenario", "stop", "--flaky-s", "0", "--plot", "x.svg"], "x.svg"),
    (["--scenario", "stop", "--config", "/nonexistent.toml"], "/nonexistent.toml"),
    (["--scenario", "lambda-errors", "--lambda-faults-s", "0", "--boot-delay-s", "-2"], "--boot-delay-s"),
])
def test_cli_bad_input_exits_2_naming_the_value(capsys, args, needle):
    """In this process (the checks come before anything is started); test_cli_drill_deploys... runs the
    command as a process of its own."""
    code, _, err = hanat(capsys, "lab", "drill", "--dataplane", "computed", *args)
    assert code == 2, err
    assert needle in err
    if "--flaky-s" in args:
        assert "--flaky-s" in err      # every problem is named
    if "--lambda-faults-s" in args:
        assert "--lambda-faults-s must be > 0, got 0" in err and "got -2" in err
