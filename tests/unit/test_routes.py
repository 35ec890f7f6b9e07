"""The route adapter against a fake EC2 client that behaves as EC2 documents (not as moto does):
ReplaceRoute for any existing default route, CreateRoute only where there is none, reads that lag
behind writes, and DescribeRouteTables refusing a whole batch for one unknown id."""
from __future__ import annotations

import copy
import logging
import time

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws import claims, observe, routes
from chalicelib.errors import AwsError

STACK = "demo"
TAGS = [{"Key": "hanat:stack", "Value": STACK}]


def client_error(code: str, op: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (fake)"}}, op)


class FakeEc2:
    """Route tables by id; ``lag`` = how many DescribeRouteTables after a write still show the old routes
    (EC2's eventual consistency); ``calls`` = the write calls made."""

    def __init__(self, tables: dict[str, dict | None], lag: int = 0):
        self.tables = {t: {"RouteTableId": t, "Tags": TAGS,
                           "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}]
                           + ([{"DestinationCidrBlock": "0.0.0.0/0", **d}] if d else [])}
                       for t, d in tables.items()}
        self.stale: dict[str, dict] = {}
        self.lag, self.pending_lag = lag, 0
        self.calls: list[tuple[str, dict]] = []

    def _visible(self, t: str) -> dict:
        if self.pending_lag > 0 and t in self.stale:
            return self.stale[t]
        return self.tables[t]

    def describe_route_tables(self, RouteTableIds=(), Filters=()):
        if RouteTableIds:
            unknown = [t for t in RouteTableIds if t not in self.tables]
            if unknown:   # the whole call fails for one unknown id
                raise client_error("InvalidRouteTableID.NotFound", "DescribeRouteTables")
            ids = list(RouteTableIds)
        else:
            ids = [t for f in Filters if f["Name"] == "route-table-id" for t in f["Values"] if t in self.tables]
        out = [copy.deepcopy(self._visible(t)) for t in ids]
        self.pending_lag = max(0, self.pending_lag - 1)
        return {"RouteTables": out}

    def get_paginator(self, method):
        fake = self

        class Paginator:
            def paginate(self, **kwargs):
                yield getattr(fake, method)(**kwargs)
        return Paginator()

    def _default(self, t):
        return next((r for r in self.tables[t]["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0"), None)

    def _write(self, op, RouteTableId, DestinationCidrBlock, NetworkInterfaceId):
        self.calls.append((op, {"RouteTableId": RouteTableId, "NetworkInterfaceId": NetworkInterfaceId}))
        self.stale[RouteTableId] = copy.deepcopy(self.tables[RouteTableId])
        self.pending_lag = self.lag
        routes_ = [r for r in self.tables[RouteTableId]["Routes"] if r["DestinationCidrBlock"] != "0.0.0.0/0"]
        routes_.append({"DestinationCidrBlock": "0.0.0.0/0", "NetworkInterfaceId": NetworkInterfaceId,
                        "State": "active"})
        self.tables[RouteTableId]["Routes"] = routes_

    def create_route(self, **kw):
        if self._default(kw["RouteTableId"]) is not None:
            raise client_error("RouteAlreadyExists", "CreateRoute")
        self._write("CreateRoute", **kw)

    def replace_route(self, **kw):
        if self._default(kw["RouteTableId"]) is None:
            raise client_error("InvalidParameterValue", "ReplaceRoute")
        self._write("ReplaceRoute", **kw)


@pytest.mark.parametrize("default", [
    {"NatGatewayId": "nat-0abc", "State": "active"},                       # a NAT gateway hanat takes over from
    {"NatGatewayId": "nat-0gone", "State": "blackhole"},                   # its NAT gateway was deleted
    {"GatewayId": "igw-0abc", "State": "active"},
    {"InstanceId": "i-0old", "NetworkInterfaceId": "eni-0old", "State": "active"},
    {"TransitGatewayId": "tgw-0abc", "State": "active"},
], ids=["nat-gateway", "blackhole", "internet-gateway", "instance", "transit-gateway"])
def test_an_existing_default_route_is_replaced_whatever_its_target(default):
    """CreateRoute fails with RouteAlreadyExists where 0.0.0.0/0 exists (EC2 API ReplaceRoute: "Replaces
    an existing route"), so every sweep would fail on such a table."""
    ec2 = FakeEc2({"rtb-a": default})
    assert routes.point_default_route(ec2, "rtb-a", "eni-0new", stack=STACK) is True
    assert ec2.calls == [("ReplaceRoute", {"RouteTableId": "rtb-a", "NetworkInterfaceId": "eni-0new"})]
    assert routes.point_default_route(ec2, "rtb-a", "eni-0new", stack=STACK) is False   # idempotent
    assert len(ec2.calls) == 1


def test_no_default_route_is_created():
    ec2 = FakeEc2({"rtb-a": None})
    assert routes.point_default_route(ec2, "rtb-a", "eni-0new", stack=STACK) is True
    assert [op for op, _ in ec2.calls] == ["CreateRoute"]


def test_the_read_back_rides_out_eventual_consistency():
    ec2 = FakeEc2({"rtb-a": {"NetworkInterfaceId": "eni-0old"}}, lag=3)
    slept = []
    assert routes.point_default_route(ec2, "rtb-a", "eni-0new", stack=STACK, sleep=slept.append) is True
    assert len(slept) == 3 and sum(slept) < claims.READ_BACK_S


def test_a_read_back_that_never_shows_the_write_fails_within_its_bound():
    ec2 = FakeEc2({"rtb-a": {"NetworkInterfaceId": "eni-0old"}}, lag=10_000)
    started = time.monotonic()
    with pytest.raises(AwsError) as exc:
        routes.point_default_route(ec2, "rtb-a", "eni-0new", stack=STACK, deadline=time.monotonic() + 0.5)
    assert exc.value.code == "VerifyFailed" and "expected eni-0new" in str(exc.value)
    assert time.monotonic() - started < 0.5 + 0.3


def pinned_probe_table(lag: int) -> FakeEc2:
    ec2 = FakeEc2({"rtb-p": {"NetworkInterfaceId": "eni-0old"}}, lag=lag)
    ec2.tables["rtb-p"]["Tags"] = [*TAGS, {"Key": "hanat:pinned", "Value": "true"}]
    return ec2


def test_repinning_the_probe_route_rides_out_a_read_that_lags_the_write():
    """Issue 18, fault 7: the first DescribeRouteTables after the write still shows the old NAT."""
    ec2, started = pinned_probe_table(lag=1), time.monotonic()
    routes.repin_probe_route(ec2, "rtb-p", "eni-0new", STACK)                   # one short back-off
    assert ec2.calls == [("ReplaceRoute", {"RouteTableId": "rtb-p", "NetworkInterfaceId": "eni-0new"})]
    assert ec2.pending_lag == 0 and time.monotonic() - started < claims.READ_BACK_S


def test_a_repin_that_never_shows_fails_naming_table_and_target_within_the_deadline():
    ec2 = pinned_probe_table(lag=10_000)
    started = time.monotonic()
    with pytest.raises(AwsError) as exc:
        routes.repin_probe_route(ec2, "rtb-p", "eni-0new", STACK, deadline=started + 0.5)
    assert time.monotonic() - started < 0.5 + 0.3
    assert exc.value.code == "VerifyFailed" and "rtb-p" in str(exc.value)
    assert "read back eni-0old, expected eni-0new" in str(exc.value)


def test_one_stale_route_table_id_does_not_hide_the_others(caplog):
    """DescribeRouteTables fails the whole batch with InvalidRouteTableID.NotFound for one unknown id."""
    ec2 = FakeEc2({"rtb-a": {"NetworkInterfaceId": "eni-a"}, "rtb-c": {"NetworkInterfaceId": "eni-c"}})
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="hanat.aws"):
        views = observe.describe_route_tables(ec2, ["rtb-a", "rtb-gone", "rtb-c"])
    assert {t: v.default_eni for t, v in views.items()} == {"rtb-a": "eni-a", "rtb-c": "eni-c"}
    assert "rtb-gone" in caplog.text and time.monotonic() - started < 1.0


def test_a_read_back_whose_time_runs_out_between_two_reads_still_names_what_it_expected():
    # a loaded machine: the sleep between two reads overshoots the run's deadline, so the next read is refused
    # for time (Deadline); the route still never showed, and the error says what it expected (seen under load)
    ec2 = FakeEc2({"rtb-a": {"NetworkInterfaceId": "eni-0old"}}, lag=10_000)
    with pytest.raises(AwsError) as exc:
        routes.point_default_route(ec2, "rtb-a", "eni-0new", stack=STACK, deadline=time.monotonic() + 0.5,
                                   sleep=lambda s: time.sleep(s + 0.5))
    assert exc.value.code == "VerifyFailed" and "expected eni-0new" in str(exc.value)
