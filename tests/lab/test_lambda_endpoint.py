"""The lab's Lambda Invoke endpoint, spoken to by botocore as the heartbeat does (no root needed): the
production LambdaProbeRunner and invoke_json with make_invoke_client's client pointed at 127.0.0.1.
Every invoke-level fault must reach the controller as botocore parses Lambda's (lambda 2015-03-31 model,
Invoke: rest-json, error code from X-Amzn-ErrorType) and become no evidence, never a failed probe."""
from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.lambda_invoke import LambdaProbeRunner, invoke_json
from chalicelib.errors import AwsError
from lab.aws.lambda_endpoint import FAULT_KINDS, INVOKE_ERRORS, LabFunction, LambdaEndpoint, Outcome
from lab.aws.lambda_functions import lab_invoke_client

NAME = "hanat-lab-probe_a"
FUNCTION = LabFunction(name=NAME, handler="probe_a", zone="zone-a", timeout_s=0.3)
ANSWER = {"zone": "zone-a", "passed": True, "at": 1.0, "error": None, "results": []}   # ProbeResult.to_dict()


def healthy(function, event, request_id) -> Outcome:
    return Outcome("ok", {**ANSWER, "event": event})


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ep = LambdaEndpoint({NAME: FUNCTION}, healthy).start()
    try:
        yield ep, lab_invoke_client(ep.url, "ap-northeast-1", read_timeout_s=5)   # make_invoke_client's
    finally:
        ep.stop()


def test_a_healthy_invoke_returns_the_handlers_json(endpoint):
    ep, client = endpoint
    assert invoke_json(client, NAME, {"targets": ["x"]})["event"] == {"targets": ["x"]}
    arn = f"arn:aws:lambda:ap-northeast-1:123456789012:function:{NAME}"
    assert invoke_json(client, arn, {})["passed"] is True
    assert ep.counts() == {"ok": 2}


@pytest.mark.parametrize("kind", list(INVOKE_ERRORS))
def test_invoke_errors_parse_as_botocore_names_them(endpoint, kind):
    """The exception name comes from X-Amzn-ErrorType; the status is Lambda's (429 / 502)."""
    ep, client = endpoint
    status, code, _ = INVOKE_ERRORS[kind]
    ep.inject([kind])
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=NAME, Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert type(caught.value).__name__ == code   # botocore's modeled exception class


@pytest.mark.parametrize("kind, needle", [("function-error", "lab fault"), ("timeout", "Task timed out after 0.30")])
def test_function_errors_are_200_with_x_amz_function_error(endpoint, kind, needle):
    ep, client = endpoint
    ep.inject([kind])
    answer = client.invoke(FunctionName=NAME, Payload=b"{}")
    assert answer["StatusCode"] == 200 and answer["FunctionError"] == "Unhandled"
    assert needle in answer["Payload"].read().decode()


def test_unknown_function_is_resource_not_found(endpoint):
    _, client = endpoint
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="nope", Payload=b"{}")


def test_every_fault_is_no_evidence_for_the_production_probe_runner(endpoint):
    """issue 10 item 2: Lambda's own errors say nothing about the NAT: no failed probe, no exception."""
    ep, client = endpoint
    runner = LambdaProbeRunner(lambda name, payload: invoke_json(client, name, payload), {"zone-a": NAME},
                               targets=["http://198.51.100.10/"], timeout_s=1.0, clock=time.time)
    ep.inject(FAULT_KINDS)
    results = [runner(["zone-a"])["zone-a"] for _ in FAULT_KINDS]
    assert all(not r.evidence for r in results), [r.error for r in results]
    assert ep.counts() == {kind: 1 for kind in FAULT_KINDS}
    ep.clear()
    healthy_result = runner(["zone-a"])["zone-a"]
    assert healthy_result.evidence and healthy_result.passed


def test_invoke_faults_raise_aws_error_through_invoke_json(endpoint):
    ep, client = endpoint
    ep.inject(["throttle"])
    with pytest.raises(AwsError) as caught:
        invoke_json(client, NAME, {})
    assert caught.value.code == "TooManyRequestsException"


def test_reserved_concurrency_throttles_the_invoke_one_past_it_as_lambda_does(monkeypatch):
    """Lambda Developer Guide, "Configuring reserved concurrency": invokes beyond a function's reserved
    concurrency are throttled (TooManyRequestsException, Reason ReservedFunctionConcurrentInvocationLimitExceeded).
    hanat reserves 2 per probe function: one sweep's invoke and one still running when the next starts."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    release = threading.Event()

    def slow(function, event, request_id) -> Outcome:
        release.wait(5)
        return Outcome("ok", ANSWER)

    reserved = LabFunction(name=NAME, handler="probe_a", zone="zone-a", timeout_s=5.0, reserved=2)
    ep = LambdaEndpoint({NAME: reserved}, slow).start()
    try:
        client = lab_invoke_client(ep.url, "ap-northeast-1", read_timeout_s=8)
        runner = LambdaProbeRunner(lambda name, payload: invoke_json(client, name, payload), {"zone-a": NAME},
                                   targets=["http://198.51.100.10/"], timeout_s=1.0, clock=time.time)
        pool = ThreadPoolExecutor(max_workers=2)
        running = [pool.submit(runner, ["zone-a"]) for _ in range(2)]
        deadline = time.monotonic() + 5
        while ep.running(NAME) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        throttled = runner(["zone-a"])["zone-a"]                 # the third at once
        assert not throttled.evidence and "TooManyRequestsException" in throttled.error
        release.set()
        assert all(f.result(timeout=5)["zone-a"].passed for f in running)
        pool.shutdown()
        assert runner(["zone-a"])["zone-a"].passed               # room again once they ended
        assert ep.counts() == {"ok": 3, "throttle": 1}
    finally:
        release.set()
        ep.stop()
