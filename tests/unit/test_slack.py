"""Slack Block Kit formatting and webhook posting against a local HTTP server (127.0.0.1 only)."""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.slack import SlackPostError, build_blocks, parse_alert_message, post_webhook, relay_alert

ALERT = {"type": "failover", "stack": "demo", "zone": "ap-northeast-1a", "to_zone": "ap-northeast-1c",
         "from_nat": "i-1", "to_nat": "i-2", "reason": "2 failed probes", "route_tables": ["rtb-1", "rtb-2"],
         "at": "2026-01-01T00:00:00Z",
         "summary": "[hanat] FAILOVER ap-northeast-1a -> NAT i-2 of ap-northeast-1c: 2 failed probes"}


class Hook:
    """A webhook on 127.0.0.1 answering ``status`` (and optionally sleeping first)."""

    def __init__(self, status=200, delay_s=0.0):
        self.bodies: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                hook.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                time.sleep(delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T/B/X"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def test_blocks_carry_headline_reason_fields_and_tables():
    payload = build_blocks(ALERT)
    assert payload["text"] == ALERT["summary"]
    text = json.dumps(payload["blocks"])
    for value in ("2 failed probes", "ap-northeast-1c", "i-2", "`rtb-1`", ":rotating_light:"):
        assert value in text
    fields = next(b for b in payload["blocks"] if "fields" in b)["fields"]
    assert len(fields) <= 10 and all(f["type"] == "mrkdwn" for f in fields)


def test_blind_alert_names_every_zone_and_says_what_to_do():
    from chalicelib.alerts import Alert, format_body
    alert = Alert("blind", None, "no evidence from the probe of zones ap-northeast-1a, ap-northeast-1c for 3 sweeps",
                  1_767_225_600.0, stack="demo", details={"zones": ["ap-northeast-1a", "ap-northeast-1c"]})
    payload = build_blocks(parse_alert_message(format_body(alert)))
    text = json.dumps(payload["blocks"])
    assert payload["text"].startswith("[hanat] BLIND ap-northeast-1a, ap-northeast-1c")
    assert ":see_no_evil:" in text and "*Zones*\\nap-northeast-1a, ap-northeast-1c" in text
    assert "What to do" in text and "Throttles" in text and "concurrency" in text


def test_plain_text_message_is_wrapped():
    alert = parse_alert_message("not json at all", "a subject")
    assert alert == {"type": "message", "summary": "a subject", "reason": "not json at all"}
    assert build_blocks(alert)["text"] == "a subject"


def test_post_delivers_json(hook):
    post_webhook(hook.url, {"text": "hi"}, timeout_s=2)
    assert hook.bodies == [{"text": "hi"}]


@pytest.mark.parametrize("status", [400, 404, 500])
def test_post_http_error_is_slack_post_error(status):
    h = Hook(status=status)
    try:
        with pytest.raises(SlackPostError, match=f"HTTP {status}"):
            post_webhook(h.url, {"text": "hi"}, timeout_s=2)
    finally:
        h.close()


def test_post_timeout_and_refused():
    slow = Hook(delay_s=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(SlackPostError, match="unreachable"):
            post_webhook(slow.url, {"text": "hi"}, timeout_s=0.3)
        assert time.monotonic() - started < 0.9
    finally:
        slow.close()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(SlackPostError, match="unreachable"):
        post_webhook(f"http://127.0.0.1:{port}/", {"text": "hi"}, timeout_s=1)


def test_non_http_url_refused():
    with pytest.raises(SlackPostError, match="https://"):
        post_webhook("file:///etc/passwd", {"text": "hi"})


class FakeSsm:
    """Only what relay_alert uses: get_parameter (no AWS in unit tests)."""

    def __init__(self, values):
        self.values = values

    def get_parameter(self, Name, WithDecryption):
        assert WithDecryption is True
        from botocore.exceptions import ClientError
        if Name not in self.values:
            raise ClientError({"Error": {"Code": "ParameterNotFound", "Message": Name}}, "GetParameter")
        return {"Parameter": {"Value": self.values[Name]}}


def test_relay_never_raises_and_counts_failures(hook):
    metrics = []

    def metric(name, value, unit):
        metrics.append(name)
    ok = relay_alert(json.dumps(ALERT), "s", webhook_parameter="/p", ssm_client=FakeSsm({"/p": hook.url}),
                     metric=metric, timeout_s=2)
    assert ok.posted and hook.bodies[0]["text"] == ALERT["summary"]
    missing = relay_alert("x", "s", webhook_parameter="/missing", ssm_client=FakeSsm({}), metric=metric)
    unset = relay_alert("x", "s", webhook_parameter="", ssm_client=FakeSsm({}), metric=metric)
    assert not missing.posted and "/missing" in missing.error
    assert not unset.posted and "slack_webhook_parameter" in unset.error
    assert metrics == ["slack_posted", "slack_post_failed", "slack_post_failed"]
