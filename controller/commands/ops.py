"""``hanat status`` and the manual operations ``failover|revert|replace|pause|resume`` (``roll``:
controller/commands/roll.py).

By default they run the controller's own ``operate`` with the operator's credentials (same
validation, same version-checked route writes as the Lambda); ``--via-lambda`` invokes the
deployed ``hanat-<stage>-operate`` function instead. Bad input exits 2 with nothing changed.
``--wait`` (replace, roll) shows the operation's progress from the state table until it ends
(controller/views/operation.py).
"""
from __future__ import annotations

import getpass
import time

import click
from rich.console import Console, Group

from bootstrap.deploy.project import load_stack, resolve_config_path
from bootstrap.deploy.stage import CONTROLLER_TIMEOUT_S
from chalicelib.aws.clients import make_client
from chalicelib.aws.lambda_invoke import invoke_json, make_invoke_client
from chalicelib.errors import InputError
from chalicelib.naming import function_name
from chalicelib.service.deps import Clients, Deps
from chalicelib.service.history import list_history
from chalicelib.service.make_deps import deps_for_topology
from chalicelib.service.operations import operate
from chalicelib.topology import Topology
from controller.views import logs as logview
from controller.views import operation
from controller.views.capacity import capacity_table, capacity_views
from controller.views.output import emit_json, err_console, out_console, progress
from controller.views.status import (
    DEFAULT_INTERVAL_S,
    history_table,
    nat_table,
    nat_views,
    parse_since,
    roll_text,
    status_table,
    watch,
    watch_options,
    zone_views,
)

PIPED_WIDTH = 160
# --via-lambda waits for the operate function's answer: its timeout, plus the invoke's own overhead
OPERATE_READ_TIMEOUT_S = CONTROLLER_TIMEOUT_S + 10


def operator_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _direct_deps(cfg, topology: Topology) -> Deps:
    """The controller's dependencies with the operator's credentials (no probes, no metrics)."""
    region = cfg.stack.region
    clients = Clients(ec2=make_client("ec2", region), dynamodb=make_client("dynamodb", region),
                      sns=make_client("sns", region) if topology.topic_arn else None,
                      ssm=make_client("ssm", region), cloudwatch=make_client("cloudwatch", region))
    return deps_for_topology(topology, clients, owner=f"cli:{operator_name()}", stage=None,
                             metric=lambda name, value, unit, dimensions=None: None)


def _invoke_operate(cfg, payload: dict, stage: str | None) -> dict:
    """The deployed ``operate`` function's answer; its bad-input answer becomes InputError.

    Invoked exactly once: a client with retries off (botocore's default would retry a throttled or
    failed invoke, running a failover twice) and a read timeout above the function's own timeout
    (a RequestResponse invoke answers when the function ends)."""
    function = function_name(stage or cfg.stack.name, "operate")
    progress(f"invoking {function} ...")
    client = make_invoke_client(cfg.stack.region, OPERATE_READ_TIMEOUT_S)
    answer = invoke_json(client, function, payload)
    if isinstance(answer, dict) and answer.get("ok") is False:
        raise InputError(answer.get("problems") or [str(answer.get("error"))],
                         title=answer.get("error") or "invalid operation")
    return answer


def run_operation(config: str | None, payload: dict, *, via_lambda: bool, stage: str | None) -> dict:
    """Run one operation directly or through the deployed Lambda; bad input raises InputError."""
    cfg, topology = load_stack(resolve_config_path(config))
    if via_lambda:
        return _invoke_operate(cfg, payload, stage)
    return operate(_direct_deps(cfg, topology), payload)


def fetch_status(config: str | None, *, via_lambda: bool, stage: str | None) -> tuple[dict, Topology]:
    """(operate's status answer, the stack's topology). The answer is the same whether it comes from
    the operator's credentials or the deployed function: one row per zone with its replacement."""
    cfg, topology = load_stack(resolve_config_path(config))
    if via_lambda:
        return _invoke_operate(cfg, {"action": "status"}, stage), topology
    return operate(_direct_deps(cfg, topology), {"action": "status"}), topology


def common_options(func):
    func = click.option("--config", "config", envvar="HANAT_CONFIG", help="Stack config file (or HANAT_CONFIG).")(func)
    func = click.option("--via-lambda", is_flag=True, help="Invoke the deployed operate function.")(func)
    func = click.option("--stage", default=None, help="Chalice stage for --via-lambda (default: stack name).")(func)
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(func)


def wait_for(config: str | None, action: str, payload: dict, answer: dict, timeout: str | None,
             poll: str | None) -> None:
    """Follow ``action`` (started with ``payload``, answered ``answer``) until it ends; WaitFailed (exit 1)
    when it fails or stops. Reads the state table with the operator's credentials; prints every step
    of the operation from its records (the command's own step log lines were muted, ``mute_steps``)."""
    timeout_s, poll_s = operation.wait_options(True, timeout, poll)
    reader = operation.PROGRESS_READERS[action]
    cfg, _ = load_stack(resolve_config_path(config))

    def read():
        _, topology = load_stack(resolve_config_path(config))   # a replaced NAT is published there
        return reader(_direct_deps(cfg, topology), payload, answer)

    operation.show_until_done(read, err_console, timeout_s=timeout_s, poll_s=poll_s)


def wait_flags(func):
    """``--wait [--timeout S] [--poll S]`` for operations the controller carries on."""
    func = click.option("--poll", default=None, metavar="S",
                        help=f"With --wait: seconds between looks (default {operation.DEFAULT_POLL_S:g}).")(func)
    func = click.option("--timeout", default=None, metavar="S",
                        help=f"With --wait: give up following after S seconds (default {operation.DEFAULT_TIMEOUT_S:g}).")(func)
    return click.option("--wait", is_flag=True, help="Follow it until it ends; exit 1 if it fails.")(func)


def show_history(config: str | None, since: str | None, as_json: bool) -> None:
    """``status --history``: route moves, replacements, rolls and alerts from the state table, newest first."""
    cfg, topology = load_stack(resolve_config_path(config))
    now = time.time()
    since_s = parse_since(since or "24h", now)
    entries = list_history(_direct_deps(cfg, topology), since=since_s, until=now)
    if as_json:
        emit_json({"stack": topology.stack, "since": since_s, "entries": entries})
        return
    console = out_console if out_console.is_terminal else Console(width=PIPED_WIDTH, highlight=False)
    console.print(history_table(topology.stack, entries, since_s, now))


@click.command("status")
@click.option("--watch", "watch_", is_flag=True, help="Refresh the table until Ctrl-C (or --count refreshes).")
@click.option("--interval", default=None, metavar="S",
              help=f"Seconds between refreshes with --watch (default {DEFAULT_INTERVAL_S:g}).")
@click.option("--count", default=None, metavar="N", help="Stop --watch after N refreshes.")
@click.option("--history", "history", is_flag=True,
              help="What happened instead: route moves, replacements, rolls, alerts (newest first).")
@click.option("--since", default=None, metavar="AGE", help="With --history: how far back, e.g. 30m, 24h, 7d (default 24h).")
@common_options
def status_cmd(watch_, interval, count, history, since, config, via_lambda, stage, as_json):
    """Per zone: NAT, health, who serves it, mode (and replacement progress), egress IP, last change;
    per NAT: type, AMI, launch-template version, age (and why it is stale); per NAT its capacity (OK or
    DEGRADED, throughput, connections, conntrack and port use, headroom); a roll in progress."""
    if since is not None and not history:
        raise InputError(f"--since {since!r}: only applies with --history", title="invalid status options")
    if history:
        if watch_:
            raise InputError("--history: cannot be combined with --watch", title="invalid status options")
        show_history(config, since, as_json)
        return
    seconds, times = watch_options(watch_, interval, count, as_json)
    if as_json:
        emit_json(run_operation(config, {"action": "status"}, via_lambda=via_lambda, stage=stage))
        return
    # piped output is not cut to 80 columns: scripts and logs get whole ids
    console = out_console if out_console.is_terminal else Console(width=PIPED_WIDTH, highlight=False)
    note = f"every {seconds:g}s, Ctrl-C to stop" if watch_ else ""

    def render() -> Group:
        result, topology = fetch_status(config, via_lambda=via_lambda, stage=stage)
        now = time.time()
        views = zone_views(result.get("zones", []), topology, now)
        parts: list = [status_table(result.get("stack") or topology.stack, views, now, note)]
        nats = nat_views(result.get("zones", []), now)
        if nats:
            parts.append(nat_table(nats))
        capacity = capacity_views(result.get("zones", []))
        if capacity:
            parts.append(capacity_table(capacity))
        rolled = roll_text(result.get("roll"), now)
        if rolled:
            parts.append(rolled)
        return Group(*parts)

    if watch_:
        watch(render, console, interval=seconds, count=times)
    else:
        console.print(render())


def _operation(action: str, help_text: str, with_to: bool = False, with_wait: bool = False):
    @click.command(action, help=help_text)
    @click.option("--zone", required=True, help="The availability zone to act on.")
    @click.option("--reason", default=None, help="Why (recorded and sent with the alert).")
    @common_options
    def command(zone, reason, config, via_lambda, stage, as_json, to=None, wait=False, timeout=None, poll=None):
        operation.wait_options(wait, timeout, poll)        # bad --timeout/--poll: exit 2 before anything
        if wait:
            logview.mute_steps()
        payload = {"action": action, "zone": zone}
        if to is not None:
            payload["to_zone"] = to
        if reason is not None:
            payload["reason"] = reason
        result = run_operation(config, payload, via_lambda=via_lambda, stage=stage)
        if wait:
            show_result(action, zone, result, as_json=False)
            wait_for(config, action, payload, result, timeout, poll)
            if as_json:
                emit_json(result)
            return
        show_result(action, zone, result, as_json)
    if with_to:
        command = click.option("--to", "to", default=None, help="Zone whose NAT takes over (default: chosen).")(command)
    if with_wait:
        command = wait_flags(command)
    return command


def show_result(action: str, zone: str | None, result: dict, as_json: bool) -> None:
    """The operation's answer: one JSON object with --json, else one line for people."""
    if as_json:
        emit_json(result)
        return
    if action == "replace":
        rep = (result.get("replacement") or {}).get("replacement") or {}
        started = "started" if (result.get("replacement") or {}).get("started") else "in progress"
        out_console.print(f"replace {zone}: replacement {started}, now {rep.get('step', '?')}"
                          + (f" (new NAT {rep['new_instance_id']})" if rep.get("new_instance_id") else ""))
        return
    changed = result.get("changed") or []
    served = f", served by {result['served_by']}" if result.get("served_by") else ""
    out_console.print(f"{action} {zone}: {len(changed)} route table(s) changed{served}"
                      + (f" ({', '.join(changed)})" if changed else ""))


COMMANDS = (
    _operation("failover", "Move a zone's private routes to another zone's NAT (held until revert).", with_to=True),
    _operation("revert", "Give a zone its own NAT back (its instance must be running)."),
    _operation("replace", "Replace a zone's NAT instance (same Elastic IP; a healthy NAT drains first).",
               with_wait=True),
    _operation("pause", "Stop the controller from moving a zone automatically."),
    _operation("resume", "Let the controller manage a paused zone again."),
)


def register(cli: click.Group) -> None:
    """Add status and the manual operations."""
    cli.add_command(status_cmd)
    for command in COMMANDS:
        cli.add_command(command)
