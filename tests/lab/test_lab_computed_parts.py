"""The lab's parts that need no emulator (and no root): the computed data plane, the figures, the event shape."""
from __future__ import annotations

import pytest

from chalicelib.errors import InputError
from lab.aws.eventbridge import classify, state_change_event
from lab.config import for_the_lab, is_lab_target, load_lab_settings
from lab.dataplane.computed import ComputedDataPlane
from lab.dataplane.egress import EgressSample
from lab.dataplane.kinds import DATAPLANE_KINDS, choose_dataplane
from lab.dataplane.netns.conntrack_limit import ruleset as limit_ruleset
from lab.dataplane.netns.gray_faults import ports_ruleset
from lab.dataplane.spec import DataPlaneSpec, NatPlane, ZonePlane
from lab.drills.report import detection, last_egress, ping_pong, rto
from lab.drills.runner import (
    SCENARIOS,
    DrillOptions,
    adopts_vpc,
    expand_scenarios,
    netns_only,
    replaces_nat,
    run_scenarios,
)
from lab.metrics import Metrics
from lab.timeline import Event, Timeline

TARGETS = ["http://198.51.100.10/", "tcp://198.51.100.11:80"]


def spec(route_a="eni-a", state_a="running") -> DataPlaneSpec:
    nat_a = NatPlane("i-a", "eni-a", "10.0.0.5", "10.0.0.0/24", state=state_a, lab_address="203.0.113.101")
    nat_b = NatPlane("i-b", "eni-b", "10.0.1.5", "10.0.1.0/24", lab_address="203.0.113.102")
    zones = (ZonePlane("az-a", "10.0.0.0/24", "10.0.16.0/20", "10.0.8.0/28", nat_a),
             ZonePlane("az-b", "10.0.1.0/24", "10.0.32.0/20", "10.0.9.0/28", nat_b))
    routes = {"10.0.16.0/20": route_a, "10.0.8.0/28": "eni-a", "10.0.32.0/20": "eni-b", "10.0.9.0/28": "eni-b"}
    return DataPlaneSpec("10.0.0.0/16", zones, routes)


@pytest.mark.parametrize("route_a, state_a, fault, expected", [
    ("eni-a", "running", None, "203.0.113.101"),            # own NAT
    ("eni-b", "running", None, "203.0.113.102"),            # failed over: the other NAT's address
    ("eni-a", "stopped", None, None),                       # NAT not running
    ("eni-gone", "running", None, None),                    # route to an ENI no NAT owns
    (None, "running", None, None),                          # no default route
    ("eni-a", "running", "blackhole", None),                # NAT drops what it forwards
    ("eni-b", "running", "blackhole", "203.0.113.102"),     # blackholed NAT no longer on the path
    ("eni-a", "running", "targets_down", None),             # nothing answers
])
def test_computed_reachability(route_a, state_a, fault, expected):
    plane = ComputedDataPlane(spec(route_a, state_a))
    if fault == "blackhole":
        plane.blackhole("az-a")
    elif fault == "targets_down":
        plane.targets_down()
    assert plane.egress_of("10.0.16.0/20") == expected


def test_computed_probes_follow_the_probe_route_and_cost_their_timeout():
    waited = []
    plane = ComputedDataPlane(spec(), wait=waited.append)
    plane.blackhole("az-a")
    results = plane.probe(["az-a", "az-b"], TARGETS, 0.2)
    assert not results["az-a"].passed and results["az-b"].passed
    assert all(r.error == "timeout" for r in results["az-a"].results)
    assert waited == [0.2]                                   # in parallel: the slowest zone's timeout
    assert plane.control_probe(TARGETS, 0.2).passed          # the control probe is outside the VPC
    plane.targets_down()
    assert not plane.control_probe(TARGETS, 0.2).passed
    assert waited == [0.2, 0.0, 0.2]                         # a passing probe costs nothing, a failed one its timeout


def probe_b(plane: ComputedDataPlane):
    """One probe of zone az-b (its path is up): only the flaky fault can lose its attempts."""
    return plane.probe(["az-b"], TARGETS, 0.01)["az-b"]


def no_wait(seconds: float) -> None:
    """The time a probe would have taken is not spent (the results do not depend on it)."""


def test_computed_flaky_loses_attempts_but_rarely_a_whole_probe():
    plane = ComputedDataPlane(spec(), seed=7, wait=no_wait)
    plane.flaky()
    results = [probe_b(plane) for _ in range(300)]
    retried = sum(1 for r in results for t in r.results if t.attempts > 1)
    lost_targets = sum(1 for r in results for t in r.results if not t.ok)
    assert retried > 60                       # ~20 % of first attempts are lost
    assert 0 < lost_targets < 12              # 0.2**3 = 0.8 % of targets lose all 3 attempts
    assert all(r.passed == any(t.ok for t in r.results) for r in results)   # one target answering is enough
    assert sum(not r.passed for r in results) <= 2    # both targets lost: (0.2**3)**2 per probe
    plane.flaky(False)
    assert all(t.attempts == 1 for t in probe_b(plane).results)


def test_computed_flaky_is_reproducible_with_a_seed():
    def run(seed):
        plane = ComputedDataPlane(spec(), seed=seed, wait=no_wait)
        plane.flaky()
        return [t.attempts for _ in range(50) for t in probe_b(plane).results]
    assert run(3) == run(3)
    assert run(3) != run(4)


def test_computed_clear_faults_is_a_new_plane_for_a_reused_session():
    """lab.session_reset: every fault lifted, late boots no more, the loss generator seeded as a new plane's."""
    def attempts(plane):
        plane.flaky()
        return [t.attempts for _ in range(50) for t in probe_b(plane).results]
    plane = ComputedDataPlane(spec(), seed=1, wait=no_wait)
    attempts(plane)
    plane.blackhole("az-a")
    plane.targets_down()
    plane.boot_offline(30.0)
    plane.clear_faults(seed=3)
    assert plane.egress_of("10.0.16.0/20") == "203.0.113.101" and plane.control_probe(TARGETS, 0.01).passed
    assert all(t.attempts == 1 for t in probe_b(plane).results)         # flaky off
    replaced = spec()
    replacement = NatPlane("i-c", "eni-c", "10.0.0.6", "10.0.0.0/24", lab_address="203.0.113.101")
    plane.sync(DataPlaneSpec(replaced.vpc_cidr, (ZonePlane("az-a", "10.0.0.0/24", "10.0.16.0/20", "10.0.8.0/28",
                                                           replacement), replaced.zones[1]),
                             {**replaced.routes, "10.0.16.0/20": "eni-c"}))
    assert plane.egress_of("10.0.16.0/20") == "203.0.113.101" and not plane.boots()   # a new NAT boots at once
    assert attempts(plane) == attempts(ComputedDataPlane(spec(), seed=3, wait=no_wait))


def test_only_the_drills_that_replace_a_nat_end_their_session():
    assert {s for s in SCENARIOS if replaces_nat(s)} == {"terminate", "nat-boot-offline", "roll",
                                                          "spot-interruption", "spot-capacity"}
    assert {s for s in SCENARIOS if adopts_vpc(s)} == {"cutover"}


def test_the_gray_drills_need_the_netns_plane_and_all_leaves_them_out_elsewhere():
    """Their faults live in a NAT's kernel (lab.dataplane.netns.gray_faults): asked for on the computed plane
    they are bad input naming why, before anything starts; `all` there runs every other drill."""
    gray = ("conntrack-full", "port-exhaustion", "bandwidth-cap")
    assert {s for s in SCENARIOS if netns_only(s)} == set(gray)
    assert expand_scenarios("all", "computed") == [s for s in SCENARIOS if s not in gray]
    assert expand_scenarios("all", "netns") == list(SCENARIOS)   # conntrack-full too: steady since issue 19 item 7
    with pytest.raises(InputError, match="port-exhaustion needs the netns data plane"):
        run_scenarios(["port-exhaustion"], load_lab_settings(),
                      dataplane="computed", options=DrillOptions(), progress=lambda m: None)


def test_the_gray_faults_rulesets_narrow_one_destination_and_drop_only_users_new_flows():
    ports = ports_ruleset(True, ["10.0.16.0/20", "10.0.32.0/20"], "10.0.0.5", 4)
    assert "priority srcnat - 10" in ports    # before setup-nat.sh's masquerade: the first nat chain wins
    assert "ip daddr 198.51.100.10 tcp dport 80 snat to 10.0.0.5:61000-61003" in ports
    assert "snat" not in ports_ruleset(False, [], "", 0) and "delete table ip hanat_fault_ports" in ports
    full = limit_ruleset(True, "10.0.0.0/16", "10.0.8.0/28,10.0.9.0/28")
    assert "ct state new ip saddr { 10.0.0.0/16 } ip saddr != { 10.0.8.0/28,10.0.9.0/28 } counter drop" in full
    assert "drop" not in limit_ruleset(False, "10.0.0.0/16", "")


def test_a_reused_sessions_metrics_and_timeline_start_empty():
    metrics, timeline = Metrics(), Timeline()
    metrics("SweepsCompleted", 1, "Count")
    timeline.add("fault", "az-a")
    metrics.clear()
    timeline.clear()
    assert metrics.counts == {} and metrics.series("SweepsCompleted") == [] and timeline.events() == []


def samples(*pattern, start=100.0):
    return [EgressSample(t=start + i * 0.1, ok=ok, you="x" if ok else None) for i, ok in enumerate(pattern)]


def test_rto_is_fault_to_first_success_after_first_failure():
    s = samples(True, True, False, False, False, True, True)      # fault at 100.1
    assert rto(s, 100.1) == pytest.approx(0.4)
    assert rto(samples(True, True, True), 100.0) == 0.0              # no request failed
    assert rto(samples(True, True), 200.0) is None                   # no sample after the fault
    assert rto(samples(True, False, False), 100.0) is None           # never came back


def test_last_egress_is_where_the_latest_successes_went():
    s = [EgressSample(1.0, True, "a"), EgressSample(2.0, True, "b"), EgressSample(3.0, False),
         EgressSample(4.0, True, "b")]
    assert last_egress(s, 2.5, count=1) == "b"
    assert last_egress(s, 1.5) == "a"
    assert last_egress(s, 5.0, count=3) == "b"
    assert last_egress(s, 0.5) is None


def test_detection_takes_the_first_down_or_route_move_of_an_affected_zone():
    events = [Event(9.0, "failover", "a"), Event(11.0, "health", "b", {"health": "DOWN"}),
              Event(12.0, "health", "a", {"health": "DOWN"}), Event(12.5, "failover", "a")]
    assert detection(events, ["a"], 10.0) == 2.0     # the failover at 9.0 was before the fault
    assert detection(events, ["b"], 10.0) == 1.0
    assert detection(events, ["c"], 10.0) is None


def test_ping_pong_is_a_move_straight_back():
    there = Event(1, "failover", "a", {"from": "a", "to": "b"})
    back = Event(2, "revert", "a", {"from": "b", "to": "a"})
    onwards = Event(2, "move", "a", {"from": "b", "to": "c"})
    assert ping_pong([there, back], "a")
    assert not ping_pong([there, onwards], "a")
    assert not ping_pong([there], "a")


@pytest.mark.parametrize("own, before, after, kind", [
    ("a", "a", "b", "failover"), ("a", "b", "a", "revert"), ("a", "b", "c", "move"), ("a", "b", None, "move"),
])
def test_route_changes_are_classified_from_the_zone_owning_the_table(own, before, after, kind):
    assert classify(own, before, after) == kind


def test_state_change_events_look_like_eventbridge_and_have_unique_ids():
    a = state_change_event("i-1", "stopped", "ap-northeast-1")
    b = state_change_event("i-1", "stopped", "ap-northeast-1")
    assert a["detail-type"] == "EC2 Instance State-change Notification" and a["source"] == "aws.ec2"
    assert a["detail"] == {"instance-id": "i-1", "state": "stopped"}
    assert a["id"] != b["id"]


def test_foreign_probe_targets_are_replaced_with_a_note():
    from bootstrap.config import load_config
    settings = for_the_lab(load_config("examples/hanat.toml"), "examples/hanat.toml")
    assert all(is_lab_target(t) for t in settings.config.probe.targets)
    assert settings.notes and "checkip.amazonaws.com" in settings.notes[0]
    assert settings.config.alerts.slack_webhook_parameter == "/hanat/demo/slack-webhook"
    lab = for_the_lab(load_config("examples/lab.toml"), "examples/lab.toml")
    assert lab.notes == () and lab.config.probe.targets == load_config("examples/lab.toml").probe.targets


def test_a_bad_dataplane_request_is_bad_input():
    with pytest.raises(InputError, match="'bogus' is not one of netns, computed"):
        choose_dataplane("bogus")
    assert choose_dataplane("computed") == "computed"


def test_the_cli_offers_every_dataplane_kind():
    from controller.cli import cli
    drill = cli.commands["lab"].commands["drill"]   # as `hanat lab drill --help` shows it
    dataplane = next(p for p in drill.params if p.name == "dataplane")
    assert tuple(dataplane.type.choices) == tuple(DATAPLANE_KINDS)


def test_plot_lanes_tell_own_address_from_the_backups_and_no_egress():
    from lab.drills.plot import own_address, segments
    pts = [{"t": 0.0, "ok": True, "you": "203.0.113.101"}, {"t": 1.0, "ok": True, "you": "203.0.113.101"},
           {"t": 2.0, "ok": False}, {"t": 3.0, "ok": True, "you": "203.0.113.102"},
           {"t": 4.0, "ok": True, "you": "203.0.113.101"}, {"t": 5.0, "ok": True, "you": "203.0.113.101"}]
    own = own_address(pts, fault_at=1.5)
    assert own == "203.0.113.101"
    assert segments(pts, 1.5, own) == {"own": [(-1.5, 2.0), (2.5, 1.0)], "other": [(1.5, 1.0)],
                                       "none": [(0.5, 1.0)]}
