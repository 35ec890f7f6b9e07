"""notify_slack end to end: SNS event -> chalice handler -> real runtime (env -> SSM topology ->
SecureString webhook URL) -> Block Kit POST to a local server on 127.0.0.1."""
from __future__ import annotations

import dataclasses
import json

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import naming
from chalicelib.alerts import Alert, format_body, format_subject
from chalicelib.aws.params import write_topology
from tests.integration.test_app import load_app
from tests.support import stack as sf
from tests.unit.test_slack import Hook

WEBHOOK_PARAMETER = "/hanat/slk/slack-webhook"


@pytest.fixture
def env(aws_env, monkeypatch, tmp_path):
    with mock_aws():
        topo = dataclasses.replace(sf.build_stack(stack="slk", azs=sf.AZS[:2]),
                                   slack_webhook_parameter=WEBHOOK_PARAMETER)
        write_topology(boto3.client("ssm"), topo)
        for name, value in ((naming.ENV_STACK, topo.stack), (naming.ENV_STAGE, "slk"),
                            (naming.ENV_TOPOLOGY_PARAMETER, topo.topology_parameter)):
            monkeypatch.setenv(name, value)
        app = load_app(monkeypatch, topo.azs).app
        with Client(app, project_dir=str(tmp_path)) as client:
            yield topo, client


def _send(client, topo):
    alert = Alert("failover", topo.azs[0], "2 failed probes", 1_767_225_600.0, from_nat=topo.zones[0].nat_instance_id,
                  to_nat=topo.zones[1].nat_instance_id, route_tables=topo.zones[0].private_route_table_ids,
                  stack=topo.stack)
    event = client.events.generate_sns_event(format_body(alert, topo), format_subject(alert, topo))
    return client.lambda_.invoke("notify_slack", event).payload


def test_alert_reaches_the_webhook(env):
    topo, client = env
    hook = Hook()
    try:
        boto3.client("ssm").put_parameter(Name=WEBHOOK_PARAMETER, Value=hook.url, Type="SecureString")
        answer = _send(client, topo)
        assert answer == {"posted": True, "error": None}
        [body] = hook.bodies
        assert body["text"].startswith(f"[hanat] FAILOVER {topo.azs[0]} -> NAT {topo.zones[1].nat_instance_id}")
        blocks = json.dumps(body["blocks"])
        assert "2 failed probes" in blocks and topo.zones[0].private_route_table_ids[0] in blocks
    finally:
        hook.close()


def test_failed_post_is_counted_not_raised(env, capsys):
    topo, client = env
    hook = Hook(status=500)
    try:
        boto3.client("ssm").put_parameter(Name=WEBHOOK_PARAMETER, Value=hook.url, Type="SecureString")
        answer = _send(client, topo)
    finally:
        hook.close()
    assert answer["posted"] is False and "HTTP 500" in answer["error"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(line.get("slack_post_failed") == [1.0] for line in emf)


def test_missing_webhook_parameter_is_counted_not_raised(env, capsys):
    topo, client = env
    answer = _send(client, topo)
    assert answer["posted"] is False and WEBHOOK_PARAMETER in answer["error"]
    assert '"slack_post_failed"' in capsys.readouterr().out
