"""The spot drills of issue 20 on the real netns data plane (root): ``spot-interruption`` (EC2's warning by
event and metadata, the NAT terminated a scaled two minutes later) and ``spot-capacity`` (spot refused by the
emulator, the replacement launched on-demand). One run of both (one emulator, no ``chalice deploy``; each
replaces a NAT, so each gets a fresh session); the checks read the report as ``hanat lab drill --json``
prints it."""
from __future__ import annotations

import pytest

from lab.drills.scenarios.spot import MAX_FAILED_PER_MOVE, ROUTES_MOVED_WITHIN_S
from tests.lab.drill_reports import failed_checks, netns_reports

DRILLS = ("spot-interruption", "spot-capacity")


@pytest.fixture(scope="module")
def reports():
    return netns_reports(DRILLS)


@pytest.mark.netns
def test_netns_spot_interruption_moves_routes_at_once_breaks_nothing_early_keeps_the_egress_ip(reports):
    r = reports["spot-interruption"]
    assert r["passed"] and r["error"] is None and r["dataplane"] == "netns", failed_checks(r)
    f = r["figures"]
    assert f["routes_moved_s"] <= ROUTES_MOVED_WITHIN_S
    assert f["connections_open_at_warning"] > 0 and f["connections_broken_within_warning"] == 0
    assert f["egress_ip_before"] == f["egress_ip_after"] and f["egress_ip_before"].startswith("203.0.113.")
    assert f["new_nat"] != f["old_nat"]


@pytest.mark.netns
def test_netns_spot_capacity_falls_back_to_on_demand_and_serves_the_zone_throughout(reports):
    r = reports["spot-capacity"]
    assert r["passed"] and r["error"] is None and r["dataplane"] == "netns", failed_checks(r)
    f = r["figures"]
    assert f["spot_refused"] >= 1 and f["new_market"] == "on-demand"
    assert f["moves"] >= 1 and all(n <= MAX_FAILED_PER_MOVE for n in f["failed_per_move"])
    assert f["egress_ip_before"] == f["egress_ip_after"]
