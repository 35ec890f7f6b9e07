"""EC2 purchase options of NAT instances (adapter): the RunInstances market options, launching in the
first market EC2 accepts (spot, then on-demand when spot capacity is refused), the market a running
instance was bought in, and the scheduled events EC2 announces for instances.

AWS facts relied on (each cited where used):
- RunInstances ``InstanceMarketOptions``: ``MarketType`` "spot" with ``SpotOptions`` ``SpotInstanceType``
  one-time and ``InstanceInterruptionBehavior`` terminate (EC2 API Reference, InstanceMarketOptionsRequest,
  SpotMarketOptions: a persistent request is only supported with stop/hibernate); no options = on-demand.
- DescribeInstances ``InstanceLifecycle`` is "spot" for a spot instance, absent for on-demand (Instance).
- DescribeInstanceStatus ``Events``: InstanceStatusEvent ``Code`` one of instance-reboot, system-reboot,
  system-maintenance, instance-retirement, instance-stop, with ``NotBefore``/``NotAfter``; a completed event
  is still described for up to a week, its ``Description`` starting with "[Completed]".

The moto emulator differs: it accepts every spot request (never a capacity error), creates no spot
request object, and never lists scheduled events; the tests inject those.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..errors import AwsError
from ..settings import ON_DEMAND, SPOT
from .calls import paginate

T = TypeVar("T")

# RunInstances answers when there is no spot capacity for the request (EC2 API Reference, Error codes):
# InsufficientInstanceCapacity ("not enough capacity to fulfill your request"), UnfulfillableCapacity ("isn't
# enough spare capacity to fulfill your request for Spot Instances"), MaxSpotInstanceCountExceeded (the spot
# instance quota), SpotMaxPriceTooLow (a max price below the spot price; hanat sets none, kept for safety).
SPOT_REFUSED_CODES = frozenset({"InsufficientInstanceCapacity", "UnfulfillableCapacity",
                                "MaxSpotInstanceCountExceeded", "SpotMaxPriceTooLow"})
COMPLETED_PREFIX = "[Completed]"
CANCELED_PREFIX = "[Canceled]"


def market_options(market: str) -> dict | None:
    """The RunInstances ``InstanceMarketOptions`` for ``market`` (None: on-demand, the default)."""
    if market != SPOT:
        return None
    return {"MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}


def spot_request_tags(options: dict | None, tags: list[dict]) -> list[dict]:
    """The TagSpecification for the spot instance request a spot launch creates (none on-demand): it carries
    the stack's tags like the instance, so policies that allow a launch by its request tags allow it too
    (RunInstances authorizes ``spot-instances-request`` for a spot launch; EC2 User Guide, "Example
    policies ... Work with Spot Instances": tag it on create with ``ec2:CreateAction`` RunInstances)."""
    return [{"ResourceType": "spot-instances-request", "Tags": list(tags)}] if options else []


def spot_refused(err: AwsError) -> bool:
    """Did EC2 refuse a spot launch for want of spot capacity (or quota), so on-demand may be asked instead?"""
    return err.code in SPOT_REFUSED_CODES


def launch_in_market(launch: Callable[[dict | None], T], markets: tuple[str, ...]) -> tuple[T, str, str]:
    """``launch(market_options)`` in each of ``markets`` in turn until EC2 accepts one: (its result, the
    market, why spot was refused or ""). Only a spot capacity refusal moves on to the next market; any
    other error, or a refusal of the last market, is raised."""
    refused = ""
    for index, market in enumerate(markets):
        try:
            return launch(market_options(market)), market, refused
        except AwsError as err:
            if market != SPOT or not spot_refused(err) or index == len(markets) - 1:
                raise
            refused = f"{err.code}: {err.aws_message}"
    raise ValueError("launch_in_market needs at least one market")


def market_of(raw_instance: dict) -> str:
    """The market a DescribeInstances/RunInstances instance was bought in: spot or on-demand."""
    return SPOT if raw_instance.get("InstanceLifecycle") == "spot" else ON_DEMAND


def scheduled_events(ec2, instance_ids: list[str] | tuple[str, ...], *,
                     deadline: float | None = None) -> dict[str, list[dict]]:
    """instance id -> its scheduled events still ahead (code, event_id, not_before, not_after in epoch
    seconds, description), in one DescribeInstanceStatus; completed and canceled events are left out."""
    ids = [i for i in instance_ids if i]
    if not ids:
        return {}
    statuses = paginate("ec2.DescribeInstanceStatus", ec2, "describe_instance_status", "InstanceStatuses",
                        InstanceIds=ids, IncludeAllInstances=True, deadline=deadline)
    out: dict[str, list[dict]] = {}
    for status in statuses:
        events = []
        for event in status.get("Events") or []:
            description = event.get("Description", "") or ""
            if description.startswith((COMPLETED_PREFIX, CANCELED_PREFIX)):
                continue
            events.append({"code": event.get("Code", ""), "event_id": event.get("InstanceEventId", ""),
                           "not_before": _epoch(event.get("NotBefore")), "not_after": _epoch(event.get("NotAfter")),
                           "description": description})
        if events:
            out[status["InstanceId"]] = events
    return out


def _epoch(value) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else 0.0
