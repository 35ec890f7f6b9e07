"""Issue 11's "must show", through the real `hanat` command against the moto server on loopback: a VPC
built by a plain boto3 script the way a VPC module would (3 zones, a NAT gateway per zone, two private
route tables per zone that also route a peer network through a peering connection, a database route
table without a default route) is adopted, planned, built, cut over, re-applied with no change, and
given back by `down` with everything of the VPC still there; a release whose NAT gateway was deleted
refuses with nothing changed, and --release-to takes another one."""
from __future__ import annotations

import json
import re
import tomllib

import boto3

from lab.aws.foreignvpc import build_foreign_vpc, default_targets, routes_of
from tests.integration.test_cli_stack import REGION
from tests.support.cli import hanat

AZS = ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d")
STACK = "payments"
STACK_FILTER = [{"Name": "tag:hanat:stack", "Values": [STACK]}]
LAB_PROBE = '\n[probe]\ntargets = ["tcp://203.0.113.10:443"]\n'


def tags(resource: dict) -> dict:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def tagged(ec2) -> dict[str, int]:
    """How many EC2 resources carry the stack's tag, by kind (live instances only)."""
    instances = [i for r in ec2.describe_instances(Filters=STACK_FILTER)["Reservations"] for i in r["Instances"]
                 if i["State"]["Name"] != "terminated"]
    return {"instances": len(instances),
            "subnets": len(ec2.describe_subnets(Filters=STACK_FILTER)["Subnets"]),
            "route_tables": len(ec2.describe_route_tables(Filters=STACK_FILTER)["RouteTables"]),
            "security_groups": len(ec2.describe_security_groups(Filters=STACK_FILTER)["SecurityGroups"]),
            "eips": len(ec2.describe_addresses(Filters=STACK_FILTER)["Addresses"]),
            "launch_templates": len(ec2.describe_launch_templates(Filters=STACK_FILTER)["LaunchTemplates"])}


def vpc_inventory(ec2, foreign) -> dict:
    """Everything the user had: it must all still be there, unchanged, after `down`."""
    vpc = foreign.vpc_id
    by_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    return {
        "vpc": [v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]],
        "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets(Filters=by_vpc)["Subnets"]
                          if "hanat:stack" not in tags(s)),
        "route_tables": sorted(t["RouteTableId"] for t in ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]
                               if tags(t).get("hanat:role") is None),
        "nat_gateways": sorted((g["NatGatewayId"], g["State"]) for g in
                               ec2.describe_nat_gateways(Filter=by_vpc)["NatGateways"]),
        "peering": [(p["VpcPeeringConnectionId"], p["Status"]["Code"]) for p in ec2.describe_vpc_peering_connections(
            VpcPeeringConnectionIds=[foreign.peering_id])["VpcPeeringConnections"]],
        "igw": [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(
            InternetGatewayIds=[foreign.igw_id])["InternetGateways"]],
    }


def ok(run) -> dict:
    assert run.code == 0, run.err
    return json.loads(run.out)


def test_adopt_plan_up_cutover_up_down_through_the_cli(emulator_env, tmp_path, capsys):
    ec2 = boto3.client("ec2", region_name=REGION)   # AWS_ENDPOINT_URL: the loopback server
    foreign = build_foreign_vpc(ec2, AZS)
    before_routes, before = routes_of(ec2, foreign.vpc_id), vpc_inventory(ec2, foreign)
    path = tmp_path / "hanat.toml"

    # hanat adopt: discovery writes a config for review
    adopt = hanat(capsys, "adopt", "--vpc-id", foreign.vpc_id, "--region", REGION, "--out", str(path))
    assert adopt.code == 0, adopt.err
    written = tomllib.loads(path.read_text())
    assert written["stack"] == {"name": STACK, "region": REGION, "vpc_id": foreign.vpc_id}
    assert [(z["az"], z["public_subnet_id"], sorted(z["private_route_table_ids"])) for z in written["zones"]] == \
           [(z.az, z.public_subnet_id, sorted(z.private_route_table_ids)) for z in foreign.zones]
    assert re.search(rf"#\s+{foreign.database_route_table_id} \(payments-database\): its subnets are in "
                     rf"{', '.join(AZS)}", path.read_text())
    assert "3 zone(s)" in adopt.err
    assert hanat(capsys, "adopt", "--vpc-id", foreign.vpc_id, "--region", REGION, "--out", str(path)).code == 2
    path.write_text(path.read_text() + LAB_PROBE)     # the review: probe only the lab's own addresses

    # plan: every creation, every default route taken over (from which NAT gateway); nothing changes
    plan = ok(hanat(capsys, "plan", "--config", str(path), "--json"))
    kinds = {(s["action"], s["kind"]) for s in plan["steps"]}
    assert not {k for _, k in kinds} & {"vpc", "internet-gateway", "attach-internet-gateway", "vpc-attribute"}
    taken = {s["name"]: s["detail"] for s in plan["steps"] if s["kind"] == "adopt-route-table"}
    assert set(taken) == set(foreign.private_route_table_ids)
    assert all(f"from NAT gateway {foreign.nat_of_table[t]}" in taken[t] for t in taken)
    assert {(s["name"], s["zone"]) for s in plan["steps"] if s["kind"] == "subnet"} == {("probe", az) for az in AZS}
    assert {(s["name"], s["zone"]) for s in plan["steps"] if s["kind"] == "route-table"} == {("probe", az)
                                                                                             for az in AZS}
    assert tagged(ec2) == dict.fromkeys(tagged(ec2), 0) and routes_of(ec2, foreign.vpc_id) == before_routes

    # up: NATs in the given public subnets, probe subnets in free space, no route moved
    up = ok(hanat(capsys, "up", "--config", str(path), "--json"))
    assert up["changes"] > 0 and up["vpc_id"] == foreign.vpc_id
    zones = {z["az"]: z for z in up["zones"]}
    for z in foreign.zones:
        nat = ec2.describe_instances(InstanceIds=[zones[z.az]["nat_instance_id"]])["Reservations"][0]["Instances"][0]
        assert nat["SubnetId"] == z.public_subnet_id
        assert sorted(zones[z.az]["adopted"], key=lambda a: a["route_table_id"]) == [
            {"route_table_id": t, "original_target": z.nat_gateway_id} for t in sorted(z.private_route_table_ids)]
    originals = [s["CidrBlock"] for s in ec2.describe_subnets(SubnetIds=before["subnets"])["Subnets"]]
    for z in up["zones"]:
        probe = ec2.describe_subnets(SubnetIds=[z["probe_subnet_id"]])["Subnets"][0]["CidrBlock"]
        assert probe.startswith("10.42.") and probe.endswith("/28")
        assert not any(_overlaps(probe, other) for other in originals), probe
    assert routes_of(ec2, foreign.vpc_id) == {**before_routes, **_probe_routes(ec2, up)}
    listed = ec2.describe_route_tables(RouteTableIds=foreign.private_route_table_ids)["RouteTables"]
    assert all(tags(t)["hanat:stack"] == STACK and tags(t)["hanat:adopted"] == "true" for t in listed)
    for other in (foreign.database_route_table_id, foreign.public_route_table_id):
        assert not {k for k in tags(ec2.describe_route_tables(RouteTableIds=[other])["RouteTables"][0])
                    if k.startswith("hanat:")}

    # cutover --all --force: every listed table's default route at its zone's NAT, every other route kept
    cut = ok(hanat(capsys, "cutover", "--all", "--force", "--config", str(path), "--json"))
    assert sorted(cut["changed"]) == sorted(foreign.private_route_table_ids)
    assert default_targets(ec2, foreign.private_route_table_ids) == {
        t: zones[z.az]["nat_eni_id"] for z in foreign.zones for t in z.private_route_table_ids}
    after_cut = routes_of(ec2, foreign.vpc_id)
    for table, routes in before_routes.items():
        kept = [r for r in routes if not (r[0] == "0.0.0.0/0" and table in foreign.private_route_table_ids)]
        assert [r for r in after_cut[table] if r[0] != "0.0.0.0/0" or table not in
                foreign.private_route_table_ids] == kept, table
    status = ok(hanat(capsys, "status", "--config", str(path), "--json"))
    assert {z["az"]: (z["adoption"], z["served_by"]) for z in status["zones"]} == {az: ("cut-over", az) for az in AZS}

    # a second up changes nothing
    assert ok(hanat(capsys, "up", "--config", str(path), "--json"))["changes"] == 0

    # down: every default route back at its NAT gateway; everything hanat made (and its tags) gone
    down = ok(hanat(capsys, "down", "--config", str(path), "--json"))
    assert sorted(down["given_back"]) == sorted(foreign.private_route_table_ids)
    assert routes_of(ec2, foreign.vpc_id) == before_routes
    assert tagged(ec2) == dict.fromkeys(tagged(ec2), 0)
    assert vpc_inventory(ec2, foreign) == before
    listed = ec2.describe_route_tables(RouteTableIds=foreign.private_route_table_ids)["RouteTables"]
    assert all(not {k for k in tags(t) if k.startswith("hanat:")} and tags(t)["terraform"] == "true" for t in listed)
    ssm = boto3.client("ssm", region_name=REGION)
    assert ssm.get_parameters(Names=[f"/hanat/{STACK}/topology"])["InvalidParameters"]


def _overlaps(a: str, b: str) -> bool:
    import ipaddress
    return ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))


def _probe_routes(ec2, up: dict) -> dict:
    """The probe tables `up` created (the only new route tables in the VPC)."""
    ids = [z["probe_route_table_id"] for z in up["zones"]]
    return {t: r for t, r in routes_of(ec2, up["vpc_id"]).items() if t in ids}


def test_release_and_down_refuse_when_a_nat_gateway_is_gone_then_release_to_works(emulator_env, tmp_path, capsys):
    ec2 = boto3.client("ec2", region_name=REGION)
    foreign = build_foreign_vpc(ec2, AZS)
    path = tmp_path / "hanat.toml"
    assert hanat(capsys, "adopt", "--vpc-id", foreign.vpc_id, "--region", REGION, "--out", str(path)).code == 0
    path.write_text(path.read_text() + LAB_PROBE)
    ok(hanat(capsys, "up", "--config", str(path), "--json"))
    ok(hanat(capsys, "cutover", "--all", "--force", "--config", str(path), "--json"))
    za, zc = foreign.zones[0], foreign.zones[1]
    ec2.delete_nat_gateway(NatGatewayId=za.nat_gateway_id)
    cut, made = routes_of(ec2, foreign.vpc_id), tagged(ec2)

    for command in (["release", "--zone", za.az], ["down"]):
        run = hanat(capsys, *command, "--config", str(path))
        assert run.code == 2, (command, run.err)
        text = " ".join(run.err.split())
        for table in za.private_route_table_ids:
            assert f"route table {table} ({za.az}): its original target NAT gateway {za.nat_gateway_id} is " \
                   "deleted, not available" in text, text
        assert "--release-to" in text and zc.nat_gateway_id in text
        assert routes_of(ec2, foreign.vpc_id) == cut and tagged(ec2) == made     # nothing changed

    released = ok(hanat(capsys, "release", "--zone", za.az, "--release-to", zc.nat_gateway_id, "--config", str(path),
                        "--json"))
    assert released["targets"] == dict.fromkeys(za.private_route_table_ids, zc.nat_gateway_id)
    down = ok(hanat(capsys, "down", "--config", str(path), "--release-to", zc.nat_gateway_id, "--json"))
    assert tagged(ec2) == dict.fromkeys(made, 0)
    targets = default_targets(ec2, foreign.private_route_table_ids)
    assert targets == {t: (zc.nat_gateway_id if z is za else z.nat_gateway_id)
                       for z in foreign.zones for t in z.private_route_table_ids}
    assert down["deleted"] > 10
