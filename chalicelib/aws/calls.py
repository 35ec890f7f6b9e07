"""The adapter boundary: run one AWS call, retry what is worth retrying, convert ClientError.

Retries cover throttling and eventual consistency (the DupsWorks "[WARN] ... will retry" loop),
bounded in attempts and time; giving up raises ``RetryExhaustedError`` naming the call.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import AwsError, RetryExhaustedError

log = logging.getLogger("hanat.aws")
T = TypeVar("T")

THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "RequestThrottled", "SlowDown", "ServiceUnavailable",
    "InternalError", "InternalFailure",
})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    deadline_s: float = 60.0


DEFAULT_RETRY = RetryPolicy()


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
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> T:
    """Call ``fn(*args, **kwargs)``; retry throttling plus the codes in ``retry_on``.

    ``operation`` is a readable name for errors and logs (``"ec2.ReplaceRoute rtb-123"``).
    """
    retryable = THROTTLING_CODES | frozenset(retry_on)
    started = time.monotonic()
    last: ClientError | None = None
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn(*args, **kwargs)
        except ClientError as err:
            code = error_code(err)
            if code not in retryable:
                raise to_aws_error(operation, err) from err
            last = err
        except BotoCoreError as err:  # connection errors, endpoint not reachable
            raise AwsError(operation, type(err).__name__, str(err)) from err
        delay = min(policy.max_delay_s, policy.base_delay_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        if attempt == policy.attempts or time.monotonic() - started + delay > policy.deadline_s:
            break
        log.warning("[WARN] %s: %s, will retry in %.1fs (attempt %d/%d)",
                    operation, error_code(last), delay, attempt, policy.attempts)
        sleep(delay)
    assert last is not None
    raise RetryExhaustedError(
        operation, error_code(last),
        f"gave up after {attempt} attempts in {time.monotonic() - started:.1f}s: "
        f"{last.response.get('Error', {}).get('Message', '')}",
    )


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
