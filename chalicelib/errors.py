"""One error tree for all of hanat.

Every failure the operator or a Lambda can see is a ``HanatError``; ``exit_code`` says how the CLI
ends (2 = bad input and nothing was changed, 1 = the action failed).
"""
from __future__ import annotations


class HanatError(Exception):
    """Base of every error hanat raises on purpose."""

    exit_code = 1


class InputError(HanatError):
    """Bad input (CLI argument, Lambda payload, event): nothing was changed.

    ``problems`` lists every offending value, each naming the key it is about.
    """

    exit_code = 2

    def __init__(self, problems: list[str] | str, *, title: str = "invalid input"):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.title = title
        super().__init__(self.render())

    def render(self) -> str:
        if len(self.problems) == 1:
            return f"{self.title}: {self.problems[0]}"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"{self.title} ({len(self.problems)} problems):\n{lines}"


class ConfigError(InputError):
    """The configuration file is invalid; raised before any AWS call."""

    def __init__(self, problems: list[str] | str, *, source: str = "configuration"):
        super().__init__(problems, title=f"invalid {source}")


class AwsError(HanatError):
    """An AWS API call failed (converted from botocore's ClientError at the adapter boundary)."""

    def __init__(self, operation: str, code: str, message: str):
        self.operation = operation
        self.code = code
        self.aws_message = message
        super().__init__(f"{operation} failed: {code}: {message}")


class RetryExhaustedError(AwsError):
    """A retried call or a bounded wait gave up."""


class NotFoundError(HanatError):
    """Something hanat expected (stack, topology, zone, instance) does not exist."""


class ConflictError(HanatError):
    """A conditional write lost: another run changed the record first."""


class OutOfTimeError(HanatError):
    """A run gave up an action it could no longer finish in time (the Lambda's deadline, or a route-write
    claim about to expire): nothing was written after that point; the next run completes it."""
