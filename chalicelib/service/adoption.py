"""Use-cases of an adopted VPC: cut zones over to their NATs and release their routes to their original
targets (the operate actions ``cutover`` and ``release``; ``hanat cutover|release``; ``hanat down`` through ``plan_release``).

Both go through the same version-checked protocol as the sweep (``reconcile.decide_and_apply``): the
zones are claimed, their tables written, every write read back. A release first checks, before
anything is claimed, that every table's original target still exists (a NAT gateway must be
``available``): if one does not, it refuses (InputError, exit 2, nothing changed) naming the table
and the target, unless ``release_to`` names another available NAT gateway of the VPC.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..aws import adopted_vpc, observe
from ..engine import decide_cutover, decide_release
from ..engine.model import GONE_STATES
from ..errors import InputError
from ..observability import logger
from ..topology import Topology
from .deps import Deps
from .publish import publish
from .reconcile import decide_and_apply

ACTIONS = ("cutover", "release")
KEYS = ("action", "zone", "all", "force", "wait", "release_to", "reason")
ReleaseTargets = dict[str, tuple[tuple[str, str], ...]]   # az -> ((route table id, target), ...)


def validate(deps: Deps, payload: object) -> dict:
    """The payload checked: {"action", "zones", "force", "release_to", "reason"}; InputError names every
    problem. One of ``zone`` (an az) or ``all: true`` says which zones."""
    topo = deps.topology
    hint = f"valid zones: {', '.join(topo.azs)}"
    if not isinstance(payload, dict):
        raise InputError([f"payload must be a JSON object, got {type(payload).__name__}", hint],
                         title="invalid operation")
    problems = [f"unknown key {k!r} (allowed for {payload.get('action')}: {', '.join(KEYS)})"
                for k in payload if k not in KEYS]
    action, zone, every = payload.get("action"), payload.get("zone"), payload.get("all", False)
    force, release_to, reason = payload.get("force", False), payload.get("release_to"), payload.get("reason")
    wait = payload.get("wait", False)
    if action not in ACTIONS:
        problems.append(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
    if not isinstance(every, bool):
        problems.append(f"all: must be true or false, got {every!r}")
    if zone is not None and (not isinstance(zone, str) or zone not in topo.azs):
        problems.append(f"zone: {zone!r} is not a zone of stack {topo.stack}")
    if (zone is None) == (every is not True):
        problems.append("zone: name one zone, or all: true for every zone (not both)" if zone is not None
                        else "zone: missing (which zone to act on), or all: true")
    if not isinstance(force, bool):
        problems.append(f"force: must be true or false, got {force!r}")
    elif force and action != "cutover":
        problems.append(f"force: only applies to cutover, not {action!r}")
    if not isinstance(wait, bool):
        problems.append(f"wait: must be true or false, got {wait!r}")
    elif wait and (action != "cutover" or force is True):
        problems.append("wait: only applies to cutover without force (a zone whose NAT is not proven yet is "
                        "left to the controller, which cuts it over once proven)")
    if release_to is not None:
        if action != "release":
            problems.append(f"release_to: only applies to release, not {action!r}")
        elif not isinstance(release_to, str) or not release_to.startswith("nat-"):
            problems.append(f"release_to: {release_to!r} is not a NAT gateway id (nat-...)")
    if reason is not None and not isinstance(reason, str):
        problems.append(f"reason: must be a string, got {type(reason).__name__}")
    azs = list(topo.azs) if every is True else [zone]
    if not problems:
        not_adopted = [az for az in azs if not topo.zone(az).is_adopted]
        if not_adopted and (zone is not None or len(not_adopted) == len(azs)):
            problems += [f"zone {az}: its route tables were built by hanat (stack {topo.stack} adopted no VPC "
                         f"tables there): nothing to {action}" for az in not_adopted]
        azs = [az for az in azs if topo.zone(az).is_adopted]
    if problems:
        raise InputError(problems + [hint], title="invalid operation")
    return {"action": action, "zones": azs, "force": force, "wait": wait is True, "release_to": release_to or "",
            "reason": reason or ""}


def operate(deps: Deps, payload: dict) -> dict:
    """``cutover`` or ``release`` (called by the operate function for these actions)."""
    op = validate(deps, payload)
    reason = op["reason"] or f"manual {op['action']} by {deps.owner}"
    if op["action"] == "cutover":
        return cutover(deps, op["zones"], force=op["force"], reason=reason, defer_unproven=op["wait"])
    return release(deps, op["zones"], release_to=op["release_to"], reason=reason)


def _answer(deps: Deps, action: str, azs: Sequence[str], applied) -> dict:
    alerts: list[dict] = []
    publish(deps, applied, alerts)
    logger.info(f"manual {action}", extra={"zone": ",".join(azs), "route_table": applied.changed_tables})
    return {"ok": True, "action": action, "zones": list(azs), "changed": applied.changed_tables,
            "adoption": {az: applied.states[az].adoption for az in azs},
            "moves": [m.to_dict() for m in applied.moves], "alerts": alerts}


def cutover(deps: Deps, azs: Sequence[str], *, force: bool = False, reason: str = "manual cutover",
            defer_unproven: bool = False) -> dict:
    """Point every adopted table of ``azs`` at its zone's NAT (proven, unless ``force``); with
    ``defer_unproven`` a zone not proven yet is left to the controller and listed under ``waiting``."""
    topo = deps.topology

    def decider(snapshot, inputs, now):
        return decide_cutover(inputs, azs, probe=topo.probe, now=now, force=force, reason=reason, stack=topo.stack,
                              defer_unproven=defer_unproven)

    applied = decide_and_apply(deps, decider)
    return {**_answer(deps, "cutover", azs, applied), "waiting": list(applied.decision.notes)}


def release(deps: Deps, azs: Sequence[str], *, release_to: str = "", reason: str = "manual release") -> dict:
    """Point every adopted table of ``azs`` back at its original target (checked first)."""
    topo = deps.topology
    targets = plan_release(deps.clients.ec2, topo, azs, release_to)

    def decider(snapshot, inputs, now):
        return decide_release(inputs, targets, now=now, reason=reason, stack=topo.stack)

    answer = _answer(deps, "release", azs, decide_and_apply(deps, decider))
    answer["targets"] = {table: target for pairs in targets.values() for table, target in pairs}
    return answer


def plan_release(ec2, topology: Topology, azs: Sequence[str], release_to: str = "") -> ReleaseTargets:
    """Where each adopted table of ``azs`` goes back to (reads only). A recorded NAT gateway that is gone
    or not ``available`` (or a network interface or instance that is gone) is replaced by ``release_to``
    when given (an available NAT gateway of the same VPC); otherwise InputError names every such table
    and target, with the VPC's available NAT gateways, and nothing is changed."""
    tables = [(z.az, t) for z in map(topology.zone, azs) for t in z.adopted]
    originals = {t.original_target for _, t in tables}
    gateways = adopted_vpc.nat_gateways(ec2, [g for g in (*originals, release_to) if g.startswith("nat-")])
    interfaces = adopted_vpc.network_interfaces(ec2, [e for e in originals if e.startswith("eni-")])
    instance_states = observe.describe_instance_states(ec2, [i for i in originals if i.startswith("i-")])
    problems = _release_to_problems(topology, release_to, gateways)
    out: dict[str, list[tuple[str, str]]] = {az: [] for az in azs}
    missing = []
    for az, table in tables:
        gone = _gone(table.original_target, gateways, interfaces, instance_states)
        if gone and release_to and not problems:
            out[az].append((table.route_table_id, release_to))
        elif gone:
            missing.append(f"route table {table.route_table_id} ({az}): its original target {gone}")
        else:
            out[az].append((table.route_table_id, table.original_target))
    if missing:
        available = sorted(adopted_vpc.nat_gateway_label(g) for g in adopted_vpc.vpc_nat_gateways(ec2, topology.vpc_id)
                           if g.get("State") == adopted_vpc.NAT_GATEWAY_AVAILABLE
                           and not adopted_vpc.is_private_nat_gateway(g))
        hint = (f"name another available NAT gateway of {topology.vpc_id} with --release-to nat-... "
                f"(available now: {', '.join(available) or 'none'})")
        problems += [*missing, hint]
    if problems:
        raise InputError(problems, title="cannot release the routes; nothing was changed")
    return {az: tuple(pairs) for az, pairs in out.items()}


def _gone(target: str, gateways: Mapping[str, dict], interfaces: Mapping[str, dict],
          instance_states: Mapping[str, str]) -> str:
    """Why ``target`` cannot take the route back ("" when it can)."""
    if not target:
        return ""
    if target.startswith("nat-"):
        gateway = gateways.get(target)
        if gateway is None:
            return f"NAT gateway {target} does not exist"
        state = gateway.get("State")
        return "" if state == adopted_vpc.NAT_GATEWAY_AVAILABLE else f"NAT gateway {target} is {state}, not available"
    if target.startswith("eni-"):
        return "" if target in interfaces else f"network interface {target} does not exist"
    if target.startswith("i-"):
        state = instance_states.get(target, "terminated")
        return f"instance {target} is {state}" if state in GONE_STATES else ""
    return f"{target} is not a target hanat can point a route back at"


def _release_to_problems(topology: Topology, release_to: str, gateways: Mapping[str, dict]) -> list[str]:
    if not release_to:
        return []
    gateway = gateways.get(release_to)
    if gateway is None:
        return [f"release_to: NAT gateway {release_to} does not exist"]
    if gateway.get("VpcId") != topology.vpc_id:
        return [f"release_to: NAT gateway {release_to} is in {gateway.get('VpcId')}, not {topology.vpc_id}"]
    if gateway.get("State") != adopted_vpc.NAT_GATEWAY_AVAILABLE:
        return [f"release_to: NAT gateway {release_to} is {gateway.get('State')}, not available"]
    if adopted_vpc.is_private_nat_gateway(gateway):
        return [(f"release_to: NAT gateway {release_to} is a private NAT gateway (ConnectivityType private): "
                 "it does not reach the internet")]
    return []
