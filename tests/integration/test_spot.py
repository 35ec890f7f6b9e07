"""Spot NATs (issue 20) on in-process moto: launches in the configured market with the on-demand fallback,
AWS's spot warnings through the real Chalice handler (``chalice.test.Client``), and scheduled events rolled
by the heartbeat's after-sweep pass.

Where moto differs from AWS (so these tests inject AWS's behaviour): moto accepts every spot launch (AWS may
answer InsufficientInstanceCapacity: EC2 API Reference, Error codes), and lists no scheduled events in
DescribeInstanceStatus (AWS lists ``Events``: InstanceStatusEvent Code/NotBefore/NotAfter).
"""
from __future__ import annotations

import dataclasses
import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice.test import Client
from moto import mock_aws

from bootstrap.stack import StackClients, build_stack, plan_stack
from chalicelib import naming
from chalicelib.aws import params
from chalicelib.replacement import machine as m
from chalicelib.replacement.advance_notice import LOOK_EVERY_S
from chalicelib.service import replacement
from chalicelib.service.events import handle_instance_state
from chalicelib.service.scheduled_events import claim_look
from chalicelib.service.status import collect_status
from chalicelib.settings import MaintenanceSettings, MarketSettings
from tests.integration.test_replacement import A, World
from tests.integration.test_stack_up import REGION, make_config
from tests.support.cli import hanat
from tests.support.stack import make_deps

ROOT = Path(__file__).resolve().parents[2]
NO_SPOT = ("InsufficientInstanceCapacity", "There is no Spot capacity available that matches your request.")


@pytest.fixture
def moto(aws_env):
    with mock_aws():
        yield


def spot_world(fallback: bool = True, maintenance: MaintenanceSettings | None = None) -> World:
    w = World(maintenance=maintenance or MaintenanceSettings(drain_s=60))
    params.write_topology(w.clients.ssm, dataclasses.replace(
        w.topo0, nat_market=MarketSettings(market="spot", spot_fallback=fallback)))
    return w


def refuse_spot(w: World, asked: list[dict] | None = None):
    """EC2 without spot capacity: every RunInstances asking for spot is refused as AWS refuses it. Returns
    the hook (to unregister: capacity is back); ``asked`` collects every RunInstances' parameters."""
    def hook(params, **_):
        if asked is not None:
            asked.append(dict(params))
        if params.get("InstanceMarketOptions"):
            raise ClientError({"Error": {"Code": NO_SPOT[0], "Message": NO_SPOT[1]}}, "RunInstances")
    w.ec2.meta.events.register("before-parameter-build.ec2.RunInstances", hook)
    return hook


def lifecycle(w: World, instance_id: str) -> str:
    return w.instance(instance_id).get("InstanceLifecycle", "on-demand")


# --- (1) market and fallback ------------------------------------------------------------------
def test_spot_refused_launches_on_demand_and_the_next_replacement_returns_to_spot(moto):
    w = spot_world()
    asked: list[dict] = []
    hook = refuse_spot(w, asked)
    w.sweep()
    replacement.request_replacement(w.deps(), A, "planned")
    first = w.record()["new_instance_id"]
    assert first and lifecycle(w, first) == "on-demand"
    markets = [p.get("InstanceMarketOptions", {}).get("MarketType", "on-demand") for p in asked]
    assert markets == ["spot", "on-demand"]            # asked spot first, then fell back
    assert asked[0]["InstanceMarketOptions"]["SpotOptions"] == {"SpotInstanceType": "one-time",
                                                               "InstanceInterruptionBehavior": "terminate"}
    assert asked[0]["ClientToken"] != asked[1]["ClientToken"]   # no IdempotentParameterMismatch
    assert any("spot refused: InsufficientInstanceCapacity" in h for h in w.record()["history"])
    for _ in range(30):
        w.sweep()
        if w.record()["status"] == m.DONE:
            break
    assert w.record()["status"] == m.DONE
    w.ec2.meta.events.unregister("before-parameter-build.ec2.RunInstances", hook)   # spot capacity is back
    assert replacement.request_replacement(w.deps(), A, "next roll")["started"] is True
    assert lifecycle(w, w.record()["new_instance_id"]) == "spot"


def test_spot_refused_without_fallback_backs_off_and_says_why(moto):
    w = spot_world(fallback=False)
    asked: list[dict] = []
    refuse_spot(w, asked)
    w.sweep()
    replacement.request_replacement(w.deps(), A, "planned")
    rec = w.record()
    assert rec["step"] == m.STEP_BACKOFF and NO_SPOT[0] in rec["last_error"]
    assert [p["InstanceMarketOptions"]["MarketType"] for p in asked] == ["spot"]   # no on-demand asked
    assert [a.details["phase"] for a in w.replace_alerts()] == ["started", "retry"]


def test_bad_market_values_exit_2_naming_them_and_change_nothing(moto, tmp_path, capsys):
    config = tmp_path / "hanat.toml"
    config.write_text('[stack]\nname = "spotbad"\nregion = "ap-northeast-1"\nvpc_cidr = "10.9.0.0/16"\n\n'
                      '[nat]\nmarket = "spott"\nspot_fallback = "yes"\n\n'
                      '[[zones]]\naz = "ap-northeast-1a"\n\n[[zones]]\naz = "ap-northeast-1c"\n')
    vpcs_before = boto3.client("ec2").describe_vpcs()["Vpcs"]
    code, _, err = hanat(capsys, "up", "--config", str(config))
    assert code == 2
    assert "nat.market 'spott' is not a market" in err and "nat.spot_fallback must be true or false" in err
    assert boto3.client("ec2").describe_vpcs()["Vpcs"] == vpcs_before


# --- (2) AWS's spot warnings through the real handler ------------------------------------------
def load_app(monkeypatch, w: World):
    monkeypatch.setenv(naming.ENV_ZONES, ",".join(w.topo0.azs))
    spec = importlib.util.spec_from_file_location("hanat_app_spot", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.make_deps = lambda owner: w.deps(owner=owner)
    return module


def warning(client, kind: str, instance_id: str, event_id: str = "ev-1", **detail):
    event = client.events.generate_cw_event(source="aws.ec2", detail_type=kind,
                                            detail={"instance-id": instance_id, **detail}, resources=[])
    event["id"] = event_id
    return event


def test_interruption_warning_moves_the_zone_with_handoff_replaces_at_once_keeps_the_eip_alerts_once(
        moto, monkeypatch, tmp_path):
    w = spot_world(maintenance=MaintenanceSettings(drain_s=300))
    old = w.topo0.zone(A)
    w.sweep()
    assert w.private_enis() == {old.nat_eni_id}
    app = load_app(monkeypatch, w)
    with Client(app.app, project_dir=str(tmp_path)) as client:
        event = warning(client, "EC2 Spot Instance Interruption Warning", old.nat_instance_id,
                        **{"instance-action": "terminate"})
        answer = client.lambda_.invoke("on_spot_warning", event).payload
        assert answer["ok"] and answer["zones_moved"] == [A] and answer["replacement_started"] is True
        assert old.nat_eni_id not in w.private_enis()        # moved at once, not after the instance goes
        assert answer["handoffs"]                             # open connections handed back to the old NAT
        new_id = w.record()["new_instance_id"]
        assert new_id and lifecycle(w, new_id) == "spot"      # launched at once, in the configured market
        assert w.eip_eni() == old.nat_eni_id                  # the EIP stays while the old NAT drains
        assert [(a.type, a.details.get("phase")) for a in w.alerts] == [("replace", "started")]
        assert "spot interruption warning" in w.alerts[0].reason and A in w.alerts[0].reason
        # EventBridge delivers again, and a rebalance recommendation arrives too: nothing new, no new alert
        again = client.lambda_.invoke("on_spot_warning", event).payload
        assert again["duplicate"] is True
        rebalance = client.lambda_.invoke("on_spot_warning", warning(
            client, "EC2 Instance Rebalance Recommendation", old.nat_instance_id, "ev-2")).payload
        assert rebalance["already_replacing"] is True and len(w.alerts) == 1
    # two minutes later EC2 terminates the spot NAT: the replacement finishes and the zone keeps its egress IP
    w.ec2.terminate_instances(InstanceIds=[old.nat_instance_id])
    handle_instance_state(w.deps(), {"id": "ev-term", "detail-type": "EC2 Instance State-change Notification",
                                     "source": "aws.ec2", "detail": {"instance-id": old.nat_instance_id,
                                                                     "state": "terminated"}})
    for _ in range(40):
        w.sweep()
        if w.record()["status"] == m.DONE:
            break
    assert w.record()["status"] == m.DONE
    new_eni = w.instance(new_id)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert w.eip_eni() == new_eni and w.private_enis() == {new_eni}   # same allocation: same egress IP


def test_warning_for_an_instance_that_is_no_stack_nat_changes_nothing(moto, monkeypatch, tmp_path):
    w = spot_world()
    w.sweep()
    before = w.private_enis()
    with Client(load_app(monkeypatch, w).app, project_dir=str(tmp_path)) as client:
        answer = client.lambda_.invoke("on_spot_warning", warning(
            client, "EC2 Spot Instance Interruption Warning", "i-0someoneelse", **{"instance-action": "stop"})).payload
        assert "not a NAT" in answer["ignored"]
        bad = client.lambda_.invoke("on_spot_warning", warning(
            client, "EC2 Spot Instance Interruption Warning", w.topo0.zone(A).nat_instance_id, "ev-3",
            **{"instance-action": "explode"})).payload
        assert bad["ok"] is False and any("'explode'" in p for p in bad["problems"])
    assert w.private_enis() == before and w.record() is None and w.alerts == []


# --- (3) scheduled events -------------------------------------------------------------------------
def schedule_event(w: World, code: str, not_before: float):
    """DescribeInstanceStatus lists ``code`` for zone A's NAT (moto lists none)."""
    nat = w.topo0.zone(A).nat_instance_id

    def hook(parsed, **_):
        for status in parsed.get("InstanceStatuses", []):
            if status["InstanceId"] == nat:
                status["Events"] = [{"Code": code, "InstanceEventId": "instance-event-0abc",
                                     "Description": "The instance is scheduled for a reboot",
                                     "NotBefore": datetime.fromtimestamp(not_before, UTC),
                                     "NotAfter": datetime.fromtimestamp(not_before + 7200, UTC)}]
    w.ec2.meta.events.register("after-call.ec2.DescribeInstanceStatus", hook)


def test_scheduled_event_without_a_window_rolls_the_nat_at_once_with_an_alert(moto):
    w = spot_world()
    schedule_event(w, "system-reboot", w.clock() + 3 * 86_400)
    w.sweep()
    rec = w.record()
    assert rec is not None and rec["planned"] is True and "system-reboot" in rec["reason"]
    started = w.replace_alerts("started")
    assert len(started) == 1 and "rolling it before then" in started[0].reason
    assert w.topo0.zone(A).nat_eni_id not in w.private_enis()        # planned: the zone left the old NAT


def test_scheduled_event_rolls_inside_the_window_that_opens_in_time_announced_once(moto):
    # the fake clock starts Tue 2023-11-14 22:13:20 UTC: the daily window opens at 23:00, 47 minutes later
    w = spot_world(maintenance=MaintenanceSettings(drain_s=60, window="daily 23:00-23:59"))
    schedule_event(w, "instance-retirement", w.clock() + 3 * 86_400)
    for _ in range(5):
        w.sweep()
    assert w.record() is None
    announced = w.replace_alerts("scheduled")
    assert len(announced) == 1 and "2023-11-14T23:00:00Z" in announced[0].reason
    w.clock.now = datetime(2023, 11, 14, 23, 0, 5, tzinfo=UTC).timestamp()
    w.sweep()
    # rolled at the opening, as a planned replacement (the fixture's NATs are also outdated -- not from the
    # launch template -- so the window's roll pass may take the NAT first: either way one replacement, one alert)
    rec = w.record()
    assert rec is not None and rec["planned"] is True and rec["started_at"] >= w.clock() - 10
    assert len(w.replace_alerts("scheduled")) == 1 and len(w.replace_alerts("started")) == 1


def test_scheduled_events_are_read_once_per_period_by_one_run(moto):
    w = spot_world()
    now = w.clock()
    assert claim_look(w.deps(owner="run-1"), now) is True
    assert claim_look(w.deps(owner="run-1"), now + 5) is False           # the same run's next sweep
    assert claim_look(w.deps(owner="run-2"), now + 10) is False          # another run in the same period
    later = (now // LOOK_EVERY_S + 1) * LOOK_EVERY_S
    assert claim_look(w.deps(owner="run-2"), later) is True             # the next period


# --- (1) up, plan and status with nat.market = "spot" ------------------------------------------------
def test_up_launches_spot_nats_falls_back_per_zone_and_plan_and_status_show_the_market(aws_env):
    with mock_aws():
        clients = StackClients.from_session(boto3.session.Session(region_name=REGION), REGION)
        config = dataclasses.replace(make_config(), nat=dataclasses.replace(
            make_config().nat, market=MarketSettings(market="spot", spot_fallback=True)))
        planned = [s.detail for s in plan_stack(config, clients).steps if s.kind == "nat-instance"]
        assert planned == ["t4g.nano spot (on-demand if refused)"] * 2
        refused: list[dict] = []

        def first_spot_refused(params, **_):      # no spot capacity for the first zone's NAT only
            if params.get("InstanceMarketOptions") and not refused:
                refused.append(params)
                raise ClientError({"Error": {"Code": NO_SPOT[0], "Message": NO_SPOT[1]}}, "RunInstances")
        clients.ec2.meta.events.register("before-parameter-build.ec2.RunInstances", first_spot_refused)
        topo = build_stack(config, clients, wait_interval_s=0).topology
        assert topo.nat_market == MarketSettings(market="spot", spot_fallback=True)
        got = {z.az: clients.ec2.describe_instances(InstanceIds=[z.nat_instance_id])["Reservations"][0][
            "Instances"][0].get("InstanceLifecycle", "on-demand") for z in topo.zones}
        assert got == {topo.zones[0].az: "on-demand", topo.zones[1].az: "spot"}
        deps, _ = make_deps(topo)
        rows = {r["az"]: r["nat"] for r in collect_status(deps)}
        assert [(rows[z.az]["market"], rows[z.az]["current_market"]) for z in topo.zones] == [
            ("on-demand", "spot"), ("spot", "spot")]
        # the on-demand fallback is outdated: the window's roll takes it back to spot
        assert "market on-demand (configured spot)" in rows[topo.zones[0].az]["stale"]
        assert not any("market" in s for s in rows[topo.zones[1].az]["stale"])


def test_a_launch_asks_the_market_published_now_not_the_one_its_run_started_with(moto):
    """A heartbeat run that read the topology before `hanat up` switched nat.market launches in the new market
    (the spot-capacity drill's race: the run advancing a replacement is not always the one that started it)."""
    w = World(maintenance=MaintenanceSettings(drain_s=60))
    w.sweep()
    stale = w.deps()                                          # read while the market is on-demand
    params.write_topology(w.clients.ssm, dataclasses.replace(w.topo(), nat_market=MarketSettings(market="spot")))
    assert stale.topology.nat_market.market == "on-demand"
    replacement.begin(stale, A, "planned", planned=True)
    assert lifecycle(w, w.record()["new_instance_id"]) == "spot"
