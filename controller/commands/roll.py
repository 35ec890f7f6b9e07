"""``hanat roll [--zone Z] [--wait]``: replace every NAT (or one zone's) from the launch template's
current default version, one zone at a time, without an outage (the operate action ``roll``).

Refused (exit 1, nothing changed) while a NAT is not UP, a zone is not served by its own NAT, a rolled
zone is paused or a replacement runs. The command starts the roll and carries it as far as it goes; the
heartbeat carries it on. ``--wait`` follows it zone by zone and step by step on stderr until it ends
(exit 1 when it stops: it says where; ``hanat roll`` again continues from there).
"""
from __future__ import annotations

import click

from controller.commands.ops import common_options, run_operation, wait_flags, wait_for
from controller.views import logs as logview
from controller.views import operation
from controller.views.output import emit_json, out_console


def describe(result: dict) -> str:
    roll = result.get("roll") or {}
    zones = ", ".join(roll.get("zones") or [])
    verb = "started" if result.get("started") else "in progress"
    where = f"now at {roll['current']} ({roll.get('phase')})" if roll.get("current") else ""
    if roll.get("status") == "stopped":
        where = f"stopped at {roll.get('stopped_zone')}: {roll.get('stopped_because')}"
    waiting = f"; waiting: {result['waiting_for']}" if result.get("waiting_for") and roll.get("status") == "rolling" else ""
    return f"roll {roll.get('roll_id', '?')} of {zones} {verb}, {where or roll.get('status', '')}{waiting}"


@click.command("roll")
@click.option("--zone", default=None, help="Roll only this zone's NAT (default: every zone, in order).")
@click.option("--reason", default=None, help="Why (recorded and sent with the alerts).")
@wait_flags
@common_options
def roll_cmd(zone, reason, wait, timeout, poll, config, via_lambda, stage, as_json):
    """Replace the NATs one zone at a time from the launch template's current version (new AMI, type),
    each zone failed over to a proven NAT, drained, and given back to its new NAT with its Elastic IP."""
    operation.wait_options(wait, timeout, poll)
    if wait:
        logview.mute_steps()      # --wait prints every step from the records, in one shape
    payload = {"action": "roll"}
    if zone is not None:
        payload["zone"] = zone
    if reason is not None:
        payload["reason"] = reason
    result = run_operation(config, payload, via_lambda=via_lambda, stage=stage)
    if not (as_json and not wait):
        out_console.print(describe(result), soft_wrap=True, highlight=False)
    if wait:
        wait_for(config, "roll", payload, result, timeout, poll)
    if as_json:
        emit_json(result)


def register(cli: click.Group) -> None:
    cli.add_command(roll_cmd)
