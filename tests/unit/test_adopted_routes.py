"""Route writes on an adopted table, against a fake EC2 that keeps AWS's rules where moto does not:
CreateRoute of an existing destination fails with RouteAlreadyExists (moto silently overwrites when the
target is a network interface), ReplaceRoute of a missing one fails (EC2 API Reference: ReplaceRoute
"replaces an existing route"), DeleteRoute of a missing one fails with InvalidRoute.NotFound, and reads
lag behind writes (EC2's eventual consistency:
https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html)."""
from __future__ import annotations

import copy
import time

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.adopted_vpc import release_default_route, untag_adopted_table
from chalicelib.aws.claims import READ_BACK_S
from chalicelib.aws.routes import point_default_route
from chalicelib.errors import AwsError, HanatError

STACK = "payments"
ADOPTED = [{"Key": "hanat:stack", "Value": STACK}, {"Key": "hanat:adopted", "Value": "true"}]
TARGET_KEYS = ("NatGatewayId", "NetworkInterfaceId", "InstanceId", "GatewayId")


def _error(code: str, op: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, op)


class AwsLikeEc2:
    """One route table; the calls hanat makes, with AWS's refusals. ``lag``: how many DescribeRouteTables
    after a route write still show the routes from before it."""

    def __init__(self, default: dict | None, tags=ADOPTED, instance_eni: str = "eni-0a0a0a0a", lag: int = 0):
        self.routes = {"10.42.0.0/16": {"GatewayId": "local"}, "10.99.0.0/16": {"VpcPeeringConnectionId": "pcx-1"}}
        if default is not None:
            self.routes["0.0.0.0/0"] = default
        self.tags = list(tags)
        self.calls: list[tuple[str, dict]] = []
        self.instance_eni = instance_eni
        self.ignore_writes = False
        self.lag, self.stale_reads, self.stale = lag, 0, {}

    def _wrote(self) -> None:
        self.stale, self.stale_reads = copy.deepcopy(self.routes), self.lag

    def describe_route_tables(self, RouteTableIds):
        shown = self.stale if self.stale_reads > 0 else self.routes
        self.stale_reads = max(0, self.stale_reads - 1)
        routes = [{"DestinationCidrBlock": cidr, "State": "active", **target} for cidr, target in shown.items()]
        return {"RouteTables": [{"RouteTableId": RouteTableIds[0], "Routes": routes, "Tags": self.tags}]}

    def _target(self, kwargs: dict) -> dict:
        target = {k: v for k, v in kwargs.items() if k in TARGET_KEYS}
        if "InstanceId" in target:   # EC2 reports an instance route with the instance's interface
            target["NetworkInterfaceId"] = self.instance_eni
        return target

    def create_route(self, RouteTableId, DestinationCidrBlock, **kwargs):
        self.calls.append(("CreateRoute", kwargs))
        if DestinationCidrBlock in self.routes:
            raise _error("RouteAlreadyExists", "CreateRoute")
        self._wrote()
        if not self.ignore_writes:
            self.routes[DestinationCidrBlock] = self._target(kwargs)

    def replace_route(self, RouteTableId, DestinationCidrBlock, **kwargs):
        self.calls.append(("ReplaceRoute", kwargs))
        if DestinationCidrBlock not in self.routes:
            raise _error("InvalidParameterValue", "ReplaceRoute")
        self._wrote()
        if not self.ignore_writes:
            self.routes[DestinationCidrBlock] = self._target(kwargs)

    def delete_route(self, RouteTableId, DestinationCidrBlock):
        self.calls.append(("DeleteRoute", {}))
        if DestinationCidrBlock not in self.routes:
            raise _error("InvalidRoute.NotFound", "DeleteRoute")
        self._wrote()
        del self.routes[DestinationCidrBlock]

    def delete_tags(self, Resources, Tags):
        self.calls.append(("DeleteTags", {"Tags": Tags}))
        keys = {t["Key"] for t in Tags}
        self.tags = [t for t in self.tags if t["Key"] not in keys]


@pytest.mark.parametrize("default", [{"NatGatewayId": "nat-0a"}, {"GatewayId": "vgw-0a"}, None],
                         ids=["from-nat-gateway", "from-blackholed-gateway", "no-default-route"])
def test_cutover_write_replaces_any_existing_default_route_and_creates_a_missing_one(default):
    ec2 = AwsLikeEc2(default)
    assert point_default_route(ec2, "rtb-0a", "eni-0b0b0b0b", stack=STACK) is True
    assert ec2.calls == [("ReplaceRoute" if default else "CreateRoute", {"NetworkInterfaceId": "eni-0b0b0b0b"})]
    assert ec2.routes["0.0.0.0/0"] == {"NetworkInterfaceId": "eni-0b0b0b0b"}
    assert ec2.routes["10.99.0.0/16"] == {"VpcPeeringConnectionId": "pcx-1"}     # only 0.0.0.0/0 changes


RELEASE_CASES = [
    # (id, current default route, target, expected call, expected default route after)
    ("eni-to-nat-gateway", {"NetworkInterfaceId": "eni-0b"}, "nat-0a", ("ReplaceRoute", {"NatGatewayId": "nat-0a"}),
     {"NatGatewayId": "nat-0a"}),
    ("eni-to-none", {"NetworkInterfaceId": "eni-0b"}, "", ("DeleteRoute", {}), None),
    ("none-to-nat-gateway", None, "nat-0a", ("CreateRoute", {"NatGatewayId": "nat-0a"}), {"NatGatewayId": "nat-0a"}),
    ("eni-to-user-eni", {"NetworkInterfaceId": "eni-0b"}, "eni-0c", ("ReplaceRoute", {"NetworkInterfaceId": "eni-0c"}),
     {"NetworkInterfaceId": "eni-0c"}),
    ("eni-to-user-instance", {"NetworkInterfaceId": "eni-0b"}, "i-0c", ("ReplaceRoute", {"InstanceId": "i-0c"}),
     {"InstanceId": "i-0c", "NetworkInterfaceId": "eni-0a0a0a0a"}),
]


@pytest.mark.parametrize("current,target,call,after", [c[1:] for c in RELEASE_CASES], ids=[c[0] for c in RELEASE_CASES])
def test_release_uses_the_call_aws_accepts_and_verifies(current, target, call, after):
    ec2 = AwsLikeEc2(current)
    assert release_default_route(ec2, "rtb-0a", target, stack=STACK) is True
    assert ec2.calls == [call]
    assert ec2.routes.get("0.0.0.0/0") == after
    assert ec2.routes["10.99.0.0/16"] == {"VpcPeeringConnectionId": "pcx-1"}
    assert release_default_route(ec2, "rtb-0a", target, stack=STACK) is False     # idempotent: no call
    assert len(ec2.calls) == 1


@pytest.mark.parametrize("tags,why", [([], "does not carry hanat:stack=payments and hanat:adopted=true"),
                                      ([{"Key": "hanat:stack", "Value": STACK}], "not a route table this stack adopted"),
                                      ([{"Key": "hanat:stack", "Value": "other"}, {"Key": "hanat:adopted", "Value": "true"}],
                                       "does not carry hanat:stack=payments")])
def test_release_refuses_a_table_the_stack_did_not_adopt(tags, why):
    ec2 = AwsLikeEc2({"NetworkInterfaceId": "eni-0b"}, tags=tags)
    with pytest.raises(HanatError, match=why):
        release_default_route(ec2, "rtb-0a", "nat-0a", stack=STACK)
    assert ec2.calls == []


def test_release_that_does_not_read_back_fails():
    ec2 = AwsLikeEc2({"NetworkInterfaceId": "eni-0b"})
    ec2.ignore_writes = True
    with pytest.raises(AwsError, match="VerifyFailed: read back eni-0b, expected nat-0a"):
        release_default_route(ec2, "rtb-0a", "nat-0a", stack=STACK, deadline=time.monotonic() + 0.5)


@pytest.mark.parametrize("current,target,call,after", [c[1:] for c in RELEASE_CASES], ids=[c[0] for c in RELEASE_CASES])
def test_release_rides_out_a_read_that_lags_the_write(current, target, call, after):
    """Issue 18, fault 7: the first DescribeRouteTables after the write still shows the old default route."""
    ec2, started = AwsLikeEc2(current, lag=1), time.monotonic()
    assert release_default_route(ec2, "rtb-0a", target, stack=STACK) is True   # one short back-off
    assert ec2.calls == [call] and ec2.routes.get("0.0.0.0/0") == after
    assert ec2.stale_reads == 0 and time.monotonic() - started < READ_BACK_S


@pytest.mark.parametrize("target", ["nat-0a", ""], ids=["to-nat-gateway", "delete"])
def test_release_whose_write_never_shows_fails_naming_table_and_target_within_the_deadline(target):
    ec2 = AwsLikeEc2({"NetworkInterfaceId": "eni-0b"}, lag=10_000)
    started = time.monotonic()
    with pytest.raises(AwsError) as exc:
        release_default_route(ec2, "rtb-0a", target, stack=STACK, deadline=started + 0.5)
    assert time.monotonic() - started < 0.5 + 0.3
    assert exc.value.code == "VerifyFailed" and "rtb-0a" in str(exc.value)
    assert f"read back eni-0b, expected {target or None}" in str(exc.value)


def test_untag_removes_both_keys_in_one_call_and_only_from_this_stacks_table():
    ec2 = AwsLikeEc2(None, tags=[*ADOPTED, {"Key": "Name", "Value": "app-a"}])
    assert untag_adopted_table(ec2, "rtb-0a", STACK) is True
    assert ec2.calls == [("DeleteTags", {"Tags": [{"Key": "hanat:stack"}, {"Key": "hanat:adopted"}]})]
    assert ec2.tags == [{"Key": "Name", "Value": "app-a"}]
    assert untag_adopted_table(ec2, "rtb-0a", STACK) is False
    other = AwsLikeEc2(None, tags=[{"Key": "hanat:stack", "Value": "ledger"}])
    assert untag_adopted_table(other, "rtb-0a", STACK) is False and other.calls == []
