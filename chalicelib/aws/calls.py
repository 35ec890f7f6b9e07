"""The adapter boundary and its one retry layer: run AWS calls (one, or a batch issued at once),
convert ClientError into AwsError, retry what is transient, never past a deadline.

One retry layer, here, for every kind of trouble, each bounded:
- throttling and transient service errors (the codes and HTTP statuses botocore's standard retry mode
  retries, and connection errors): up to ``TRANSIENT_ATTEMPTS`` attempts with botocore's standard
  back-off (``random() x 2 ** (attempt - 1)`` s, at most 20 s). The clients ``clients.make_client``
  makes have botocore's own retries off (``total_max_attempts`` 1), so a call is never retried by two
  layers;
- eventual consistency (an id created a moment ago, a dependency AWS is still releasing): only the
  error codes the caller lists in ``retry_on``, with growing delays for at most ``policy.within_s``;
- a ``deadline`` (a ``time.monotonic()`` instant): no attempt starts after it and no retry is made whose
  back-off could end past it, so a caller with little time left (a Lambda near its timeout) is never
  overrun; the call then ends with the error AWS gave (throttling, 5xx), converted as usual.
Giving up on a listed code raises ``RetryExhaustedError`` naming the call.

``aws_calls`` runs several calls in one go: the calls of a stage at once (threads that run the SDK's
own methods), the stages in order, a stage only when every call before it succeeded, each retried
here as above; every call's outcome is its answer or its AwsError. ``aws_call`` is one call of it.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from ..errors import AwsError, RetryExhaustedError

log = logging.getLogger("hanat.aws")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How long the codes named in ``retry_on`` are retried, and how the delays grow."""

    within_s: float = 60.0
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Exponential back-off from ``base_delay_s``, capped, with jitter (half to full)."""
        return min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)


DEFAULT_RETRY = RetryPolicy()

# What botocore's standard retry mode retries (botocore/retries/standard.py: ThrottledRetryableChecker,
# TransientRetryableChecker, ThrottlingStatusCodeChecker; boto3 guide "Retries", standard mode), and as
# many attempts as the controller's clients made with it (max_attempts 5 retries = 6 attempts).
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
    "PriorRequestNotComplete", "EC2ThrottledException"})
TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
TRANSIENT_ATTEMPTS = 6
MAX_BACKOFF_S = 20.0   # botocore/retries/standard.py ExponentialBackoff: random() * 2 ** (attempt - 1), capped


def transient_backoff_cap(attempt: int, base_s: float = 1.0) -> float:
    """The longest back-off after attempt ``attempt`` of a transient error (the delay is random below it);
    ``base_s``: the first cap (botocore's is 1 s; ``Call.backoff_s``)."""
    return min(base_s * 2.0 ** max(0, attempt - 1), MAX_BACKOFF_S)


@dataclass(frozen=True)
class Call:
    """One AWS call for ``aws_calls``: a readable name for errors and logs (``"ec2.ReplaceRoute rtb-1"``),
    the SDK method (or any callable raising botocore's errors), its keyword arguments, the codes to ride
    out (eventual consistency) and, optionally, a deadline of its own besides the batch's, and an instant
    on the caller's clock (``expires``: (clock, instant), a claim's write-by) no attempt starts at or after."""

    operation: str
    fn: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    retry_on: Iterable[str] = ()
    deadline: float | None = None
    expires: tuple[Callable[[], float], float] | None = None
    # False for a call that must not run twice (a probe invoke: a retry would run the probe again)
    retry_transient: bool = True
    # the first back-off cap of a transient error (botocore's standard mode: 1 s), doubling per attempt
    backoff_s: float = 1.0


def error_code(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Code", "Unknown")


def to_aws_error(operation: str, err: ClientError) -> AwsError:
    return AwsError(operation, error_code(err), err.response.get("Error", {}).get("Message", str(err)))


def _transient(err: BaseException) -> bool:
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error_code(err)
        return code in THROTTLING_CODES or code in TRANSIENT_CODES or status in TRANSIENT_STATUS
    return isinstance(err, (BotoConnectionError, HTTPClientError))


def _converted(operation: str, err: BaseException) -> AwsError:
    out = (to_aws_error(operation, err) if isinstance(err, ClientError)
           else AwsError(operation, type(err).__name__, str(err)))
    out.__cause__ = err
    return out


class _Run:
    """One call's progress through the retry layer."""

    def __init__(self, call: Call, deadline: float | None, policy: RetryPolicy, started: float):
        self.call = call
        self.retryable = frozenset(call.retry_on)
        ends = [d for d in (deadline, call.deadline) if d is not None]
        self.deadline = min(ends) if ends else None
        self.policy = policy
        self.started = started
        self.attempt = 0
        self.transient = 0          # attempts that met a transient error

    def give_up_at(self) -> float:
        by_policy = self.started + self.policy.within_s
        return by_policy if self.deadline is None else min(by_policy, self.deadline)

    def next_delay(self, err: BaseException, now: float) -> float | AwsError:
        """The pause before the next attempt, or the error to end the call with."""
        op = self.call.operation
        if isinstance(err, ClientError) and error_code(err) in self.retryable:
            delay = self.policy.delay(self.attempt)
            if now + delay > self.give_up_at():
                out = RetryExhaustedError(op, error_code(err),
                                          f"gave up after {self.attempt} attempts in {now - self.started:.1f}s: "
                                          f"{err.response.get('Error', {}).get('Message', '')}")
                out.__cause__ = err
                return out
            return delay
        if self.call.retry_transient and _transient(err):
            self.transient += 1
            cap = transient_backoff_cap(self.transient, self.call.backoff_s)
            if self.transient >= TRANSIENT_ATTEMPTS or (self.deadline is not None and now + cap >= self.deadline):
                return _converted(op, err)
            return random.random() * cap
        return _converted(op, err)


def aws_calls(*stages: Sequence[Call], deadline: float | None = None, policy: RetryPolicy = DEFAULT_RETRY,
              sleep: Callable[[float], None] = time.sleep,
              clock: Callable[[], float] = time.monotonic) -> list[Any]:
    """Run ``stages`` in order (the calls of one stage at once), each call retried as the module says;
    a stage runs only when every call of the stages before it succeeded. One outcome per call, in
    order: its answer, its AwsError, or None for a call of a stage that did not run."""
    outcomes: list[Any] = []
    failed = False
    for stage in stages:
        if failed:
            outcomes.extend([None] * len(stage))
            continue
        answers = _run_stage(list(stage), deadline, policy, sleep, clock)
        failed = any(isinstance(a, AwsError) for a in answers)
        outcomes.extend(answers)
    return outcomes


def _run_stage(calls: list[Call], deadline: float | None, policy: RetryPolicy,
               sleep: Callable[[float], None], clock: Callable[[], float]) -> list[Any]:
    started = clock()
    runs = [_Run(call, deadline, policy, started) for call in calls]
    answers: list[Any] = [None] * len(calls)
    pending = list(range(len(calls)))
    pool = ThreadPoolExecutor(max_workers=min(8, len(calls))) if len(calls) > 1 else None
    try:
        while pending:
            now = clock()
            ready = []
            for i in pending:
                run = runs[i]
                expires = run.call.expires
                if (run.deadline is not None and now >= run.deadline) or \
                        (expires is not None and expires[0]() >= expires[1]):
                    answers[i] = RetryExhaustedError(run.call.operation, "Deadline", "no time left for the call")
                else:
                    run.attempt += 1
                    ready.append(i)
            if pool is None:
                results = {i: _attempt(runs[i].call) for i in ready}
            else:
                futures = {i: pool.submit(runs[i].call.fn, **runs[i].call.kwargs) for i in ready}
                results = {i: _outcome(f) for i, f in futures.items()}
            pending, wait = [], 0.0
            now = clock()
            for i, (ok, value) in results.items():
                if ok:
                    answers[i] = value
                    continue
                step = runs[i].next_delay(value, now)
                if isinstance(step, AwsError):
                    answers[i] = step
                    continue
                log.warning("[WARN] %s: %s, will retry in %.1fs (attempt %d)", runs[i].call.operation,
                            error_code(value) if isinstance(value, ClientError) else type(value).__name__,
                            step, runs[i].attempt)
                pending.append(i)
                wait = max(wait, step)
            if pending:
                sleep(wait)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return answers


def _attempt(call: Call) -> tuple[bool, Any]:
    try:
        return True, call.fn(**call.kwargs)
    except (ClientError, BotoCoreError) as err:
        return False, err


def _outcome(future) -> tuple[bool, Any]:
    err = future.exception()
    if err is None:
        return True, future.result()
    if isinstance(err, (ClientError, BotoCoreError)):
        return False, err
    raise err


def raise_first(outcomes: Iterable[Any]) -> None:
    """Raise the first AwsError among ``outcomes`` (the others are logged)."""
    errors = [o for o in outcomes if isinstance(o, AwsError)]
    for extra in errors[1:]:
        log.error("%s failed too: %s", extra.operation, extra)
    if errors:
        raise errors[0]


def aws_call(
    operation: str,
    fn: Callable[..., T],
    /,
    *args: Any,
    retry_on: Iterable[str] = (),
    policy: RetryPolicy = DEFAULT_RETRY,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    retry_transient: bool = True,
    **kwargs: Any,
) -> T:
    """Call ``fn(*args, **kwargs)`` through the retry layer (one call of ``aws_calls``): transient
    errors ridden out (unless ``retry_transient`` is False: a call that must not run twice), the codes
    in ``retry_on`` (eventual consistency) retried within ``policy.within_s``, all before ``deadline``.
    ``operation`` is a readable name for errors and logs."""
    target = fn if not args else (lambda **kw: fn(*args, **kw))
    (outcome,) = aws_calls([Call(operation, target, kwargs, retry_on, retry_transient=retry_transient)],
                           deadline=deadline, policy=policy, sleep=sleep, clock=clock)
    if isinstance(outcome, AwsError):
        raise outcome
    return outcome


# "does not exist" as each service says it
NO_SUCH = ("NoSuchEntity", "ParameterNotFound", "ResourceNotFoundException", "NotFound",
           "InvalidResourceId")


def absent_is_none(operation: str, fn, /, **kwargs):
    """The call's answer, or None when AWS says the thing does not exist (a fact a planner needs);
    every other failure is an AwsError."""
    try:
        return aws_call(operation, fn, **kwargs)
    except AwsError as err:
        if err.code in NO_SUCH:
            return None
        raise


def paginate(operation: str, client, method: str, key: str, /, *, retry_on: Iterable[str] = (),
             deadline: float | None = None, **kwargs: Any) -> list:
    """Every item under ``key`` across all pages of ``client.method(**kwargs)`` (boto3's paginator),
    read as one ``aws_call``."""
    def run() -> list:
        items: list = []
        for page in client.get_paginator(method).paginate(**kwargs):
            items.extend(page.get(key, []))
        return items
    return aws_call(operation, run, retry_on=retry_on, deadline=deadline)


def wait_until(
    what: str,
    check: Callable[[], bool],
    *,
    timeout_s: float = 300.0,
    interval_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll ``check`` until true; a bounded wait that ends in a clear error."""
    started = time.monotonic()
    while True:
        if check():
            return
        if time.monotonic() - started > timeout_s:
            raise RetryExhaustedError("wait", "Timeout", f"{what} not reached after {timeout_s:.0f}s")
        sleep(interval_s)
