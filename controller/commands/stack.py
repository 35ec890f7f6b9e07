"""``hanat plan | up | down --config FILE [--json]``: reconcile the stack with the config.

The config is loaded and validated before any AWS call (bad config: exit 2, nothing touched).
Progress goes to stderr; stdout carries the result (one JSON object with --json).
``down`` removes a deployed controller first (``chalice delete`` of the stage in the project
directory it was deployed from), and refuses (exit 2, nothing touched) when it cannot.
"""
from __future__ import annotations

import time
from pathlib import Path

import click
from rich.table import Table

from bootstrap.config import HanatConfig, load_config
from bootstrap.config.capacity import capacity_notes
from bootstrap.deploy.chalice_cli import run_chalice
from bootstrap.deploy.project import default_project_dir
from bootstrap.deploy.stage import check_stage_name, deployment_record_path, recorded_function_arns
from bootstrap.stack import DownResult, PlanResult, UpResult, build_stack, destroy_stack, plan_stack
from bootstrap.stack.api import (
    LAMBDA_ENI_WAIT_S,
    await_controller_gone,
    check_controller,
    check_release,
    release_adopted,
    remove_controller_roles,
)
from chalicelib.aws.clients import make_client
from chalicelib.errors import HanatError
from chalicelib.service.outdated import check_nat_builds

from ..views.output import emit_json, err_console, out_console, progress, warn

config_option = click.option(
    "--config", "config_path", envvar="HANAT_CONFIG", required=True,
    type=click.Path(dir_okay=False), help="hanat.toml or DupsWorks settings.cfg (or HANAT_CONFIG).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")


def _load(path: str) -> HanatConfig:
    config = load_config(path)
    for note in config.warnings:
        warn(note)
    return config


def _print_plan(result: PlanResult) -> None:
    if not result.steps:
        out_console.print(f"stack [bold]{result.stack}[/bold]: up to date, no changes")
        return
    table = Table(title=f"stack {result.stack}: {len(result.steps)} change(s)", title_justify="left")
    for column in ("#", "action", "change"):
        table.add_column(column, overflow="fold")
    for number, s in enumerate(result.steps, 1):
        colour = "green" if s.action == "create" else "yellow"
        change = s.describe().split(" ", 1)[1]
        table.add_row(str(number), f"[{colour}]{s.action}[/{colour}]", change)
    err_console.print(table)
    out_console.print(f"{len(result.steps)} change(s) planned for stack {result.stack}; run `hanat up` to apply")


def _print_up(result: UpResult) -> None:
    t = result.topology
    lines = [
        f"stack [bold]{t.stack}[/bold] in {t.region}: {result.changes} change(s)",
        f"  VPC {t.vpc_id} ({t.vpc_cidr}), state table {t.table_name}, topology {t.topology_parameter}",
        f"  alerts topic {t.topic_arn}",
    ]
    for z in t.zones:
        lines += [
            f"  [bold]{z.az}[/bold]: NAT {z.nat_instance_id} (ENI {z.nat_eni_id}, egress IP {z.nat_eip})",
            f"    subnets: public {z.public_subnet_id}, private {z.private_subnet_id}, probe {z.probe_subnet_id}",
            f"    route tables: private {','.join(z.private_route_table_ids)}, probe {z.probe_route_table_id} (pinned)",
        ]
        if z.is_adopted:   # an adopted VPC: where each table's default route was (it moves at cutover)
            lines.append("    adopted: " + ", ".join(f"{a.route_table_id} (was {a.original_target or 'no default route'})"
                                                   for a in z.adopted))
    for line in lines:
        out_console.print(line, soft_wrap=True)


def _stale_nats(result: UpResult) -> dict[str, list[str]]:
    """az -> why its NAT is stale, for the NATs that are (drift is reported, never fatal)."""
    topology = result.topology
    try:
        drift = check_nat_builds(make_client("ec2", topology.region), make_client("ssm", topology.region), topology,
                          time.time())
    except HanatError as err:
        warn(f"could not check the NATs for drift: {err}")
        return {}
    return {az: list(d.outdated) for az, d in drift.items() if d.outdated}


def _print_down(result: DownResult) -> None:
    if result.released:
        out_console.print(f"gave back {len(result.released)} adopted route table(s): {', '.join(result.released)}",
                          soft_wrap=True)
    if result.controller_deleted:
        out_console.print(f"controller: deleted {len(result.controller_deleted)} Lambda function(s) "
                          f"({', '.join(result.controller_deleted)}) with their roles and rules", soft_wrap=True)
    out_console.print(f"stack [bold]{result.stack}[/bold]: deleted {len(result.deleted)} resource(s)")


def _down(config: HanatConfig, stage: str | None, project_dir: str | None,
          eni_wait_s: float = LAMBDA_ENI_WAIT_S, release_to: str = "") -> DownResult:
    """Check the controller and the release of an adopted VPC's routes (reads only); release those
    routes first (the controller, still running, sees the zones released); remove the controller
    with chalice delete, confirm, then the stack."""
    stage = stage or config.stack.name
    check_stage_name(stage)
    project = Path(project_dir) if project_dir else default_project_dir()
    record = deployment_record_path(project, stage)
    removal = check_controller(config, stage, recorded_function_arns(project, stage), str(record))
    released = []
    if check_release(config, release_to=release_to):
        released = release_adopted(config, progress=progress, release_to=release_to)
    if removal.needed:
        progress(f"controller of stack {config.stack.name!r}: {len(removal.functions)} function(s); "
                 f"chalice delete --stage {stage} (project {project}) ...")
        proc = run_chalice(["delete", "--stage", stage], project, region=config.stack.region)
        for line in proc.stdout.splitlines():
            if line.strip():
                progress(f"  {line.strip()}")
        await_controller_gone(config)
    result = destroy_stack(config, progress=progress, eni_wait_s=eni_wait_s, release_to=release_to)
    result.deleted += [f"iam-role {name}" for name in remove_controller_roles(config, stage, progress=progress)]
    result.controller_deleted = list(removal.functions)
    result.released = sorted(set(released) | set(result.released))
    return result


def register(cli: click.Group) -> None:
    """Add plan, up and down to the CLI."""

    @cli.command("plan")
    @config_option
    @json_option
    def plan_command(config_path: str, as_json: bool) -> None:
        """Show what `up` would create or change (changes nothing)."""
        config = _load(config_path)
        result = plan_stack(config)
        capacity = capacity_notes(config)
        for note in capacity:
            warn(note)
        emit_json({**result.to_dict(), "capacity_warnings": capacity}) if as_json else _print_plan(result)

    @cli.command("up")
    @config_option
    @json_option
    def up_command(config_path: str, as_json: bool) -> None:
        """Build the stack, or bring it in line with the config (a re-run changes nothing). Running NATs
        are left alone: the ones now stale (old launch template version, AMI, type, or too old) are named."""
        config = _load(config_path)
        result = build_stack(config, progress=progress)
        for note in result.warnings:
            warn(note)
        stale = _stale_nats(result)
        if as_json:
            emit_json({**result.to_dict(), "stale_nats": stale})
            return
        _print_up(result)
        for az, reasons in stale.items():
            warn(f"NAT {result.topology.zone(az).nat_instance_id} of {az} is stale: {'; '.join(reasons)}")
        if stale:
            out_console.print(f"{len(stale)} stale NAT(s): `hanat roll` replaces them one zone at a time"
                              + (f" (or the controller does, inside maintenance.window "
                                 f"{config.maintenance.window!r})" if config.maintenance.window else ""))

    @cli.command("down")
    @config_option
    @json_option
    @click.option("--stage", default=None, help="Chalice stage of the deployed controller (default: the stack name).")
    @click.option("--project-dir", default=None, type=click.Path(exists=True, file_okay=False),
                  help="Chalice project directory `hanat deploy` ran in (default: this repository).")
    @click.option("--yes", is_flag=True, help="Accepted for scripts; down never prompts.")
    @click.option("--eni-wait-minutes", type=click.FloatRange(min=0), default=LAMBDA_ENI_WAIT_S / 60,
                  show_default=True, help="How long to wait for Lambda to release the deleted controller's "
                  "network interfaces (they block the subnets); a re-run resumes.")
    @click.option("--release-to", default="", metavar="nat-...",
                  help="Adopted VPC: an available NAT gateway for route tables whose original one is gone.")
    def down_command(config_path: str, as_json: bool, stage: str | None, project_dir: str | None,
                     yes: bool, eni_wait_minutes: float, release_to: str) -> None:
        """Give an adopted VPC's routes back, delete the deployed controller, then every resource tagged
        with the stack (nothing else; an adopted route table only loses hanat's two tags). Interrupted
        (Ctrl-C) or past the wait: re-run, it resumes where it stopped."""
        config = _load(config_path)
        result = _down(config, stage, project_dir, eni_wait_minutes * 60, release_to)
        emit_json(result.to_dict()) if as_json else _print_down(result)
