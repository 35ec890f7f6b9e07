"""The stack builder's public functions: plan, build (up), destroy (down), read the topology, and
find (then confirm gone) the controller ``hanat deploy`` put on top of a stack."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib import naming
from chalicelib.aws import iam as iam_api
from chalicelib.aws import lambda_functions, params
from chalicelib.aws.clients import make_client
from chalicelib.aws.read_back import until_shown
from chalicelib.aws.tags import has_stack_tag
from chalicelib.errors import AwsError, HanatError, NotFoundError
from chalicelib.topology import Topology

from ..config.schema import HanatConfig
from .clients import StackClients, as_clients
from .desired import desired_state
from .destroy import (
    LAMBDA_ENI_WAIT_S,
    ControllerRemoval,
    DownIncomplete,
    DownInterrupted,
    DownResult,
    delete_tagged,
    plan_controller_removal,
)
from .executor import execute
from .model import Context, Progress, Step
from .network.adopted import inspect_adoption
from .observe import observe
from .planner import plan_changes
from .release import check_release_tables, release_tables
from .runas import check_run_as
from .topology import topology_from


def _quiet(_message: str) -> None:
    pass


@dataclass
class PlanResult:
    stack: str
    steps: list[Step]

    def to_dict(self) -> dict:
        return {"stack": self.stack, "changes": len(self.steps), "steps": [s.to_dict() for s in self.steps]}


@dataclass
class UpResult:
    topology: Topology
    changes: int
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)   # for people: nothing failed, something to know

    def to_dict(self) -> dict:
        t = self.topology
        return {
            "stack": t.stack, "region": t.region, "vpc_id": t.vpc_id, "topic_arn": t.topic_arn,
            "table_name": t.table_name, "topology_parameter": t.topology_parameter, "changes": self.changes,
            "zones": [{
                "az": z.az, "public_subnet_id": z.public_subnet_id, "private_subnet_id": z.private_subnet_id,
                "probe_subnet_id": z.probe_subnet_id, "nat_instance_id": z.nat_instance_id,
                "nat_eni_id": z.nat_eni_id, "nat_eip": z.nat_eip,
                "private_route_table_ids": list(z.private_route_table_ids),
                "probe_route_table_id": z.probe_route_table_id,
                **({"adopted": [a.to_dict() for a in z.adopted]} if z.is_adopted else {}),
            } for z in t.zones],
            "warnings": list(self.warnings),
        }


def plan_stack(config: HanatConfig, session_or_clients: Any = None) -> PlanResult:
    """What ``up`` would change (reads only)."""
    clients = as_clients(session_or_clients, config.stack.region)
    desired = desired_state(config, inspect_adoption(clients, config))
    return PlanResult(config.stack.name, plan_changes(config, desired, observe(clients, desired)))


def build_stack(config: HanatConfig, session_or_clients: Any = None, progress: Progress | None = None,
                *, wait_interval_s: float = 2.0) -> UpResult:
    """Observe, plan, apply; a re-run of a complete stack makes no change (``changes == 0``)."""
    progress = progress or _quiet
    clients = as_clients(session_or_clients, config.stack.region)
    desired = desired_state(config, inspect_adoption(clients, config))
    obs = observe(clients, desired)
    steps = plan_changes(config, desired, obs)
    progress(f"stack {desired.stack}: {len(steps)} change(s) to make" if steps
             else f"stack {desired.stack}: up to date")
    ctx = Context(clients, config, desired, obs, wait_interval_s=wait_interval_s)
    changes = execute(ctx, steps, progress)
    if changes:
        _until_shown(clients, config, desired, progress)
    topology = topology_from(config, desired, ctx.obs)
    if topology is None:  # cannot happen after a successful apply; say so rather than return half
        raise NotFoundError(f"stack {desired.stack}: resources missing after apply")
    run_as_users = [u.user_name for u in desired.users if u.run_as_tag]
    warning = check_run_as(clients.ssm, run_as_users, desired.region)
    return UpResult(topology, changes, steps, warnings=[warning] if warning else [])


def _until_shown(clients: StackClients, config: HanatConfig, desired, progress: Progress) -> None:
    """Observe until EC2 shows every change just made (a plan from it is empty), for up to READ_BACK_S:
    EC2's reads lag its writes ("Eventual consistency in the Amazon EC2 API", EC2 Developer Guide), and
    an ``up`` that returned before they showed would leave ``plan`` (and a re-run) seeing the stack as it
    was. When they do not show in time, ``up`` still succeeds (every change was accepted) and says so."""
    try:
        until_shown(f"hanat.up {desired.stack}", lambda: plan_changes(config, desired, observe(clients, desired)),
                    lambda steps: not steps, "no change left to make")
    except AwsError as err:
        if err.code != "VerifyFailed":
            raise
        progress(f"EC2 does not show every change yet ({err.aws_message}): `hanat plan` may list them for a moment")


def _stack_and_region(config_or_stack: HanatConfig | str, region: str | None) -> tuple[str, str | None]:
    if isinstance(config_or_stack, HanatConfig):
        return config_or_stack.stack.name, region or config_or_stack.stack.region
    return config_or_stack, region


def destroy_stack(config_or_stack: HanatConfig | str, session_or_clients: Any = None,
                  progress: Progress | None = None, *, region: str | None = None,
                  wait_interval_s: float = 2.0, eni_wait_s: float = LAMBDA_ENI_WAIT_S,
                  eni_interval_s: float = 15.0, clock: Callable[[], float] | None = None,
                  sleep: Callable[[float], None] | None = None, release_to: str = "") -> DownResult:
    """Release an adopted VPC's route tables first (refused, nothing changed, when a recorded NAT
    gateway is gone and ``release_to`` names no other), then delete every resource tagged with the
    stack (and only those; an adopted table only loses hanat's two tags), waiting up to ``eni_wait_s``
    for Lambda to release a deleted controller's network interfaces (DownIncomplete past it; re-run)."""
    stack, region = _stack_and_region(config_or_stack, region)
    clients = as_clients(session_or_clients, region)
    released = release_tables(clients, stack, release_to, progress or _quiet)
    timing = {k: v for k, v in (("clock", clock), ("sleep", sleep)) if v is not None}
    result = delete_tagged(stack, clients, progress or _quiet, wait_interval_s=wait_interval_s,
                           eni_wait_s=eni_wait_s, eni_interval_s=eni_interval_s, region=region, **timing)
    result.released = released
    return result


def release_adopted(config_or_stack: HanatConfig | str, session_or_clients: Any = None,
                    progress: Progress | None = None, *, region: str | None = None, release_to: str = "") -> list[str]:
    """Point an adopted VPC's route tables back at their original targets now (``down`` does it first);
    the tables changed."""
    stack, region = _stack_and_region(config_or_stack, region)
    return release_tables(as_clients(session_or_clients, region), stack, release_to, progress or _quiet)


def check_release(config_or_stack: HanatConfig | str, session_or_clients: Any = None, *, region: str | None = None,
                  release_to: str = "") -> dict[str, tuple]:
    """Reads only: where ``down`` points an adopted VPC's route tables back to (az -> ((table, target), ...));
    InputError when it cannot (a recorded NAT gateway is gone, and ``release_to`` names no other)."""
    stack, region = _stack_and_region(config_or_stack, region)
    return check_release_tables(as_clients(session_or_clients, region), stack, release_to)


class ControllerNotRemoved(HanatError):
    """``chalice delete`` ran but the controller is not gone yet; the stack itself is untouched."""


def check_controller(config_or_stack: HanatConfig | str, stage: str, recorded_arns: list[str] | None,
                     record: str, session: Any = None, *, region: str | None = None) -> ControllerRemoval:
    """Reads only: the stack's deployed controller and whether ``chalice delete --stage`` with the
    deployment record ``record`` removes all of it (else InputError, exit 2)."""
    stack, region = _stack_and_region(config_or_stack, region)
    functions = lambda_functions.hanat_functions(make_client("lambda", region, session))
    return plan_controller_removal(stack, stage, functions, recorded_arns, record)


def await_controller_gone(config_or_stack: HanatConfig | str, session: Any = None, *,
                          region: str | None = None) -> None:
    """After ``chalice delete``: no function carries the stack's tag any more (ControllerNotRemoved
    otherwise; nothing else changed). The wait for Lambda's network interfaces is part of
    ``destroy_stack``, so an interrupted ``down`` resumes it."""
    stack, region = _stack_and_region(config_or_stack, region)
    left = sorted(f.name for f in lambda_functions.hanat_functions(make_client("lambda", region, session))
                  if f.tags.get(naming.STACK_TAG) == stack)
    if left:
        raise ControllerNotRemoved(f"stack {stack!r}: after chalice delete these Lambda functions still carry "
                                   f"{naming.STACK_TAG}={stack}: {', '.join(left)}; nothing else was deleted "
                                   f"(delete them, then re-run `hanat down`)")


def remove_controller_roles(config_or_stack: HanatConfig | str, stage: str, session: Any = None,
                            progress: Progress | None = None, *, region: str | None = None) -> list[str]:
    """The two region-named roles ``hanat deploy`` made for ``stage`` (only if they carry the stack's
    tag); run last by ``down``, after Lambda released the functions' network interfaces."""
    progress = progress or _quiet
    stack, region = _stack_and_region(config_or_stack, region)
    iam = make_client("iam", region, session)
    removed = []
    for kind in ("controller", "probe"):
        name = naming.controller_role_name(stage, region, kind)
        if iam_api.get_role(iam, name) and has_stack_tag(iam_api.role_tags(iam, name), stack):
            iam_api.delete_role_and_profile(iam, name, None)
            removed.append(name)
            progress(f"deleted iam-role {name}")
    return removed


def read_topology(ssm_client: Any, stack: str) -> Topology:
    """The topology ``up`` stored in ``/hanat/<stack>/topology``; NotFoundError when absent."""
    return params.read_topology(ssm_client, naming.topology_parameter(stack))


__all__ = [
    "LAMBDA_ENI_WAIT_S",
    "ControllerNotRemoved",
    "ControllerRemoval",
    "DownIncomplete",
    "DownInterrupted",
    "DownResult",
    "PlanResult",
    "StackClients",
    "UpResult",
    "await_controller_gone",
    "build_stack",
    "check_controller",
    "check_release",
    "destroy_stack",
    "plan_stack",
    "read_topology",
    "release_adopted",
    "remove_controller_roles",
]
