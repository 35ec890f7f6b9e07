"""The gray-failure drills of issue 19 on the real netns data plane (root): ``conntrack-full`` (emulated limit:
lab.dataplane.netns.gray_faults), ``port-exhaustion`` (the kernel's source-NAT clash) and ``bandwidth-cap``
(a tbf qdisc; ENA's counter from it). Each: the other zone served by the drilled NAT, the fault, DEGRADED
with one alert naming the cause, the served zone moved home, the NAT's own zone left on it, no connection
broken. One session for the three (none replaces a NAT; lab.session_reset between them, no chalice
deploy); the checks read the report as ``hanat lab drill --json`` prints it."""
from __future__ import annotations

import json

import pytest

from tests.lab.drill_reports import failed_checks, netns_reports

DRILLS = ("conntrack-full", "port-exhaustion", "bandwidth-cap")
# `make test-long`, not `make test`: the three drills take 90-114 s on one worker
pytestmark = pytest.mark.long_drill


@pytest.fixture(scope="module")
def reports():
    return netns_reports(DRILLS)


def _common(r: dict, cause: str) -> dict:
    """What every gray drill promises (its checks passed: the bounds are in their names), read back."""
    f = r["figures"]
    seen = {k: r[k] for k in ("connections_open", "connections_broken", "reset_after_s", "max_stall_s", "connections")}
    assert r["passed"] and r["error"] is None and r["dataplane"] == "netns", \
        json.dumps({**failed_checks(r), "connections": seen}, default=str)[:6000]
    assert f["causes"] == [cause] and 0 < f["degraded_s"] <= f["alert_s"] + 0.5, f
    # the served zone went home (a planned move), the drilled NAT's own zone never moved
    moved = [(m["zone"], m["kind"]) for m in f["zones_moved"]]
    assert len(moved) == 1 and moved[0][1] == "revert" and moved[0][0] != r["zone"], f
    assert f["moved_after_degraded_s"] >= 0, f
    assert r["connections_broken"] == 0 and r["connections_open"] > 0, f
    assert [a for a in r["alerts"] if a.startswith("[hanat] DEGRADED")], r["alerts"]
    return f


@pytest.mark.netns
def test_netns_conntrack_full_is_degraded_with_the_limit_it_was_given(reports):
    f = _common(reports["conntrack-full"], "conntrack-full")
    assert f["published_conntrack_limit"] == f["injected_conntrack_limit"]    # what the agent read is what was set
    assert f["published_conntrack_percent"] >= 95
    assert "nf_conntrack_max" in f["injected"]["emulated"]                    # the report says it is emulated


@pytest.mark.netns
def test_netns_port_exhaustion_is_degraded_by_the_kernels_insert_failed_toward_the_busy_destination(reports):
    f = _common(reports["port-exhaustion"], "port-allocation")
    assert f["held"] == f["injected_ports"] == 4
    assert f["published_port_errors"] > 0 and f["published_busiest_destination"] == f["injected_destination"]
    assert f["published_conntrack_drops"] == 0       # the clashes' drops are not read as a full table


@pytest.mark.netns
def test_netns_bandwidth_cap_is_degraded_by_the_allowance_exceeded_and_its_throughput_is_the_cap(reports):
    f = _common(reports["bandwidth-cap"], "allowance-exceeded")
    assert f["published_allowance_exceeded"] > 0
    assert 0.25 * f["injected_rate_mbit"] <= f["published_throughput_mbps"] <= 1.5 * f["injected_rate_mbit"]
    assert "bw_out_allowance_exceeded" in f["injected"]["emulated"]
