"""Reserved concurrency for the controller's functions, and what to do when the account refuses it.

The probe functions get a reservation so a busy account cannot starve them (a throttled probe is "no
evidence", never a failed NAT, but a zone without evidence cannot fail over either); the heartbeat gets
1 (one sweep at a time). Lambda keeps part of the account's concurrency unreserved and refuses any
reservation that would cut into it: "Specified ReservedConcurrentExecutions for function decreases
account's UnreservedConcurrentExecution below its minimum value of [N]" (InvalidParameterValueException;
N is 100, or less on new accounts whose whole limit is 10 or 50 - Lambda Developer Guide, "Configuring
reserved concurrency"). Then ``hanat deploy`` deploys without reservations and warns, naming the limit.
"""
from __future__ import annotations

import re

HEARTBEAT_RESERVED = 1
# One sweep's invoke plus one still running when the next starts (a probe may outlive its caller's wait).
PROBE_RESERVED = 2
_FLOOR = re.compile(r"UnreservedConcurrentExecution below its minimum value of \[(\d+)\]")


def floor_refusal(message: str) -> int | None:
    """The minimum Lambda named when it refused a reservation, or None for any other failure."""
    match = _FLOOR.search(message)
    return int(match.group(1)) if match else None


def total_reserved(zones: int) -> int:
    return HEARTBEAT_RESERVED + PROBE_RESERVED * zones


def unreserved_warning(region: str, zones: int, floor: int, account: tuple[int, int] | None) -> str:
    limit = (f"the account's concurrency limit is {account[0]} with {account[1]} unreserved"
             if account else "the account's concurrency limit could not be read (lambda get-account-settings)")
    return (f"Lambda in {region} refused reserved concurrency for hanat ({total_reserved(zones)}: heartbeat "
            f"{HEARTBEAT_RESERVED}, {PROBE_RESERVED} per probe function) because it keeps {floor} unreserved and "
            f"{limit}: deployed WITHOUT reservations. A busy account can now throttle the probes (counted as "
            f"no evidence, never as a NAT failure, and alerted as 'blind'); ask for a higher 'Concurrent "
            f"executions' quota (Service Quotas, AWS Lambda) and run `hanat deploy` again.")
