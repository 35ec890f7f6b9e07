"""The boto3 clients the stack builder uses, made once per run from one session."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.aws.clients import make_client, make_session


@dataclass(frozen=True)
class StackClients:
    ec2: Any
    iam: Any
    ssm: Any
    dynamodb: Any
    sns: Any
    cloudwatch: Any = None    # the alarms and dashboard `hanat deploy` made (`down` removes them)

    @classmethod
    def from_session(cls, session: Any = None, region: str | None = None) -> StackClients:
        """Clients for ``region`` (AWS_ENDPOINT_URL and the profile are honoured by boto3)."""
        session = session or make_session(region)
        return cls(**{name: make_client(name, region, session) for name in
                      ("ec2", "iam", "ssm", "dynamodb", "sns", "cloudwatch")})

    def all(self) -> tuple[Any, ...]:
        return tuple(c for c in (self.ec2, self.iam, self.ssm, self.dynamodb, self.sns, self.cloudwatch)
                     if c is not None)


def as_clients(session_or_clients: Any, region: str) -> StackClients:
    """Accept a StackClients, a boto3 Session, or None (a default session)."""
    if isinstance(session_or_clients, StackClients):
        return session_or_clients
    return StackClients.from_session(session_or_clients, region)
