"""The adapter boundary: run one AWS call, convert ClientError into AwsError, retry only what the
caller names, never past a deadline.

One retry layer per kind of trouble, each bounded:
- throttling and transient service errors: botocore's standard retry mode, configured once in
  ``clients.CLIENT_CONFIG`` (the single source: aws_call does not retry them a second time);
- eventual consistency (an id created a moment ago, a dependency AWS is still releasing): only the
  error codes the caller lists in ``retry_on``, with growing delays for at most ``policy.within_s``;
- a ``deadline`` (a ``time.monotonic()`` instant): no attempt starts after it and no retry sleeps past
  it, so a caller with little time left (a Lambda near its timeout) is never overrun. That holds for
  botocore's own retries too: while ``aws_call`` runs with a deadline, a handler that runs before
  botocore's retry handler (``needs-retry``) stops any retry whose back-off could end past it, and the
  call ends with the error AWS gave (throttling, 5xx), converted as usual.
Giving up raises ``RetryExhaustedError`` naming the call.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

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


# The deadline of the aws_call running in this thread (None: none), read by the botocore retry guard.
_call_deadline: ContextVar[float | None] = ContextVar("hanat_call_deadline", default=None)
RETRY_GUARD_ID = "hanat-deadline-guard"
# botocore's standard retry mode waits random() * 2 ** (attempt - 1) s, at most 20 s, between attempts
# (botocore/retries/standard.py, ExponentialBackoff): the longest wait after attempt n.
BOTOCORE_MAX_BACKOFF_S = 20.0


def _worst_backoff_s(attempts: int) -> float:
    return min(2.0 ** max(0, attempts - 1), BOTOCORE_MAX_BACKOFF_S)


def _deadline_guard(attempts: int = 1, **_kwargs: Any) -> bool | None:
    """``needs-retry`` handler run before botocore's: False (= do not retry) when the back-off before
    the next attempt could end past the running call's deadline; None lets botocore decide."""
    deadline = _call_deadline.get()
    if deadline is None:
        return None
    if time.monotonic() + _worst_backoff_s(attempts) >= deadline:
        return False
    return None


def guard_retries(client: Any) -> None:
    """Let ``aws_call``'s deadline bound botocore's retries on ``client`` (idempotent, per client)."""
    meta = getattr(client, "meta", None)
    events = getattr(meta, "events", None)
    model = getattr(meta, "service_model", None)
    if events is None or model is None:
        return
    # botocore registers its retry handler on needs-retry.<service>; handlers of the same event run in
    # registration order with register_first ones first, and the first non-None answer wins.
    events.register_first(f"needs-retry.{model.service_id.hyphenize()}", _deadline_guard,
                          unique_id=RETRY_GUARD_ID)


def error_code(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Code", "Unknown")


def to_aws_error(operation: str, err: ClientError) -> AwsError:
    return AwsError(operation, error_code(err), err.response.get("Error", {}).get("Message", str(err)))


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
    **kwargs: Any,
) -> T:
    """Call ``fn(*args, **kwargs)``; retry the codes in ``retry_on`` (eventual consistency) within
    ``policy.within_s`` and before ``deadline``.

    ``operation`` is a readable name for errors and logs (``"ec2.ReplaceRoute rtb-123"``).
    """
    retryable = frozenset(retry_on)
    started = clock()
    give_up_at = started + policy.within_s if deadline is None else min(started + policy.within_s, deadline)
    if deadline is not None and started >= deadline:
        raise RetryExhaustedError(operation, "Deadline", "no time left for the call")
    guard_retries(getattr(fn, "__self__", None))
    attempt = 0
    while True:
        attempt += 1
        token = _call_deadline.set(deadline)
        try:
            return fn(*args, **kwargs)
        except ClientError as err:
            code = error_code(err)
            if code not in retryable:
                raise to_aws_error(operation, err) from err
            last = err
        except BotoCoreError as err:  # connection errors, endpoint not reachable, read timeouts
            raise AwsError(operation, type(err).__name__, str(err)) from err
        finally:
            _call_deadline.reset(token)
        delay = policy.delay(attempt)
        if clock() + delay > give_up_at:
            raise RetryExhaustedError(
                operation, error_code(last),
                f"gave up after {attempt} attempts in {clock() - started:.1f}s: "
                f"{last.response.get('Error', {}).get('Message', '')}")
        log.warning("[WARN] %s: %s, will retry in %.1fs (attempt %d)", operation, error_code(last), delay, attempt)
        sleep(delay)


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
    guard_retries(client)
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
