"""The controller in an adopted VPC, against moto (a VPC built like a VPC module would, then `up`):
automatic cutover one zone per sweep once proven, verified by reading back, with a cutover alert;
nothing moves while adopting; failover and revert on adopted tables as on owned ones; release gives
the routes back and the controller never moves them again; a release whose NAT gateway was deleted
refuses with nothing changed (or goes to --release-to)."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from bootstrap.config.toml_loader import parse_toml
from bootstrap.config.validate import build_config
from bootstrap.stack import StackClients, build_stack
from chalicelib.errors import InputError
from chalicelib.service.events import handle_instance_state
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.operations import operate
from lab.aws.foreignvpc import adopt_config, build_foreign_vpc, default_targets, routes_of
from tests.support.stack import AZS, REGION, FakeClock, ScriptedProbes, make_deps

A, C, D = AZS
PROBE = "interval_s = 5\nfail_after = 2\nrecover_after = 2\nmin_hold_s = 10"


@pytest.fixture
def adopted(aws_env):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        foreign = build_foreign_vpc(ec2, AZS)
        text = adopt_config(foreign, region=REGION).replace("[probe]\n", f"[probe]\n{PROBE}\n")
        config = build_config(parse_toml(text, source="t.toml"), source="t.toml")
        clients = StackClients.from_session(boto3.session.Session(region_name=REGION), REGION)
        topo = build_stack(config, clients, wait_interval_s=0).topology
        clock = FakeClock()
        probes = ScriptedProbes(clock)
        deps, alerts = make_deps(topo, clock, probes, control_passes=True)
        yield foreign, topo, deps, clock, probes, alerts, routes_of(ec2, foreign.vpc_id)


def sweep(deps, clock, n=1):
    reports = []
    for _ in range(n):
        clock.sleep(5.0)
        reports.append(run_sweep(deps))
    return reports


def moved(report) -> list[tuple[str, str, str]]:
    return [(m["zone"], m["to_az"], m["kind"]) for m in report.moves]


def nat_eni(topo, az):
    return topo.zone(az).nat_eni_id


def test_cutover_one_zone_per_sweep_once_proven_keeping_every_other_route(adopted):
    foreign, topo, deps, clock, _probes, alerts, before = adopted
    ec2 = deps.clients.ec2
    first = sweep(deps, clock)[0]
    assert first.moves == [] and routes_of(ec2, foreign.vpc_id) == before     # 1 pass: not proven yet
    reports = sweep(deps, clock, 3)
    assert [moved(r) for r in reports] == [[(A, A, "cutover")], [(C, C, "cutover")], [(D, D, "cutover")]]
    targets = default_targets(ec2, foreign.private_route_table_ids)
    assert targets == {t: nat_eni(topo, z.az) for z in foreign.zones for t in z.private_route_table_ids}
    after = routes_of(ec2, foreign.vpc_id)
    for table, routes in before.items():           # every other route of every table is kept
        assert [r for r in after[table] if r[0] != "0.0.0.0/0" or table not in targets] == \
               [r for r in routes if r[0] != "0.0.0.0/0" or table not in targets], table
    assert [(a.type, a.zone, a.to_nat) for a in alerts] == [("cutover", z, topo.zone(z).nat_instance_id) for z in AZS]
    assert sweep(deps, clock)[0].moves == []       # cut over: nothing left to do
    rows = {r["az"]: r for r in operate(deps, {"action": "status"})["zones"]}
    assert {az: (r["adoption"], r["served_by"]) for az, r in rows.items()} == {z: ("cut-over", z) for z in AZS}


def test_nothing_moves_while_adopting_even_when_a_nat_fails(adopted):
    foreign, topo, deps, clock, probes, _alerts, _before = adopted
    probes.failing = {A, C}
    reports = sweep(deps, clock, 3)
    assert [moved(r) for r in reports] == [[], [(D, D, "cutover")], []]    # D proven; A and C DOWN, not moved
    assert reports[-1].health == {A: "DOWN", C: "DOWN", D: "UP"}
    assert default_targets(deps.clients.ec2, foreign.zones[0].private_route_table_ids) == dict.fromkeys(
        foreign.zones[0].private_route_table_ids, foreign.zones[0].nat_gateway_id)
    event = {"id": "ev-1", "detail": {"instance-id": topo.zone(A).nat_instance_id, "state": "stopped"}}
    assert handle_instance_state(deps, event)["moves"] == []     # an adopting zone's NAT stopping moves nothing


def test_failover_and_revert_work_on_adopted_tables(adopted):
    foreign, topo, deps, clock, probes, _alerts, _before = adopted
    operate(deps, {"action": "cutover", "all": True, "force": True})
    sweep(deps, clock, 2)                                  # every NAT proven UP
    probes.failing = {A}
    reports = sweep(deps, clock, 2)     # the failed probe is confirmed at once: DOWN and moved in one sweep
    assert [m for r in reports for m in moved(r)] == [(A, C, "failover")]
    table_ids = foreign.zones[0].private_route_table_ids
    assert default_targets(deps.clients.ec2, table_ids) == dict.fromkeys(table_ids, nat_eni(topo, C))
    probes.failing = set()
    clock.sleep(60)
    reports = sweep(deps, clock, 3)
    assert [(A, A, "revert")] in [moved(r) for r in reports]
    assert default_targets(deps.clients.ec2, table_ids) == dict.fromkeys(table_ids, nat_eni(topo, A))


def test_release_gives_routes_back_and_the_controller_leaves_them(adopted):
    foreign, _topo, deps, clock, probes, alerts, before = adopted
    ec2 = deps.clients.ec2
    operate(deps, {"action": "cutover", "all": True, "force": True})
    answer = operate(deps, {"action": "release", "zone": A})
    za = foreign.zones[0]
    assert sorted(answer["changed"]) == sorted(za.private_route_table_ids)
    assert answer["targets"] == dict.fromkeys(za.private_route_table_ids, za.nat_gateway_id)
    assert answer["adoption"] == {A: "released"} and alerts[-1].type == "release"
    assert {t: routes_of(ec2, foreign.vpc_id)[t] for t in za.private_route_table_ids} == \
           {t: before[t] for t in za.private_route_table_ids}          # exactly as the user had them
    reports = sweep(deps, clock, 3)                                     # A's NAT proven UP again
    assert all(m["zone"] != A for r in reports for m in r.moves)
    assert default_targets(ec2, za.private_route_table_ids) == dict.fromkeys(za.private_route_table_ids,
                                                                             za.nat_gateway_id)
    probes.failing = {C}                                                # C fails over: A's NAT is proven, may serve
    reports = sweep(deps, clock, 2)
    assert [m for r in reports for m in moved(r)] in ([(C, A, "failover")], [(C, D, "failover")])
    again = operate(deps, {"action": "release", "zone": A})            # idempotent
    assert again["changed"] == []


def test_release_refuses_when_the_nat_gateway_is_gone_unless_release_to(adopted):
    foreign, _topo, deps, _clock, _probes, _alerts, _before = adopted
    ec2 = deps.clients.ec2
    operate(deps, {"action": "cutover", "all": True, "force": True})
    za, zc = foreign.zones[0], foreign.zones[1]
    ec2.delete_nat_gateway(NatGatewayId=za.nat_gateway_id)
    cut = routes_of(ec2, foreign.vpc_id)
    with pytest.raises(InputError) as info:
        operate(deps, {"action": "release", "all": True})
    problems = info.value.problems
    assert info.value.exit_code == 2
    for table in za.private_route_table_ids:
        assert f"route table {table} ({A}): its original target NAT gateway {za.nat_gateway_id} is deleted, " \
               "not available" in problems
    assert any(p.startswith(f"name another available NAT gateway of {foreign.vpc_id} with --release-to") and
               zc.nat_gateway_id in p for p in problems)
    assert routes_of(ec2, foreign.vpc_id) == cut                        # nothing changed
    with pytest.raises(InputError, match="release_to: NAT gateway nat-0123456789abcdef0 does not exist"):
        operate(deps, {"action": "release", "zone": A, "release_to": "nat-0123456789abcdef0"})
    answer = operate(deps, {"action": "release", "all": True, "release_to": zc.nat_gateway_id})
    targets = default_targets(ec2, foreign.private_route_table_ids)
    assert {t: targets[t] for t in za.private_route_table_ids} == dict.fromkeys(za.private_route_table_ids,
                                                                                zc.nat_gateway_id)
    assert {t: targets[t] for z in foreign.zones[1:] for t in z.private_route_table_ids} == \
           {t: z.nat_gateway_id for z in foreign.zones[1:] for t in z.private_route_table_ids}
    assert answer["adoption"] == dict.fromkeys(AZS, "released")


INVALID = [
    ({"action": "cutover"}, "zone: missing (which zone to act on), or all: true"),
    ({"action": "cutover", "zone": A, "all": True}, "zone: name one zone, or all: true for every zone (not both)"),
    ({"action": "cutover", "zone": "eu-west-9z"}, "zone: 'eu-west-9z' is not a zone of stack payments"),
    ({"action": "release", "all": True, "force": True}, "force: only applies to cutover, not 'release'"),
    ({"action": "cutover", "all": True, "release_to": "nat-0123456789abcdef0"},
     "release_to: only applies to release, not 'cutover'"),
    ({"action": "release", "all": True, "release_to": "igw-1"}, "release_to: 'igw-1' is not a NAT gateway id (nat-...)"),
    ({"action": "cutover", "all": "yes"}, "all: must be true or false, got 'yes'"),
    ({"action": "cutover", "all": True, "to_zone": A}, "unknown key 'to_zone'"),
]


@pytest.mark.parametrize("payload,expected", INVALID, ids=[e.split(":")[0] + "-" + str(i) for i, (_, e) in
                                                           enumerate(INVALID)])
def test_bad_cutover_and_release_payloads_change_nothing(adopted, payload, expected):
    foreign, _topo, deps, _clock, _probes, _alerts, before = adopted
    with pytest.raises(InputError) as info:
        operate(deps, payload)
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems
    assert routes_of(deps.clients.ec2, foreign.vpc_id) == before


def test_cutover_wait_leaves_unproven_zones_to_the_controller_and_the_follower_sees_them_cut_over(adopted):
    """`hanat cutover --all --wait` (issue 12: `cutover … --wait` follows the operation): a zone whose NAT is
    not proven yet is not refused but left to the controller; the follower is done once every zone is cut over."""
    from controller.views.operation import read_cutover

    _foreign, _topo, deps, clock, probes, _alerts, _before = adopted
    probes.failing = {C}                 # C's NAT fails its probes for now: not proven
    sweep(deps, clock, 3)                 # A and D proven and cut over by the controller; C still adopting
    payload = {"action": "cutover", "all": True, "wait": True}
    answer = operate(deps, payload)
    assert answer["changed"] == [] and [n.split(":")[0] for n in answer["waiting"]] == [C]
    progress = read_cutover(deps, payload, answer)
    assert not progress.done and C in progress.summary and "waiting for proof" in progress.summary
    probes.failing = set()
    sweep(deps, clock, 4)                 # C proven, cut over by the controller
    progress = read_cutover(deps, payload, answer)
    assert progress.done and not progress.failed
    assert {s.zone for s in progress.steps} >= {C}
    with pytest.raises(InputError, match="wait: only applies to cutover without force"):
        operate(deps, {"action": "cutover", "zone": A, "force": True, "wait": True})


def test_release_never_goes_to_a_private_nat_gateway(adopted):
    """A private NAT gateway does not reach the internet (Amazon VPC User Guide, NAT gateways, connectivity
    type: https://docs.aws.amazon.com/vpc/latest/userguide/vpc-nat-gateway.html): `--release-to` refuses it
    and the hint lists only the VPC's public NAT gateways (issue 18, fault 8)."""
    foreign, _topo, deps, _clock, _probes, _alerts, _before = adopted
    ec2 = deps.clients.ec2
    operate(deps, {"action": "cutover", "all": True, "force": True})
    za = foreign.zones[0]
    private = ec2.create_nat_gateway(SubnetId=za.public_subnet_id, ConnectivityType="private")["NatGateway"]
    assert private["ConnectivityType"] == "private"
    ec2.delete_nat_gateway(NatGatewayId=za.nat_gateway_id)
    cut = routes_of(ec2, foreign.vpc_id)
    with pytest.raises(InputError) as info:
        operate(deps, {"action": "release", "zone": A})
    hint = next(p for p in info.value.problems if p.startswith("name another available NAT gateway"))
    assert private["NatGatewayId"] not in hint and foreign.zones[1].nat_gateway_id in hint
    with pytest.raises(InputError, match=f"release_to: NAT gateway {private['NatGatewayId']} is a private NAT "
                                         r"gateway \(ConnectivityType private\): it does not reach the internet"):
        operate(deps, {"action": "release", "zone": A, "release_to": private["NatGatewayId"]})
    assert routes_of(ec2, foreign.vpc_id) == cut                        # nothing changed
