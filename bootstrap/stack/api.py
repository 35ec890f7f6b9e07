"""The stack builder's public functions: plan, build (up), destroy (down), read the topology."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib import naming
from chalicelib.errors import NotFoundError
from chalicelib.topology import Topology

from ..config.model import HanatConfig
from . import services as svc
from .clients import StackClients, as_clients
from .desired import desired_state
from .destroy import DownResult, delete_tagged
from .executor import Context, execute
from .observe import observe
from .planner import Step, plan_changes, topology_from

Progress = Callable[[str], None]


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
            } for z in t.zones],
        }


def plan_stack(config: HanatConfig, session_or_clients: Any = None) -> PlanResult:
    """What ``up`` would change (reads only)."""
    clients = as_clients(session_or_clients, config.stack.region)
    desired = desired_state(config)
    return PlanResult(config.stack.name, plan_changes(config, desired, observe(clients, desired)))


def build_stack(config: HanatConfig, session_or_clients: Any = None, progress: Progress | None = None,
                *, wait_interval_s: float = 2.0) -> UpResult:
    """Observe, plan, apply; a re-run of a complete stack makes no change (``changes == 0``)."""
    progress = progress or _quiet
    clients = as_clients(session_or_clients, config.stack.region)
    desired = desired_state(config)
    obs = observe(clients, desired)
    steps = plan_changes(config, desired, obs)
    progress(f"stack {desired.stack}: {len(steps)} change(s) to make" if steps
             else f"stack {desired.stack}: up to date")
    ctx = Context(clients, config, desired, obs, wait_interval_s=wait_interval_s)
    changes = execute(ctx, steps, progress)
    topology = topology_from(config, desired, ctx.obs)
    if topology is None:  # cannot happen after a successful apply; say so rather than return half
        raise NotFoundError(f"stack {desired.stack}: resources missing after apply")
    return UpResult(topology, changes, steps)


def destroy_stack(config_or_stack: HanatConfig | str, session_or_clients: Any = None,
                  progress: Progress | None = None, *, region: str | None = None,
                  wait_interval_s: float = 2.0) -> DownResult:
    """Delete every resource tagged with the stack (and only those)."""
    if isinstance(config_or_stack, HanatConfig):
        stack, region = config_or_stack.stack.name, region or config_or_stack.stack.region
    else:
        stack = config_or_stack
    clients = as_clients(session_or_clients, region)
    return delete_tagged(stack, clients, progress or _quiet, wait_interval_s=wait_interval_s)


def read_topology(ssm_client: Any, stack: str) -> Topology:
    """The topology ``up`` stored in ``/hanat/<stack>/topology``; NotFoundError when absent."""
    name = naming.topology_parameter(stack)
    parameter = svc.get_parameter(ssm_client, name)
    if parameter is None:
        raise NotFoundError(f"stack {stack!r} has no topology parameter {name} (run `hanat up` first)")
    return Topology.from_json(parameter["Value"])


__all__ = [
    "DownResult",
    "PlanResult",
    "StackClients",
    "UpResult",
    "build_stack",
    "destroy_stack",
    "plan_stack",
    "read_topology",
]
