"""The Chalice entry points through chalice.test.Client over in-process moto (mock_aws).

Deps come from the freshly loaded app's ``make_deps`` (scripted probes, fake clock); no import of
boto3 is patched.
"""
from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path

import pytest
from chalice.local import LambdaContext
from chalice.test import Client
from moto import mock_aws

from chalicelib import naming, wiring
from tests.support import stack as sf

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.stack(stack="app", azs=sf.AZS[:2])


def load_app(monkeypatch, zones):
    """A fresh import of app.py with HANAT_ZONES set (as Chalice does with the stage environment)."""
    monkeypatch.setenv(naming.ENV_ZONES, ",".join(zones))
    spec = importlib.util.spec_from_file_location("hanat_app_under_test", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def clock():
    return sf.FakeClock()


@pytest.fixture
def factories():
    """The Deps factory the loaded app's handlers use (its own ``default_deps`` unless one is set)."""
    return []


@pytest.fixture
def scripted(stack, clock, factories):
    """Deps for every handler: moto clients, scripted probes, a fake clock."""
    probes = sf.ScriptedProbes(clock)
    alerts: list = []

    def factory(owner):
        deps, _ = sf.make_deps(stack, clock=clock, probes=probes, owner=owner, control_passes=True)
        deps.alert_sink = alerts.append
        return deps

    factories.append(factory)
    yield probes, alerts


@pytest.fixture
def client(monkeypatch, stack, tmp_path, clock, factories):
    app_module = load_app(monkeypatch, stack.azs)
    app_module.make_deps = lambda owner: (factories[-1] if factories else wiring.default_deps)(owner)
    with Client(app_module.app, project_dir=str(tmp_path)) as c:
        c.hanat_app, c.hanat_clock = app_module.app, clock   # for _heartbeat
        yield c


def test_every_entry_point_is_registered(monkeypatch, stack):
    app = load_app(monkeypatch, stack.azs).app
    names = set(app.handler_map)
    assert {"heartbeat", "on_instance_state", "operate", "notify_slack"} <= names
    assert {f"probe_{az.replace('-', '_')}" for az in stack.azs} <= names
    schedule = next(e for e in app.event_sources if e.name == "heartbeat")
    assert schedule.schedule_expression == "rate(1 minute)"


def test_heartbeat_fails_a_zone_over_and_gives_it_back(client, scripted, stack):
    probes, alerts = scripted
    ec2 = sf.clients().ec2
    down = stack.azs[0]
    probes.failing.add(down)
    result = _heartbeat(client)
    assert len(result["sweeps"]) >= 2  # the heartbeat loops inside its budget
    served = sf.serving(ec2, stack)
    assert served[down] != down and served[down] in stack.azs
    assert any(a.type == "failover" and a.zone == down for a in alerts)

    probes.failing.discard(down)               # the NAT answers again: the heartbeat gives the zone back
    for _ in range(3):
        _heartbeat(client)
        if sf.serving(ec2, stack)[down] == down:
            break
    assert sf.serving(ec2, stack) == {az: az for az in stack.azs}
    assert any(a.type == "revert" and a.zone == down for a in alerts)


def test_heartbeat_budgets_its_sweeps_from_the_lambda_context(client, scripted, stack, clock):
    """The loop runs on get_remaining_time_in_millis (the Lambda context), not on a fixed 55 s: every
    sweep starts with a whole sweep's time left, and a shorter invocation sweeps less."""
    from chalicelib.service.probing import sweep_reserve_s
    start = clock()
    full = _heartbeat(client, timeout_s=60.0)["sweeps"]
    assert len(full) == 11 and all(60.0 - (s["at"] - start) >= sweep_reserve_s(stack) for s in full)
    clock.sleep(60)
    short = _heartbeat(client, timeout_s=20.0)["sweeps"]
    assert [round(s["at"] - short[0]["at"]) for s in short] == [0, 5, 10]


@pytest.mark.parametrize("payload, needles", [
    ({"action": "explode", "zone": "ap-northeast-1a"}, ["action"]),
    ({"action": "failover", "zone": "nowhere-1z"}, ["nowhere-1z"]),
    ({"action": "failover", "zone": "ap-northeast-1a", "to_zone": "ap-northeast-1a", "extra": 1},
     ["to_zone", "'extra'"]),
    ("not an object", ["JSON object"]),
])
def test_operate_bad_payload_answers_error_and_changes_nothing(client, scripted, stack, payload, needles):
    c = sf.clients()
    before = (sf.default_targets(c.ec2, stack), sf.table_items(c.dynamodb, stack))
    answer = client.lambda_.invoke("operate", payload).payload
    assert answer["ok"] is False and answer["error"] == "invalid operation"
    text = " ".join(answer["problems"])
    assert all(n in text for n in needles), text
    assert (sf.default_targets(c.ec2, stack), sf.table_items(c.dynamodb, stack)) == before


def test_operate_failover_and_status(client, scripted, stack):
    a, c_zone = stack.azs[0], stack.azs[1]
    answer = client.lambda_.invoke("operate", {"action": "failover", "zone": a, "to_zone": c_zone}).payload
    assert answer["ok"] and answer["changed"] == list(stack.zone(a).private_route_table_ids)
    assert sf.serving(sf.clients().ec2, stack)[a] == c_zone
    status = client.lambda_.invoke("operate", {"action": "status"}).payload
    row = next(z for z in status["zones"] if z["az"] == a)
    assert row["served_by"] == c_zone and row["mode"] == "manual-failover"


class _ClockSource:
    """chalice's LambdaContext time source on the test's fake clock."""

    def __init__(self, clock):
        self.time = clock


def _heartbeat(client, timeout_s: float = 60.0):
    """Invoke the scheduled heartbeat like Lambda does: with a context whose remaining time runs on the
    test's fake clock from the function's 60 s timeout (chalice.test's own context allows 3 s of
    real time, and the heartbeat budgets its sweeps from get_remaining_time_in_millis)."""
    context = LambdaContext("heartbeat", memory_size=256, max_runtime_ms=int(timeout_s * 1000),
                            time_source=_ClockSource(client.hanat_clock))
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=[])
    return client.hanat_app.handler_map["heartbeat"](event, context)


def test_instance_stopped_event_fails_over_at_once(client, scripted, stack):
    c = sf.clients()
    zone = stack.zones[1]
    _heartbeat(client)  # every NAT seen healthy first: there is somewhere to fail over to
    c.ec2.stop_instances(InstanceIds=[zone.nat_instance_id])
    event = client.events.generate_cw_event(
        source="aws.ec2", detail_type="EC2 Instance State-change Notification",
        detail={"instance-id": zone.nat_instance_id, "state": "stopped"}, resources=[])
    answer = client.lambda_.invoke("on_instance_state", event).payload
    assert answer["ok"] and answer["zone"] == zone.az
    assert sf.serving(c.ec2, stack)[zone.az] != zone.az


def test_malformed_instance_event_is_rejected_without_change(client, scripted, stack):
    c = sf.clients()
    before = sf.default_targets(c.ec2, stack)
    event = client.events.generate_cw_event(source="aws.ec2", detail_type="EC2 Instance State-change Notification",
                                            detail={"state": "teleported"}, resources=[])
    answer = client.lambda_.invoke("on_instance_state", event).payload
    assert answer["ok"] is False and any("instance-id" in p for p in answer["problems"])
    assert sf.default_targets(c.ec2, stack) == before


def test_probe_function_checks_local_targets(client, stack):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        url = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        name = "probe_" + stack.azs[0].replace("-", "_")
        answer = client.lambda_.invoke(name, {"targets": [url], "timeout_s": 0.5}).payload
        assert answer["passed"] and answer["zone"] == stack.azs[0]
        assert answer["results"][0]["target"] == url
        bad = client.lambda_.invoke(name, {"targets": ["gopher://x"], "timeout_s": 99}).payload
        assert bad["ok"] is False and len(bad["problems"]) == 2
    finally:
        listener.close()


def test_real_factory_reads_topology_from_the_environment(monkeypatch, stack):
    """wiring.default_deps (what app.make_deps is): env vars -> SSM topology -> clients and SNS sink."""
    monkeypatch.setenv(naming.ENV_STACK, stack.stack)
    monkeypatch.setenv(naming.ENV_STAGE, "app")
    monkeypatch.setenv(naming.ENV_TOPOLOGY_PARAMETER, stack.topology_parameter)
    deps = wiring.default_deps("heartbeat:test")
    assert deps.topology == stack and deps.owner == "heartbeat:test"
    assert deps.probe_runner is not None and deps.control_probe is not None


def test_missing_environment_names_every_variable(monkeypatch):
    for name in naming.REQUIRED_ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(Exception) as exc:
        wiring.read_env()
    assert all(name in str(exc.value) for name in naming.REQUIRED_ENV)
    assert getattr(exc.value, "exit_code", None) == 2


def test_alerts_published_to_sns_reach_a_queue(aws_env):
    """SnsAlertSink publishes subject + JSON body (checked through an SQS subscription in moto)."""
    import boto3

    from chalicelib.alerts import Alert
    from chalicelib.aws.sns import SnsAlertSink

    with mock_aws():
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns.create_topic(Name="hanat-x-alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        SnsAlertSink(sns, topic)(Alert("critical", None, "targets down → all", 1_767_225_600.0, stack="x"))
        message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
        assert message["Subject"] == "[hanat] CRITICAL all zones: targets down -> all"
        body = json.loads(message["Message"])
        assert body["type"] == "critical" and body["stack"] == "x" and body["at"] == "2026-01-01T00:00:00Z"
