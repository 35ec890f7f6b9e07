"""Lambda invoke adapter: one synchronous JSON invoke, and the heartbeat's probe runner, which invokes
every zone's ``probe_<zone>`` function in parallel (and ``HandoffReader``, which asks them for their NATs'
handoff reports: issue 21).

Only an answer of the probe function is evidence about a NAT path. Whatever else happens to one
zone's probe — an error of the Invoke API itself (throttling, function not ready, Lambda's VPC/ENI
errors, ...: every error botocore's Lambda model lists for Invoke is about Lambda, none about the
NAT), a function error (unhandled exception, ``Task timed out``), no answer in time, a garbage
answer — becomes ``ProbeResult.no_evidence`` with ``error`` set, never an exception and never a
failed probe: the zone's counters do not move (the sweep counts it and raises ``blind`` when it lasts).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from ..errors import AwsError
from ..probes.results import ProbeResult
from ..settings import chain_s
from .calls import aws_call

# (function_name, payload) -> decoded JSON answer; raises on failure
Invoke = Callable[[str, dict], dict]
# How long the runner waits for the probes on top of their timeout (cold start, the invoke itself).
PROBE_WAIT_MARGIN_S = 3.0
# How long a handoffs read may take: the probe's own GET (probes.counters.COUNTERS_TIMEOUT_S) and the invoke.
HANDOFF_READ_WAIT_S = 2.0


def invoke_json(lambda_client, function_name: str, payload: dict) -> dict:
    """Invoke ``function_name`` and return its decoded JSON result.

    A function error (the handler raised, or timed out inside Lambda) becomes an AwsError with
    code ``FunctionError`` and Lambda's error text, so callers see one error tree. Timeouts of the
    call itself are the client's ``read_timeout``; no retry, neither botocore's (build the client with
    retries off) nor the retry layer's: a retried invoke would run the function twice.
    """
    operation = f"lambda.Invoke {function_name}"
    response = aws_call(operation, lambda_client.invoke, FunctionName=function_name, retry_transient=False,
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
    """Callable ProbeRunner: azs -> {az: ProbeResult}, all zones at once; each result carries the
    confirmations the probe function made in the same invoke (``samples``, probes/samples.py)."""

    def __init__(self, invoke: Invoke, function_names: Mapping[str, str], *, targets: Sequence[str],
                 timeout_s: float, clock: Callable[[], float], samples: int = 1,
                 margin_s: float = PROBE_WAIT_MARGIN_S, counters: bool = False):
        self._invoke = invoke
        self._names = dict(function_names)
        # samples: how many times each probe function may probe its path (a failure confirmed at once)
        self._payload = {"targets": list(targets), "timeout_s": timeout_s, "samples": samples}
        if counters:    # [metrics] on or gray failures judged: a probe whose path passed also reads its NAT's counters (probes/counters.py)
            self._payload["counters"] = True
        self._wait_s = chain_s(timeout_s, samples) + margin_s   # cold start / network slack on top
        self._clock = clock

    def _one(self, az: str) -> ProbeResult:
        name = self._names.get(az)
        if name is None:
            return ProbeResult.no_evidence(az, self._clock(), f"no probe function for {az}")
        try:
            answer = self._invoke(name, self._payload)
        except AwsError as err:  # Lambda's own errors, and FunctionError (raised, timed out)
            return ProbeResult.no_evidence(az, self._clock(), f"invoke failed: {err.code}: {err.aws_message}")
        except Exception as exc:  # noqa: BLE001 - whatever stopped the invoke, it says nothing about the NAT
            return ProbeResult.no_evidence(az, self._clock(), f"invoke failed: {type(exc).__name__}: {exc}")
        try:
            if answer.get("ok") is False:
                return ProbeResult.no_evidence(az, self._clock(),
                                               f"probe rejected its input: {answer.get('error')}")
            return ProbeResult.from_dict({**answer, "zone": az, "evidence": True})
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            return ProbeResult.no_evidence(az, self._clock(), f"bad probe answer: {exc}")

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
                    results[az] = ProbeResult.no_evidence(az, self._clock(),
                                                          f"no answer within {self._wait_s:.1f}s")
            return results
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # a hung invoke must not hold the sweep


class HandoffReader:
    """Callable: azs -> {az: (report, None) | (None, why not)}: each zone's probe function asked at once
    for its NAT's handoff report (the event ``{"handoffs": true}``, probes/handler.py). Any failure of
    the invoke or of the read is an answer without a report, never an exception."""

    def __init__(self, invoke: Invoke, function_names: Mapping[str, str], *, wait_s: float = HANDOFF_READ_WAIT_S):
        self._invoke = invoke
        self._names = dict(function_names)
        self._wait_s = wait_s

    def _one(self, az: str) -> tuple[dict | None, str | None]:
        name = self._names.get(az)
        if name is None:
            return None, f"no probe function for {az}"
        try:
            answer = self._invoke(name, {"handoffs": True})
        except AwsError as err:
            return None, f"invoke failed: {err.code}: {err.aws_message}"
        except Exception as exc:  # noqa: BLE001 - whatever stopped the invoke, the move falls back to waiting
            return None, f"invoke failed: {type(exc).__name__}: {exc}"
        if not isinstance(answer, dict) or answer.get("ok") is False:
            return None, f"probe function refused the read: {answer!r:.200}"
        report = answer.get("handoffs")
        return (report, None) if isinstance(report, dict) else (None, str(answer.get("error") or "no report"))

    def __call__(self, azs: Sequence[str]) -> dict[str, tuple[dict | None, str | None]]:
        if not azs:
            return {}
        pool = ThreadPoolExecutor(max_workers=len(azs), thread_name_prefix="handoff-read")
        try:
            futures = {az: pool.submit(self._one, az) for az in azs}
            deadline = time.monotonic() + self._wait_s
            out = {}
            for az, future in futures.items():
                try:
                    out[az] = future.result(timeout=max(0.0, deadline - time.monotonic()))
                except FutureTimeout:
                    out[az] = (None, f"no answer within {self._wait_s:.1f}s")
            return out
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
