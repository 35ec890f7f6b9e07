"""The drills of issues 11 and 12 on the real netns data plane (root): ``cutover`` (adopt a VPC from its NAT
gateways, fail over in it, give it back) and ``roll`` (every NAT replaced, one zone at a time)
(heartbeat-stopped, the heartbeat-missing alarm, runs on lab time: tests/lab/test_lab_computed_drills.py). One
run of the two (one emulator, no ``chalice deploy``; roll last) at the lab's settings, which are the
shortest that prove each point (probe interval 1 s, ``maintenance.drain_s`` 2 s, a 5 s lab minute); the
checks read the report as ``hanat lab drill --json`` prints it."""
from __future__ import annotations

import pytest

from tests.lab.drill_reports import failed_checks, netns_reports

# heartbeat-stopped (the alarm on the heartbeat's own metric, no data plane in it) is judged on lab time in
# tests/lab/test_lab_computed_drills.py with the same assertions (merged there: it ran here too before)
DRILLS = ("cutover", "roll")


@pytest.fixture(scope="module")
def reports():
    return netns_reports(DRILLS)


@pytest.mark.netns
def test_netns_cutover_takes_over_from_nat_gateways_and_gives_back(reports):
    r = reports["cutover"]
    assert r["passed"] and r["error"] is None and r["dataplane"] == "netns", failed_checks(r)
    zones = r["figures"]["zones"]
    assert len(zones) == 2
    for az, z in zones.items():
        assert z["nat_gateway"].startswith("nat-") and z["nat_gateway_address"] != z["nat_eip_address"], az
        assert z["egress_ip_before"] == z["nat_gateway_address"], az          # the NAT gateway's address
        assert z["egress_ip_after"] == z["nat_eip_address"], az               # cut over: the NAT's EIP
        assert z["egress_ip_after_release"] == z["nat_gateway_address"], az   # released: the gateway again
        assert z["cutovers"] == 1, az
        assert z["failed_requests_at_cutover"] <= 1 and z["failed_requests_at_release"] <= 1, az
    cut_at = sorted(z["cutover_at_s"] for z in zones.values())
    assert cut_at[1] > cut_at[0]                                              # zone by zone
    assert r["failovers"] == 1 and r["reverts"] == 1 and r["false_failovers"] == 0   # the blackhole part
    assert sum(1 for a in r["alerts"] if a.startswith("[hanat] CUTOVER")) == 2
    assert sum(1 for a in r["alerts"] if a.startswith("[hanat] RELEASE")) == 2


@pytest.mark.netns
def test_netns_roll_replaces_every_nat_keeping_egress_addresses(reports):
    r = reports["roll"]
    assert r["passed"] and r["error"] is None, failed_checks(r)
    f = r["figures"]
    assert f["status"] == "done" and f["order"] == list(f["zones"]) and f["roll_s"] > 0
    for az, z in f["zones"].items():
        assert z["new_nat"] != z["old_nat"] and z["launched"] == 1, az
        assert z["egress_ip_before"] == z["egress_ip_after"] and z["egress_ip_before"].startswith("203.0.113."), az
        assert z["moves"] == 2 and z["failed_requests"] <= 4, az               # away and back; <= 2 per move
    assert r["failovers"] == 2 and r["reverts"] == 2 and r["checks"]["one_zone_at_a_time"]
