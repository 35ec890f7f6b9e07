"""``hanat status`` and the manual operations ``failover|revert|replace|pause|resume``.

By default they run the controller's own ``operate`` with the operator's credentials (same
validation, same version-checked route writes as the Lambda); ``--via-lambda`` invokes the
deployed ``hanat-<stage>-operate`` function instead. Bad input exits 2 with nothing changed.
"""
from __future__ import annotations

import getpass

import click
from rich.console import Console
from rich.table import Table

from chalicelib.aws.clients import make_client
from chalicelib.aws.lambda_invoke import invoke_json
from chalicelib.errors import InputError
from chalicelib.runtime import APP_NAME, deps_for_topology
from chalicelib.service.deps import Clients
from chalicelib.service.operations import operate
from controller.deploying.project import load_stack, resolve_config_path
from controller.output import emit_json, out_console, progress

PIPED_WIDTH = 160
STATUS_COLUMNS = ("az", "nat_instance_id", "nat_health", "served_by", "mode", "last_change", "last_reason")


def operator_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run_operation(config: str | None, payload: dict, *, via_lambda: bool, stage: str | None) -> dict:
    """Run one operation directly or through the deployed Lambda; bad input raises InputError."""
    cfg, topology = load_stack(resolve_config_path(config))
    region = cfg.stack.region
    if via_lambda:
        function = f"{APP_NAME}-{stage or cfg.stack.name}-operate"
        progress(f"invoking {function} ...")
        answer = invoke_json(make_client("lambda", region), function, payload)
        if isinstance(answer, dict) and answer.get("ok") is False:
            raise InputError(answer.get("problems") or [str(answer.get("error"))],
                             title=answer.get("error") or "invalid operation")
        return answer
    clients = Clients(ec2=make_client("ec2", region), dynamodb=make_client("dynamodb", region),
                      sns=make_client("sns", region) if topology.topic_arn else None,
                      ssm=make_client("ssm", region))
    deps = deps_for_topology(topology, clients, owner=f"cli:{operator_name()}", stage=None,
                             metric=lambda name, value, unit: None)
    return operate(deps, payload)


def status_table(rows: list[dict]) -> Table:
    table = Table(title="hanat status")
    for column in STATUS_COLUMNS:
        table.add_column(column)
    for row in rows:
        style = {"UP": "green", "DOWN": "red"}.get(row.get("nat_health"), "yellow")
        table.add_row(*[str(row.get(c) if row.get(c) is not None else "-") for c in STATUS_COLUMNS], style=style)
    return table


def _common(func):
    func = click.option("--config", "config", envvar="HANAT_CONFIG", help="Stack config file (or HANAT_CONFIG).")(func)
    func = click.option("--via-lambda", is_flag=True, help="Invoke the deployed operate function.")(func)
    func = click.option("--stage", default=None, help="Chalice stage for --via-lambda (default: stack name).")(func)
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(func)


@click.command("status")
@_common
def status_cmd(config, via_lambda, stage, as_json):
    """Per zone: NAT health, who serves it, mode, last change."""
    result = run_operation(config, {"action": "status"}, via_lambda=via_lambda, stage=stage)
    if as_json:
        emit_json(result)
    else:
        # piped output is not cut to 80 columns: scripts and logs get whole ids
        console = out_console if out_console.is_terminal else Console(width=PIPED_WIDTH, highlight=False)
        console.print(status_table(result.get("zones", [])))


def _operation(action: str, help_text: str, with_to: bool = False):
    @click.command(action, help=help_text)
    @click.option("--zone", required=True, help="The availability zone to act on.")
    @click.option("--reason", default=None, help="Why (recorded and sent with the alert).")
    @_common
    def command(zone, reason, config, via_lambda, stage, as_json, to=None):
        payload = {"action": action, "zone": zone}
        if to is not None:
            payload["to_zone"] = to
        if reason is not None:
            payload["reason"] = reason
        result = run_operation(config, payload, via_lambda=via_lambda, stage=stage)
        if as_json:
            emit_json(result)
        else:
            changed = result.get("changed") or []
            served = f", served by {result['served_by']}" if result.get("served_by") else ""
            out_console.print(f"{action} {zone}: {len(changed)} route table(s) changed{served}"
                              + (f" ({', '.join(changed)})" if changed else ""))
    if with_to:
        command = click.option("--to", "to", default=None, help="Zone whose NAT takes over (default: chosen).")(command)
    return command


COMMANDS = (
    _operation("failover", "Move a zone's private routes to another zone's NAT (held until revert).", with_to=True),
    _operation("revert", "Give a zone its own NAT back (its instance must be running)."),
    _operation("replace", "Replace a zone's NAT instance (self-healing)."),
    _operation("pause", "Stop the controller from moving a zone automatically."),
    _operation("resume", "Let the controller manage a paused zone again."),
)


def register(cli: click.Group) -> None:
    """Add status and the manual operations."""
    cli.add_command(status_cmd)
    for command in COMMANDS:
        cli.add_command(command)
