"""A sweep's AWS reads are batched: the same calls for 1 zone as for 3 (moto, in-process)."""
from __future__ import annotations

from collections import Counter

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws.observe import describe_instance_states
from chalicelib.service.heartbeat import run_sweep
from tests.support.stack import AZS, MOTO_AMI, build_stack, make_deps


def count_calls(*boto_clients) -> Counter:
    """service.Operation -> how many times it was called from now on."""
    calls: Counter = Counter()

    def before_call(model, **_kwargs):
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    for client in boto_clients:
        client.meta.events.register("before-call", before_call)
    return calls


def steady_sweep_calls(azs) -> Counter:
    topo = build_stack(stack=f"s{len(azs)}", azs=azs)
    deps, _ = make_deps(topo)
    run_sweep(deps)  # first sweep creates the zone records
    calls = count_calls(deps.clients.ec2, deps.clients.dynamodb)
    report = run_sweep(deps)
    assert report.error is None and report.skipped is None and report.moves == []
    return calls


def test_a_steady_sweep_makes_the_same_reads_for_one_zone_as_for_three(aws_env):
    with mock_aws():
        one, three = steady_sweep_calls(AZS[:1]), steady_sweep_calls(AZS)
    assert one == three
    # one read each: zone records, control record, NAT states, private route tables
    assert one["dynamodb.GetItem"] == one["ec2.DescribeInstanceStatus"] == one["ec2.DescribeRouteTables"] == 1
    assert one["ec2.DescribeInstances"] == 0


@pytest.fixture
def ec2(aws_env):
    with mock_aws():
        yield boto3.client("ec2", region_name="ap-northeast-1")


def test_instance_states_in_one_call_and_unknown_ids_as_terminated(ec2):
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=MOTO_AMI, MinCount=3, MaxCount=3)["Instances"]]
    ec2.stop_instances(InstanceIds=[ids[1]])
    ec2.terminate_instances(InstanceIds=[ids[2]])
    calls = count_calls(ec2)
    assert describe_instance_states(ec2, ids) == dict(zip(ids, ("running", "stopped", "terminated"), strict=True))
    assert calls == Counter({"ec2.DescribeInstanceStatus": 1})

    gone = "i-0000000000000dead"  # EC2 refuses the whole status call: the by-filter read answers
    assert describe_instance_states(ec2, [ids[0], gone, ""]) == {ids[0]: "running", gone: "terminated"}
    assert calls == Counter({"ec2.DescribeInstanceStatus": 2, "ec2.DescribeInstances": 1})
    assert describe_instance_states(ec2, []) == {}


def test_a_move_writes_no_route_once_its_claim_is_lost_and_drops_its_claims_after_writing(aws_env):
    """``claims.move`` is claim + write + verify in one adapter entry: the ReplaceRoutes are in the same
    batch of the retry layer as the claim's TransactWriteItems, and run only when it held (DynamoDB
    cancels the whole transaction when one condition fails: developerguide/transaction-apis.html)."""
    from chalicelib.aws import claims, observe
    from chalicelib.errors import ConflictError
    from tests.support.stack import FakeClock, serving, table_items
    with mock_aws():
        topo = build_stack(stack="mv", tables_per_zone=2)
        clock = FakeClock()
        deps, _ = make_deps(topo, clock)
        run_sweep(deps)                                   # the zone records exist
        ddb, ec2 = deps.clients.dynamodb, deps.clients.ec2
        home, other = topo.zones[0], topo.zones[1]

        def look():
            return observe.read_sweep(ddb, ec2, topo.table_name, topo.azs, [z.nat_instance_id for z in topo.zones],
                                      list(home.private_route_table_ids), stack=topo.stack, now=clock())

        seen = look()
        body = {**seen.snapshot.zones[home.az].body, "served_by": other.az}
        writes = [claims.RouteWrite(t, other.nat_eni_id, seen.tables[t]) for t in home.private_route_table_ids]
        claims.commit(ddb, topo.table_name, seen.snapshot, {home.az: seen.snapshot.zones[home.az].body},
                      now=clock())                        # another run commits first: our versions are stale
        calls = count_calls(ec2, ddb)
        with pytest.raises(ConflictError):
            claims.move(ddb, ec2, topo.table_name, seen.snapshot, {home.az: body}, writes, now=clock(),
                        claim=[home.az], owner="t", token="tok", claim_ttl_s=60.0)
        assert calls["dynamodb.TransactWriteItems"] == 1 and calls["ec2.ReplaceRoute"] == 0
        assert serving(ec2, topo)[home.az] == home.az

        fresh = look()
        versions, changed = claims.move(ddb, ec2, topo.table_name, fresh.snapshot, {home.az: body}, writes,
                                        now=clock(), claim=[home.az], owner="t", token="tok", claim_ttl_s=60.0)
        assert versions == {home.az: fresh.snapshot.zones[home.az].version + 1}
        assert sorted(changed) == sorted(home.private_route_table_ids) and calls["ec2.ReplaceRoute"] == 2
        assert serving(ec2, topo)[home.az] == other.az
        assert not any("pending_owner" in i for i in table_items(ddb, topo))   # the claim was dropped
