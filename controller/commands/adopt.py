"""``hanat adopt`` (write a config for an existing VPC), ``hanat cutover`` and ``hanat release``.

``adopt`` only reads: it writes the configuration for review (stdout, or ``--out FILE``). ``cutover``
points a zone's adopted route tables at its NAT (proven first, unless ``--force``); ``release`` gives
them back to where they pointed before (``--release-to nat-...`` when that NAT gateway is gone). Both
run the controller's own operation (``--via-lambda``: the deployed ``operate`` function).
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from bootstrap.adopt.discover import discover, probe_hints, render
from bootstrap.adopt.facts import read_vpc_facts
from bootstrap.config.toml_loader import parse_toml
from bootstrap.config.validate import build_config
from chalicelib.aws.clients import make_client
from chalicelib.errors import InputError

from ..views import logs as logview
from ..views.output import emit_json, out_console, progress
from .ops import common_options, run_operation, wait_flags, wait_for


@click.command("adopt")
@click.option("--vpc-id", required=True, help="The existing VPC (vpc-...).")
@click.option("--region", required=True, envvar="AWS_REGION", help="Its region (or AWS_REGION).")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="Write the config to FILE (default: stdout). An existing file is not overwritten.")
@click.option("--name", default=None, help="Stack name (default: from the VPC's Name tag).")
def adopt_cmd(vpc_id: str, region: str, out: str | None, name: str | None) -> None:
    """Write a hanat config that adopts an existing VPC, for review (reads only; changes nothing)."""
    if out and Path(out).exists():
        raise InputError(f"--out {out}: the file exists; hanat adopt does not overwrite it (remove it or pick "
                         "another name)")
    progress(f"reading {vpc_id} in {region} ...")
    facts = read_vpc_facts(make_client("ec2", region), vpc_id, region)
    found = discover(facts, name=name)
    command = f"hanat adopt --vpc-id {vpc_id} --region {region}"
    text = render(found, command=command, at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
                  probe_hint=probe_hints(facts, [z.az for z in found.zones]))
    build_config(parse_toml(text, source="hanat adopt"), source="hanat adopt")   # what it writes must load
    tables = sum(len(z.tables) for z in found.zones)
    summary = (f"{len(found.zones)} zone(s) ({', '.join(z.az for z in found.zones)}), {tables} private route "
               f"table(s) to take over, {len(found.left_out)} left out (listed at the end)")
    if out:
        Path(out).write_text(text)
        progress(f"wrote {out}: {summary}; review it, then `hanat plan --config {out}`")
    else:
        click.echo(text, nl=False)
        progress(summary)


def _zones_payload(action: str, zone: str | None, every: bool) -> dict:
    if bool(zone) == every:
        raise InputError("name one zone with --zone AZ, or every zone with --all (not both)" if zone
                         else "--zone AZ or --all is required", title=f"invalid {action}")
    return {"action": action, "all": True} if every else {"action": action, "zone": zone}


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    changed = result.get("changed") or []
    out_console.print(f"{result['action']} {', '.join(result.get('zones', []))}: {len(changed)} route table(s) "
                      f"changed{' (' + ', '.join(changed) + ')' if changed else ''}", soft_wrap=True)
    for table, target in (result.get("targets") or {}).items():
        out_console.print(f"  {table}: 0.0.0.0/0 -> {target or 'no default route'}", soft_wrap=True)
    for note in result.get("waiting") or []:
        out_console.print(f"  {note}", soft_wrap=True)


@click.command("cutover")
@click.option("--zone", default=None, help="The zone whose adopted route tables move to its NAT.")
@click.option("--all", "every", is_flag=True, help="Every zone.")
@click.option("--force", is_flag=True, help="Do not wait for the NAT to be proven (a stack with no controller yet).")
@click.option("--reason", default=None, help="Why (recorded and sent with the alert).")
@common_options
@wait_flags
def cutover_cmd(zone, every, force, reason, config, via_lambda, stage, as_json, wait, timeout, poll):
    """Point a zone's adopted route tables (0.0.0.0/0) at the zone's NAT instance. With --wait, a zone whose
    NAT is not proven yet is left to the controller, and the command follows until every zone is cut over."""
    payload = _zones_payload("cutover", zone, every)
    if force and wait:
        raise InputError("--wait: not with --force (a forced cutover happens at once; --wait follows the "
                         "controller's cutover of zones whose NAT is not proven yet)")
    if force:
        payload["force"] = True
    if wait:
        payload["wait"] = True
        logview.mute_steps()      # --wait prints every step from the records, in one shape
    if reason is not None:
        payload["reason"] = reason
    result = run_operation(config, payload, via_lambda=via_lambda, stage=stage)
    _print(result, as_json)
    if wait:
        wait_for(config, "cutover", payload, result, timeout, poll)


@click.command("release")
@click.option("--zone", default=None, help="The zone whose adopted route tables go back.")
@click.option("--all", "every", is_flag=True, help="Every zone.")
@click.option("--release-to", default=None, metavar="nat-...",
              help="An available NAT gateway of the VPC for tables whose original NAT gateway is gone.")
@click.option("--reason", default=None, help="Why (recorded and sent with the alert).")
@common_options
def release_cmd(zone, every, release_to, reason, config, via_lambda, stage, as_json):
    """Give a zone's adopted route tables back to their original targets; hanat stops managing them."""
    payload = _zones_payload("release", zone, every)
    if release_to is not None:
        payload["release_to"] = release_to
    if reason is not None:
        payload["reason"] = reason
    _print(run_operation(config, payload, via_lambda=via_lambda, stage=stage), as_json)


def register(cli: click.Group) -> None:
    """Add adopt, cutover and release."""
    for command in (adopt_cmd, cutover_cmd, release_cmd):
        cli.add_command(command)
