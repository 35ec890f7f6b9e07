"""The adapter boundary (chalicelib/aws/calls.py): what is retried, how long, and how it gives up.

No AWS: the "API call" is a plain function raising botocore's ClientError as the SDK would.
"""
from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.aws.calls import RetryPolicy, aws_call, wait_until
from chalicelib.errors import AwsError, RetryExhaustedError

FAST = RetryPolicy(attempts=5, base_delay_s=0.2, max_delay_s=0.5, deadline_s=60.0)


def client_error(code: str, message: str = "boom") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "ReplaceRoute")


class Scripted:
    """Raises the given errors in turn, then returns ``"done"``; counts calls and keeps kwargs."""

    def __init__(self, *errors: BaseException):
        self.errors = list(errors)
        self.calls = 0
        self.kwargs: dict = {}

    def __call__(self, **kwargs):
        self.calls += 1
        self.kwargs = kwargs
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.mark.parametrize("codes, retry_on", [
    (["Throttling"], ()),
    (["RequestLimitExceeded", "ThrottlingException", "InternalError"], ()),
    (["InvalidRouteTableID.NotFound", "InvalidRouteTableID.NotFound"], ("InvalidRouteTableID.NotFound",)),
])
def test_throttling_and_listed_codes_are_retried_with_growing_bounded_delays(codes, retry_on, caplog):
    call = Scripted(*(client_error(c) for c in codes))
    sleeps: list[float] = []
    with caplog.at_level(logging.WARNING, logger="hanat.aws"):
        result = aws_call("ec2.ReplaceRoute rtb-1", call, retry_on=retry_on, policy=FAST, sleep=sleeps.append,
                          RouteTableId="rtb-1")
    assert result == "done" and call.calls == len(codes) + 1 and call.kwargs == {"RouteTableId": "rtb-1"}
    assert len(sleeps) == len(codes)
    for attempt, delay in enumerate(sleeps, start=1):
        ceiling = min(FAST.max_delay_s, FAST.base_delay_s * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling          # exponential back-off, jittered, capped
    assert sum("will retry" in r.getMessage() and "ec2.ReplaceRoute rtb-1" in r.getMessage()
               for r in caplog.records) == len(codes)   # the seed's "[WARN] ... will retry" line


def test_other_codes_are_not_retried_and_become_aws_error():
    call = Scripted(client_error("InvalidParameterValue", "bad cidr"))
    sleeps: list[float] = []
    with pytest.raises(AwsError) as info:
        aws_call("ec2.CreateRoute rtb-1", call, policy=FAST, sleep=sleeps.append)
    assert call.calls == 1 and sleeps == []
    assert not isinstance(info.value, RetryExhaustedError)
    assert (info.value.operation, info.value.code, info.value.aws_message) == (
        "ec2.CreateRoute rtb-1", "InvalidParameterValue", "bad cidr")
    assert isinstance(info.value.__cause__, ClientError)


def test_a_listed_code_is_only_retried_where_listed():
    call = Scripted(client_error("InvalidRouteTableID.NotFound"))
    with pytest.raises(AwsError) as info:
        aws_call("ec2.DescribeRouteTables", call, policy=FAST, sleep=lambda _s: None)
    assert call.calls == 1 and info.value.code == "InvalidRouteTableID.NotFound"


def test_connection_errors_become_aws_error_at_once():
    call = Scripted(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    with pytest.raises(AwsError) as info:
        aws_call("ec2.DescribeVpcs", call, policy=FAST, sleep=lambda _s: None)
    assert call.calls == 1 and info.value.code == "EndpointConnectionError"


def test_giving_up_after_the_attempts_names_the_call_and_the_count():
    call = Scripted(*(client_error("Throttling", "Rate exceeded") for _ in range(10)))
    sleeps: list[float] = []
    with pytest.raises(RetryExhaustedError) as info:
        aws_call("dynamodb.PutItem hanat-demo-state", call, policy=FAST, sleep=sleeps.append)
    assert call.calls == FAST.attempts and len(sleeps) == FAST.attempts - 1
    assert info.value.operation == "dynamodb.PutItem hanat-demo-state" and info.value.code == "Throttling"
    assert f"gave up after {FAST.attempts} attempts" in str(info.value) and "Rate exceeded" in str(info.value)
    assert info.value.exit_code == 1


def test_the_deadline_bounds_the_wait_before_the_attempts_run_out():
    policy = RetryPolicy(attempts=50, base_delay_s=1.0, max_delay_s=1.0, deadline_s=0.4)
    call = Scripted(*(client_error("Throttling") for _ in range(50)))
    sleeps: list[float] = []
    with pytest.raises(RetryExhaustedError, match="gave up after 1 attempts"):
        aws_call("sns.Publish", call, policy=policy, sleep=sleeps.append)
    assert call.calls == 1 and sleeps == []     # a delay of >= 0.5 s would overrun the 0.4 s deadline


def test_wait_until_polls_until_true():
    answers = iter([False, False, True])
    sleeps: list[float] = []
    wait_until("instance running", lambda: next(answers), timeout_s=60, interval_s=3, sleep=sleeps.append)
    assert sleeps == [3, 3]


def test_wait_until_gives_up_with_a_clear_error():
    polls = []
    with pytest.raises(RetryExhaustedError) as info:
        wait_until("instances i-1, i-2 terminated", lambda: polls.append(1) and False, timeout_s=0.0,
                   interval_s=0.001)
    assert polls and "instances i-1, i-2 terminated not reached after 0s" in str(info.value)
    assert info.value.code == "Timeout"
