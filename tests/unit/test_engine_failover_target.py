"""The sweep's own failover (engine/decide.py ``place``) picks its target by gray health, table-driven: a
healthy NAT with headroom first; one without headroom before a DEGRADED one; a DEGRADED NAT only when no
other NAT may serve, and then the move's reason (so its alert) says so (issue 19 item 3: "zones that a
DEGRADED NAT serves move off it when another NAT has headroom": a failover must not put them back on it)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from chalicelib.aws.observe import GrayView, gray_views
from chalicelib.engine import DOWN, FAILOVER, UP, ZoneInput, ZoneState, decide
from chalicelib.errors import AwsError
from chalicelib.probes.results import ProbeResult
from chalicelib.settings import FailoverSettings, ProbeSettings

P = ProbeSettings(fail_after=2, recover_after=3, min_hold_s=60, targets=("tcp://203.0.113.1:443",))
F = FailoverSettings(headroom_percent=70)
NOW = 100_000.0
FULL = "conntrack 1000/1000 (100 %)"


@dataclass
class Case:
    degraded: dict[str, str] = field(default_factory=dict)    # az -> why DEGRADED
    use: dict[str, float] = field(default_factory=dict)        # az -> conntrack/port use %
    down: tuple[str, ...] = ()                                 # these NATs are DOWN too (not usable)
    to: str | None = None                                      # where zone a fails over (None: nowhere)
    says: str = ""                                             # in the move's reason (= the alert's)
    outcome: str = "failover"


CASES = {
    # ring a, b, c; zone a's NAT has failed: b is the first after a in the ring, c the next
    "no gray records: the ring's first": Case(to="b"),
    "b DEGRADED, c healthy: c, though further in the ring": Case(degraded={"b": FULL}, to="c"),
    "b DEGRADED, c healthy but loaded with no headroom: c (not degraded beats degraded)": Case(
        degraded={"b": FULL}, use={"c": 85.0}, to="c", says="no NAT has headroom: NAT c at 85 % use",
        outcome="no_headroom"),
    "b without headroom, c with: c": Case(use={"b": 90.0, "c": 10.0}, to="c"),
    "b at exactly the headroom limit has none: c": Case(use={"b": 70.0, "c": 69.9}, to="c"),
    "both without headroom: the ring's first, saying so": Case(use={"b": 90.0, "c": 95.0}, to="b",
                                                              says="no NAT has headroom", outcome="no_headroom"),
    "every other NAT DEGRADED: one is chosen, the alert says it is DEGRADED": Case(
        degraded={"b": FULL, "c": "2 port allocation errors"}, to="b",
        says=f"no healthy NAT with headroom: NAT b although DEGRADED ({FULL})", outcome="degraded_target"),
    "the only healthy NAT is DOWN, the other DEGRADED: the DEGRADED one": Case(
        degraded={"c": FULL}, down=("b",), to="c", says="although DEGRADED", outcome="degraded_target"),
    "never read (metrics off, no agent) counts as headroom": Case(use={"b": 99.0}, to="c"),
    "DEGRADED and DOWN everywhere else: nowhere": Case(degraded={"c": FULL}, down=("b", "c"), to=None,
                                                       outcome="no_target"),
}


def _probe(az: str, passed: bool) -> ProbeResult:
    return ProbeResult(zone=az, passed=passed, at=NOW)


@pytest.mark.parametrize("case_id", CASES)
def test_failover_target_by_gray_health(case_id):
    c = CASES[case_id]
    zones = []
    for az in "abc":
        failing = az == "a" or az in c.down
        state = ZoneState(az=az, health=DOWN if az in c.down else UP, since=NOW - 3600, fails=0 if az in c.down else 1)
        zones.append(ZoneInput(az=az, state=state, nat_instance_id=f"i-{az}", probe=_probe(az, not failing),
                               instance_state="running", degraded=c.degraded.get(az, ""), use_percent=c.use.get(az)))
    d = decide(zones, P, F, now=NOW)
    assert d.states["a"].health == DOWN
    moves = [(m.zone, m.to_az, m.kind) for m in d.moves if m.zone == "a"]   # a DOWN b fails over too
    assert moves == ([("a", c.to, FAILOVER)] if c.to else []), d.outcomes
    assert c.outcome in d.outcomes
    if c.to:
        (alert,) = [a for a in d.alerts if a.type == FAILOVER and a.zone == "a"]
        assert alert.to_zone == c.to and alert.to_nat == f"i-{c.to}"
        assert alert.reason.startswith("2 failed probes")
        if c.says:
            assert c.says in alert.reason
        else:
            assert "headroom" not in alert.reason and "DEGRADED" not in alert.reason


def _items(*bodies: tuple[str, str]) -> dict:
    return {"Items": [{"sk": {"S": az}, "data": {"S": body}} for az, body in bodies]}


def test_the_sweeps_read_of_the_gray_records_gives_the_engine_plain_fields():
    answer = _items(("a", ('{"status": "DEGRADED", "reason": "conntrack 950/1000 (95 %)", '
                           '"reading": {"conntrack_percent": 95.0, "busiest_port_percent": 3.0}}')),
                    ("b", '{"status": "OK", "reading": {"conntrack_percent": 12.5, "busiest_port_percent": 40.0}}'),
                    ("c", '{"status": "OK", "reading": null}'))
    assert gray_views(answer) == {"a": GrayView("conntrack 950/1000 (95 %)", 95.0), "b": GrayView("", 40.0),
                             "c": GrayView("", None)}
    # unreadable records never fail the sweep: the failover then ranks targets without them
    assert gray_views(AwsError("dynamodb.Query t gray", "ProvisionedThroughputExceededException", "slow down")) == {}
