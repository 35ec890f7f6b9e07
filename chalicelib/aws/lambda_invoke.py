"""Lambda invoke adapter: one synchronous JSON invoke, and the heartbeat's probe runner, which invokes
every zone's ``probe_<zone>`` function in parallel.

Whatever goes wrong with one zone's probe (invoke error, function error, no answer in time,
garbage answer) becomes a failed ProbeResult with ``error`` set, never an exception: a probe
that cannot run is evidence about that NAT path, not a reason to stop the sweep.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from ..errors import AwsError
from ..probes.results import ProbeResult
from .calls import aws_call

# (function_name, payload) -> decoded JSON answer; raises on failure
Invoke = Callable[[str, dict], dict]


def invoke_json(lambda_client, function_name: str, payload: dict) -> dict:
    """Invoke ``function_name`` and return its decoded JSON result.

    A function error (the handler raised, or timed out inside Lambda) becomes an AwsError with
    code ``FunctionError`` and Lambda's error text, so callers see one error tree. Timeouts of the
    call itself are the client's ``read_timeout`` (build the client with retries off: a retried
    invoke would run the function twice).
    """
    operation = f"lambda.Invoke {function_name}"
    response = aws_call(operation, lambda_client.invoke, FunctionName=function_name,
                        InvocationType="RequestResponse", Payload=json.dumps(payload).encode())
    body = response["Payload"].read()
    if response.get("FunctionError"):
        raise AwsError(operation, "FunctionError", body.decode(errors="replace")[:500])
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise AwsError(operation, "InvalidResponse", f"not JSON: {body[:200]!r}") from exc


def make_invoke_client(region: str | None, read_timeout_s: float):
    """A Lambda client for synchronous probe invokes: no retries (a retry would run the probe twice)
    and a read timeout just above the probe's own deadline."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 0, "mode": "standard"}, connect_timeout=3,
                    read_timeout=read_timeout_s, max_pool_connections=16)
    return boto3.session.Session(region_name=region).client("lambda", region_name=region, config=config)


class LambdaProbeRunner:
    """Callable ProbeRunner: azs -> {az: ProbeResult}, all zones at once."""

    def __init__(self, invoke: Invoke, function_names: Mapping[str, str], *, targets: Sequence[str],
                 timeout_s: float, clock: Callable[[], float], margin_s: float = 3.0):
        self._invoke = invoke
        self._names = dict(function_names)
        self._payload = {"targets": list(targets), "timeout_s": timeout_s}
        self._wait_s = timeout_s + margin_s   # cold start / network slack on top of the checks
        self._clock = clock

    def _one(self, az: str) -> ProbeResult:
        name = self._names.get(az)
        if name is None:
            return ProbeResult(zone=az, passed=False, at=self._clock(), error=f"no probe function for {az}")
        try:
            answer = self._invoke(name, self._payload)
        except Exception as exc:  # noqa: BLE001 - any failure is a failed probe, by design
            return ProbeResult(zone=az, passed=False, at=self._clock(), error=f"invoke failed: {exc}")
        try:
            if answer.get("ok") is False:
                return ProbeResult(zone=az, passed=False, at=self._clock(),
                                   error=f"probe rejected its input: {answer.get('error')}")
            return ProbeResult.from_dict({**answer, "zone": az})
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            return ProbeResult(zone=az, passed=False, at=self._clock(), error=f"bad probe answer: {exc}")

    def __call__(self, azs: Sequence[str]) -> dict[str, ProbeResult]:
        if not azs:
            return {}
        pool = ThreadPoolExecutor(max_workers=len(azs), thread_name_prefix="probe-invoke")
        try:
            futures = {az: pool.submit(self._one, az) for az in azs}
            deadline = time.monotonic() + self._wait_s   # one deadline shared by every zone
            results = {}
            for az, future in futures.items():
                try:
                    results[az] = future.result(timeout=max(0.0, deadline - time.monotonic()))
                except FutureTimeout:
                    results[az] = ProbeResult(zone=az, passed=False, at=self._clock(),
                                              error=f"no answer within {self._wait_s:.1f}s")
            return results
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # a hung invoke must not hold the sweep
