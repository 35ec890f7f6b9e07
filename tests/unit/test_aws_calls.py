"""The adapter boundary (chalicelib/aws/calls.py): what is retried, how long, and how it gives up.

No AWS: the "API call" is a plain function raising botocore's ClientError as the SDK would. Throttling
is retried once, here, as botocore's standard retry mode would (boto3 guide "Retries": standard mode
retries throttling and transient errors, with exponential backoff capped at 20 s): the clients have
botocore's own retries off, so no call is retried by two layers and one call cannot take minutes.
"""
from __future__ import annotations

import logging
import time

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.aws.calls import (
    TRANSIENT_ATTEMPTS,
    Call,
    RetryPolicy,
    aws_call,
    aws_calls,
    paginate,
    transient_backoff_cap,
    wait_until,
)
from chalicelib.aws.clients import CLIENT_CONFIG
from chalicelib.errors import AwsError, RetryExhaustedError

FAST = RetryPolicy(within_s=60.0, base_delay_s=0.2, max_delay_s=0.5)


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


class Clock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_throttling_is_retried_here_with_botocores_backoff_and_botocores_own_retries_are_off_one_layer_only():
    retries = CLIENT_CONFIG.retries   # botocore: total_max_attempts counts the first attempt
    assert retries["mode"] == "standard" and retries["total_max_attempts"] == 1
    call = Scripted(client_error("Throttling", "Rate exceeded"), client_error("Throttling"))
    clock = Clock()
    assert aws_call("ec2.ReplaceRoute rtb-1", call, policy=FAST, sleep=clock.sleep, clock=clock) == "done"
    assert call.calls == 3 and len(clock.sleeps) == 2
    assert all(0 <= s <= transient_backoff_cap(n) for n, s in enumerate(clock.sleeps, start=1))
    # as many attempts as botocore's standard mode made (max_attempts 5 = 6 attempts), then AWS's own error
    always = Scripted(*(client_error("Throttling", "Rate exceeded") for _ in range(20)))
    with pytest.raises(AwsError) as info:
        aws_call("ec2.ReplaceRoute rtb-1", always, policy=FAST, sleep=clock.sleep, clock=clock)
    assert TRANSIENT_ATTEMPTS == 6 and always.calls == TRANSIENT_ATTEMPTS
    assert info.value.code == "Throttling" and "Rate exceeded" in str(info.value)
    assert not isinstance(info.value, RetryExhaustedError)


@pytest.mark.parametrize("codes", [
    pytest.param(["InvalidRouteTableID.NotFound"], id="one-miss"),
    pytest.param(["InvalidRouteTableID.NotFound"] * 3, id="three-misses"),
])
def test_listed_codes_are_retried_with_growing_bounded_delays(codes, caplog):
    call = Scripted(*(client_error(c) for c in codes))
    clock = Clock()
    with caplog.at_level(logging.WARNING, logger="hanat.aws"):
        result = aws_call("ec2.ReplaceRoute rtb-1", call, retry_on=("InvalidRouteTableID.NotFound",), policy=FAST,
                          sleep=clock.sleep, clock=clock, RouteTableId="rtb-1")
    assert result == "done" and call.calls == len(codes) + 1 and call.kwargs == {"RouteTableId": "rtb-1"}
    assert len(clock.sleeps) == len(codes)
    for attempt, delay in enumerate(clock.sleeps, start=1):
        ceiling = min(FAST.max_delay_s, FAST.base_delay_s * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling          # exponential back-off, jittered, capped
    assert sum("will retry" in r.getMessage() and "ec2.ReplaceRoute rtb-1" in r.getMessage()
               for r in caplog.records) == len(codes)   # the seed's "[WARN] ... will retry" line


def test_other_codes_are_not_retried_and_become_aws_error():
    call = Scripted(client_error("InvalidParameterValue", "bad cidr"))
    with pytest.raises(AwsError) as info:
        aws_call("ec2.CreateRoute rtb-1", call, policy=FAST, sleep=lambda _s: pytest.fail("not retried"))
    assert call.calls == 1
    assert not isinstance(info.value, RetryExhaustedError)
    assert (info.value.operation, info.value.code, info.value.aws_message) == (
        "ec2.CreateRoute rtb-1", "InvalidParameterValue", "bad cidr")
    assert isinstance(info.value.__cause__, ClientError)


def test_a_listed_code_is_only_retried_where_listed():
    call = Scripted(client_error("InvalidRouteTableID.NotFound"))
    with pytest.raises(AwsError) as info:
        aws_call("ec2.DescribeRouteTables", call, policy=FAST, sleep=lambda _s: None)
    assert call.calls == 1 and info.value.code == "InvalidRouteTableID.NotFound"


def test_connection_errors_are_ridden_out_like_botocores_standard_mode_then_become_aws_error():
    call = Scripted(*(EndpointConnectionError(endpoint_url="http://127.0.0.1:9") for _ in range(20)))
    with pytest.raises(AwsError) as info:
        aws_call("ec2.DescribeVpcs", call, policy=FAST, sleep=lambda _s: None)
    assert call.calls == TRANSIENT_ATTEMPTS and info.value.code == "EndpointConnectionError"
    once = Scripted(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert aws_call("ec2.DescribeVpcs", once, policy=FAST, sleep=lambda _s: None) == "done" and once.calls == 2


def test_giving_up_after_within_s_names_the_call_the_code_and_the_count():
    call = Scripted(*(client_error("DependencyViolation", "in use") for _ in range(100)))
    clock = Clock()
    policy = RetryPolicy(within_s=5.0, base_delay_s=1.0, max_delay_s=1.0)
    with pytest.raises(RetryExhaustedError) as info:
        aws_call("ec2.DeleteSubnet subnet-1", call, retry_on=("DependencyViolation",), policy=policy,
                 sleep=clock.sleep, clock=clock)
    assert sum(clock.sleeps) <= 5.0 and call.calls == len(clock.sleeps) + 1 >= 5
    assert info.value.operation == "ec2.DeleteSubnet subnet-1" and info.value.code == "DependencyViolation"
    assert f"gave up after {call.calls} attempts" in str(info.value) and "in use" in str(info.value)
    assert info.value.exit_code == 1


def test_a_deadline_stops_retries_before_it_and_refuses_a_call_after_it():
    clock = Clock()
    call = Scripted(*(client_error("InvalidRouteTableID.NotFound") for _ in range(50)))
    with pytest.raises(RetryExhaustedError, match="gave up after 1 attempts"):
        aws_call("ec2.ReplaceRoute rtb-1", call, retry_on=("InvalidRouteTableID.NotFound",),
                 policy=RetryPolicy(within_s=60.0, base_delay_s=1.0, max_delay_s=1.0),
                 deadline=clock.now + 0.4, sleep=clock.sleep, clock=clock)
    assert call.calls == 1 and clock.sleeps == []     # a delay of >= 0.5 s would overrun the deadline
    late = Scripted()
    with pytest.raises(RetryExhaustedError) as info:
        aws_call("sns.Publish", late, deadline=clock.now - 0.1, clock=clock)
    assert late.calls == 0 and info.value.code == "Deadline"


def test_paginate_reads_every_page_through_boto3s_paginator():
    class Paginator:
        def paginate(self, **kwargs):
            assert kwargs == {"Filters": ["f"]}
            yield {"Items": [1, 2]}
            yield {"Items": [3]}
            yield {}

    class Client:
        def get_paginator(self, method):
            assert method == "describe_things"
            return Paginator()

    assert paginate("x.DescribeThings", Client(), "describe_things", "Items", Filters=["f"]) == [1, 2, 3]


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


class ThrottlingDynamoDB:
    """A DynamoDB endpoint on 127.0.0.1 that throttles every request (HTTP 400 ThrottlingException, which
    botocore's standard mode retries with exponential back-off), counting them."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests += 1
                body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}'
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self, config=CLIENT_CONFIG):
        import boto3
        return boto3.session.Session().client("dynamodb", region_name="ap-northeast-1", endpoint_url=self.url,
                                              aws_access_key_id="testing", aws_secret_access_key="testing",
                                              config=config)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def throttling_dynamodb():
    fake = ThrottlingDynamoDB()
    yield fake
    fake.close()


def test_a_deadline_also_stops_throttling_retries(throttling_dynamodb):
    """botocore's standard mode would retry a throttled call 5 times with back-off up to 20 s (boto3 guide
    "Retries"), and so does the retry layer; with 0.5 s left no retry fits, so the call ends at once with
    AWS's own error."""
    import time
    ddb = throttling_dynamodb.client()
    started = time.monotonic()
    with pytest.raises(AwsError) as exc:
        aws_call("dynamodb.GetItem lease", ddb.get_item, TableName="t", Key={"pk": {"S": "x"}},
                 deadline=time.monotonic() + 0.5)
    assert exc.value.code == "ThrottlingException"
    assert throttling_dynamodb.requests == 1 and time.monotonic() - started < 0.5


def test_throttling_retries_run_while_the_deadline_allows_them_and_botocore_makes_one_attempt(throttling_dynamodb):
    import time
    ddb = throttling_dynamodb.client()
    sleeps: list[float] = []
    with pytest.raises(AwsError):
        aws_call("dynamodb.GetItem lease", ddb.get_item, TableName="t", Key={"pk": {"S": "x"}},
                 deadline=time.monotonic() + 30.0, sleep=sleeps.append)
    assert throttling_dynamodb.requests == TRANSIENT_ATTEMPTS      # back-offs of at most 1, 2, 4, 8, 16 s fit
    assert len(sleeps) == TRANSIENT_ATTEMPTS - 1
    with pytest.raises(AwsError):   # 3 s left: after the 3rd attempt a back-off of up to 4 s would not fit
        aws_call("dynamodb.GetItem lease", ddb.get_item, TableName="t", Key={"pk": {"S": "x"}},
                 deadline=time.monotonic() + 3.0, sleep=lambda _s: None)
    assert throttling_dynamodb.requests == TRANSIENT_ATTEMPTS + 3
    with pytest.raises(ClientError):                  # outside the retry layer botocore makes one attempt
        ddb.get_item(TableName="t", Key={"pk": {"S": "x"}})
    assert throttling_dynamodb.requests == TRANSIENT_ATTEMPTS + 4


def test_a_batch_runs_its_stages_in_order_each_only_after_the_one_before_succeeded():
    first, second, third = Scripted(), Scripted(client_error("ConditionalCheckFailedException", "lost")), Scripted()
    out = aws_calls([Call("a", first, {"x": 1}), Call("b", second)], [Call("c", third)], sleep=lambda _s: None)
    assert out[0] == "done" and isinstance(out[1], AwsError) and out[1].code == "ConditionalCheckFailedException"
    assert out[2] is None and third.calls == 0 and first.kwargs == {"x": 1}
    clock = Clock()
    late = Scripted()
    out = aws_calls([Call("a", Scripted())], [Call("w", late, deadline=clock.now - 1)], clock=clock)
    assert out[0] == "done" and out[1].code == "Deadline" and late.calls == 0   # a call's own deadline holds


def test_one_attempt_of_the_controllers_clients_ends_within_the_route_write_claim_margin():
    """A route write starts only while its claim has CLAIM_MARGIN_S left and botocore's retries stop at
    the write deadline, so one attempt (connect + read timeout) must fit in the margin."""
    from chalicelib.aws.clients import CONTROLLER_CLIENT_CONFIG
    from chalicelib.service.reconcile import CLAIM_MARGIN_S
    assert CONTROLLER_CLIENT_CONFIG.connect_timeout + CONTROLLER_CLIENT_CONFIG.read_timeout < CLAIM_MARGIN_S
    assert CONTROLLER_CLIENT_CONFIG.retries == CLIENT_CONFIG.retries     # the same one retry layer



class ThrottledEc2:
    """An EC2 client whose ReplaceRoute is throttled ``times`` times, then done; the waits between tries."""

    def __init__(self, times: int):
        self.left, self.at, self.eni = times, [], None

    def replace_route(self, **kwargs):
        self.at.append(time.monotonic())
        if self.left:
            self.left -= 1
            raise client_error("RequestLimitExceeded", "Request limit exceeded.")
        self.eni = kwargs["NetworkInterfaceId"]

    def describe_route_tables(self, RouteTableIds):
        return {"RouteTables": [{"RouteTableId": t, "Routes": [{"DestinationCidrBlock": "0.0.0.0/0",
                                                                "NetworkInterfaceId": self.eni}]}
                                for t in RouteTableIds]}


def test_a_route_write_is_retried_within_ec2s_token_refill_not_botocores_first_second():
    # EC2 refills a mutating action's token bucket at 5 tokens a second by default (EC2 developer guide,
    # "Request throttling for the Amazon EC2 API"): a throttled route write waits at most 0.2 s, doubling
    from chalicelib.aws.claims import ROUTE_WRITE_BACKOFF_S, RouteWrite, write_routes
    from chalicelib.aws.observe import RouteTableView

    assert ROUTE_WRITE_BACKOFF_S == 0.2
    ec2 = ThrottledEc2(times=3)
    view = RouteTableView("rtb-1", {"hanat:stack": "s"}, "eni-old", None, has_default=True)
    assert write_routes(ec2, [RouteWrite("rtb-1", "eni-new", view)]) == ["rtb-1"] and ec2.eni == "eni-new"
    waits = [b - a for a, b in zip(ec2.at, ec2.at[1:])]
    assert len(waits) == 3
    # each wait below its cap (0.2, 0.4, 0.8 s) plus scheduling slack; botocore's caps are 1, 2, 4 s
    assert all(w <= transient_backoff_cap(n, ROUTE_WRITE_BACKOFF_S) + 0.3 for n, w in enumerate(waits, start=1))
    assert transient_backoff_cap(1) == 1.0 and transient_backoff_cap(3, ROUTE_WRITE_BACKOFF_S) == 0.8
    # any other call keeps botocore's first cap
    assert Call("ec2.DescribeRouteTables", ec2.describe_route_tables).backoff_s == 1.0
