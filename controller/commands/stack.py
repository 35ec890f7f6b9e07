"""``hanat plan | up | down --config FILE [--json]``: reconcile the stack with the config.

The config is loaded and validated before any AWS call (bad config: exit 2, nothing touched).
Progress goes to stderr; stdout carries the result (one JSON object with --json).
``down`` removes a deployed controller first (``chalice delete`` of the stage in the project
directory it was deployed from), and refuses (exit 2, nothing touched) when it cannot.
"""
from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from bootstrap.config import HanatConfig, load_config
from bootstrap.stack import DownResult, PlanResult, UpResult, build_stack, destroy_stack, plan_stack
from bootstrap.stack.api import await_controller_gone, check_controller, check_release, release_adopted

from ..deploying.chalice_cli import run_chalice
from ..deploying.project import default_project_dir
from ..deploying.stage import check_stage_name, deployment_record_path, recorded_function_arns
from ..output import emit_json, err_console, out_console, progress, warn

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


def _print_down(result: DownResult) -> None:
    if result.given_back:
        out_console.print(f"gave back {len(result.given_back)} adopted route table(s): {', '.join(result.given_back)}",
                          soft_wrap=True)
    if result.controller_deleted:
        out_console.print(f"controller: deleted {len(result.controller_deleted)} Lambda function(s) "
                          f"({', '.join(result.controller_deleted)}) with their roles and rules", soft_wrap=True)
    out_console.print(f"stack [bold]{result.stack}[/bold]: deleted {len(result.deleted)} resource(s)")


def _down(config: HanatConfig, stage: str | None, project_dir: str | None, release_to: str = "") -> DownResult:
    """Check the controller and the give-back of an adopted VPC's routes (reads only); give those
    routes back first (the controller, still running, sees the zones released); remove the controller
    with chalice delete, confirm, then the stack."""
    stage = stage or config.stack.name
    check_stage_name(stage)
    project = Path(project_dir) if project_dir else default_project_dir()
    record = deployment_record_path(project, stage)
    removal = check_controller(config, stage, recorded_function_arns(project, stage), str(record))
    given_back = []
    if check_release(config, release_to=release_to):
        given_back = release_adopted(config, progress=progress, release_to=release_to)
    if removal.needed:
        progress(f"controller of stack {config.stack.name!r}: {len(removal.functions)} function(s); "
                 f"chalice delete --stage {stage} (project {project}) ...")
        proc = run_chalice(["delete", "--stage", stage], project, region=config.stack.region)
        for line in proc.stdout.splitlines():
            if line.strip():
                progress(f"  {line.strip()}")
        await_controller_gone(config, progress=progress)
    result = destroy_stack(config, progress=progress, release_to=release_to)
    result.controller_deleted = list(removal.functions)
    result.given_back = sorted(set(given_back) | set(result.given_back))
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
        emit_json(result.to_dict()) if as_json else _print_plan(result)

    @cli.command("up")
    @config_option
    @json_option
    def up_command(config_path: str, as_json: bool) -> None:
        """Build the stack, or bring it in line with the config (a re-run changes nothing)."""
        config = _load(config_path)
        result = build_stack(config, progress=progress)
        emit_json(result.to_dict()) if as_json else _print_up(result)

    @cli.command("down")
    @config_option
    @json_option
    @click.option("--stage", default=None, help="Chalice stage of the deployed controller (default: the stack name).")
    @click.option("--project-dir", default=None, type=click.Path(exists=True, file_okay=False),
                  help="Chalice project directory `hanat deploy` ran in (default: this repository).")
    @click.option("--yes", is_flag=True, help="Accepted for scripts; down never prompts.")
    @click.option("--release-to", default="", metavar="nat-...",
                  help="Adopted VPC: an available NAT gateway for route tables whose original one is gone.")
    def down_command(config_path: str, as_json: bool, stage: str | None, project_dir: str | None,
                     yes: bool, release_to: str) -> None:
        """Give an adopted VPC's routes back, delete the deployed controller, then every resource tagged
        with the stack (nothing else; an adopted route table only loses hanat's two tags)."""
        config = _load(config_path)
        result = _down(config, stage, project_dir, release_to)
        emit_json(result.to_dict()) if as_json else _print_down(result)
