"""The heartbeat's Lambda ProbeRunner: parallel invokes; only the probe function's answer is evidence
about a NAT path, every other outcome is "no evidence" (never a failed probe)."""
from __future__ import annotations

import threading
import time

import botocore.session
import pytest

from chalicelib.aws.lambda_invoke import LambdaProbeRunner
from chalicelib.errors import AwsError
from chalicelib.naming import probe_function_name, probe_handler_name

NAMES = {az: probe_function_name("dev", az) for az in ("ap-northeast-1a", "ap-northeast-1c",
                                                                 "ap-northeast-1d", "ap-northeast-1x")}


def test_function_names_follow_chalice_naming():
    assert probe_handler_name("ap-northeast-1a") == "probe_ap_northeast_1a"
    assert NAMES["ap-northeast-1a"] == "hanat-dev-probe_ap_northeast_1a"


def test_only_answers_are_evidence_errors_and_timeouts_are_not():
    release = threading.Event()

    def invoke(name, payload):
        assert payload == {"targets": ["tcp://127.0.0.1:1"], "timeout_s": 0.2, "samples": 1}
        if name.endswith("1a"):
            return {"zone": "ignored", "passed": True, "at": 5.0,
                    "results": [{"target": "tcp://127.0.0.1:1", "ok": True, "latency_ms": 1.0}]}
        if name.endswith("1c"):   # the handler raised, or "Task timed out" (X-Amz-Function-Error)
            raise AwsError(f"lambda.Invoke {name}", "FunctionError", '{"errorMessage": "Task timed out"}')
        if name.endswith("1d"):
            release.wait(5)  # hangs past the runner's deadline
            return {}
        return {"ok": False, "error": "invalid probe event"}

    runner = LambdaProbeRunner(invoke, NAMES, targets=["tcp://127.0.0.1:1"], timeout_s=0.2,
                               clock=lambda: 9.0, margin_s=0.3)
    started = time.monotonic()
    out = runner(["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d", "ap-northeast-1x",
                  "ap-northeast-1z"])
    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 1.5
    assert out["ap-northeast-1a"].passed and out["ap-northeast-1a"].zone == "ap-northeast-1a"
    assert out["ap-northeast-1a"].results[0].latency_ms == 1.0 and out["ap-northeast-1a"].evidence
    assert "FunctionError" in out["ap-northeast-1c"].error and "Task timed out" in out["ap-northeast-1c"].error
    assert "no answer within" in out["ap-northeast-1d"].error
    assert "rejected its input" in out["ap-northeast-1x"].error
    assert "no probe function" in out["ap-northeast-1z"].error
    blind = [r for r in out.values() if r.zone != "ap-northeast-1a"]
    assert all(not r.evidence and not r.passed and not r.failed for r in blind)   # no evidence, not a failure
    assert {r.at for r in blind} == {9.0}


def test_zones_are_probed_in_parallel():
    def invoke(name, payload):
        time.sleep(0.3)
        return {"zone": name, "passed": True}

    runner = LambdaProbeRunner(invoke, NAMES, targets=["tcp://127.0.0.1:1"], timeout_s=1, clock=time.time)
    started = time.monotonic()
    out = runner(list(NAMES))
    assert all(r.passed for r in out.values())
    assert time.monotonic() - started < 0.6


def test_a_probe_whose_checks_failed_is_evidence():
    runner = LambdaProbeRunner(lambda name, payload: {"zone": "x", "passed": False, "results": [
        {"target": "tcp://127.0.0.1:1", "ok": False, "error": "timeout", "attempts": 3}]},
        NAMES, targets=["tcp://127.0.0.1:1"], timeout_s=1, clock=time.time)
    result = runner(["ap-northeast-1a"])["ap-northeast-1a"]
    assert result.failed and result.evidence and not result.passed


# Every error botocore's Lambda service model lists for Invoke (TooManyRequestsException,
# ResourceNotReadyException, EC2ThrottledException, ENILimitReachedException,
# SubnetIPAddressLimitReachedException, ServiceException, ...) is about Lambda, not about the NAT path.
INVOKE_ERRORS = sorted(shape.name for shape in botocore.session.get_session().get_service_model("lambda")
                       .operation_model("Invoke").error_shapes)


def test_the_model_lists_the_lambda_errors_the_issue_names():
    assert {"TooManyRequestsException", "ResourceNotReadyException", "EC2ThrottledException",
            "ENILimitReachedException", "SubnetIPAddressLimitReachedException"} <= set(INVOKE_ERRORS)


@pytest.mark.parametrize("code", INVOKE_ERRORS)
def test_every_lambda_invoke_error_is_no_evidence(code):
    def invoke(name, payload):
        raise AwsError(f"lambda.Invoke {name}", code, "from the service model")

    runner = LambdaProbeRunner(invoke, NAMES, targets=["tcp://127.0.0.1:1"], timeout_s=1, clock=lambda: 1.0)
    result = runner(["ap-northeast-1a"])["ap-northeast-1a"]
    assert not result.evidence and not result.failed and code in result.error


class FakeLambdaEndpoint:
    """The Lambda Invoke API on 127.0.0.1: per function name suffix, an answer, a function error
    (``X-Amz-Function-Error: Unhandled``, as Lambda answers a handler that raised or timed out) or an
    Invoke error (``x-amzn-ErrorType``)."""

    def __init__(self, answers: dict[str, tuple[int, dict, dict]]):
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.calls: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                name = self.path.split("/functions/")[1].split("/")[0]
                owner.calls.append(name)
                status, headers, body = answers[name[-2:]]
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_through_the_invoke_api_answers_are_evidence_and_lambda_failures_are_not(monkeypatch):
    from chalicelib.aws.lambda_invoke import invoke_json, make_invoke_client
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    fake = FakeLambdaEndpoint({
        "1a": (200, {}, {"zone": "ap-northeast-1a", "passed": False, "results": []}),
        "1c": (200, {"X-Amz-Function-Error": "Unhandled"},
               {"errorMessage": "2026-01-01T00:00:00Z abc Task timed out after 5.00 seconds"}),
        "1d": (429, {"x-amzn-ErrorType": "TooManyRequestsException"}, {"Type": "User", "message": "Rate exceeded"}),
        "1x": (502, {"x-amzn-ErrorType": "ENILimitReachedException"}, {"Type": "Service", "message": "ENI limit"}),
    })
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake.url)
    try:
        client = make_invoke_client("ap-northeast-1", 5.0)
        runner = LambdaProbeRunner(lambda name, payload: invoke_json(client, name, payload), NAMES,
                                   targets=["tcp://127.0.0.1:1"], timeout_s=0.5, clock=lambda: 1.0)
        out = runner(list(NAMES))
    finally:
        fake.close()
    assert out["ap-northeast-1a"].failed                                  # the checks ran and failed
    assert not out["ap-northeast-1c"].evidence and "Task timed out" in out["ap-northeast-1c"].error
    assert not out["ap-northeast-1d"].evidence and "TooManyRequestsException" in out["ap-northeast-1d"].error
    assert not out["ap-northeast-1x"].evidence and "ENILimitReachedException" in out["ap-northeast-1x"].error
    assert sorted(fake.calls) == sorted(NAMES.values())                    # one invoke each: no client retries
