"""``hanat deploy`` and ``hanat package``: write the Chalice stage for a stack, then run Chalice.

The stage defaults to the stack name, so two stacks in one account never share function names
(Chalice names functions ``hanat-<stage>-<handler>``).
"""
from __future__ import annotations

from pathlib import Path

import click

from bootstrap.deploy import chalice_cli
from bootstrap.deploy.alarms import check_watch, create_watch
from bootstrap.deploy.chalice_cli import ChaliceFailed, run_chalice
from bootstrap.deploy.concurrency import floor_refusal, unreserved_warning
from bootstrap.deploy.project import default_project_dir, load_stack, resolve_config_path
from bootstrap.deploy.roles import ensure_roles
from bootstrap.deploy.stage import check_stage_name, policies_for, write_stage
from chalicelib.aws import lambda_functions
from chalicelib.aws.clients import make_client
from chalicelib.errors import AwsError
from controller.views.output import emit_json, progress, warn


def _prepare(config: str | None, stage: str | None, project_dir: str | None):
    path = resolve_config_path(config)
    cfg, topology = load_stack(path)
    stage = stage or cfg.stack.name
    check_stage_name(stage)
    project = Path(project_dir) if project_dir else default_project_dir()
    written = write_stage(project, topology, stage, nat_ami=cfg.nat.ami)
    progress(f"wrote stage {stage!r} for stack {topology.stack!r}: " + ", ".join(p.name for p in written))
    return cfg, topology, stage, project


def _account_concurrency(region: str) -> tuple[int, int] | None:
    """Only for the warning's wording: None when it cannot be read."""
    try:
        return lambda_functions.account_concurrency(make_client("lambda", region))
    except AwsError:
        return None


def deploy_stage(cfg, topology, stage: str, project: Path) -> tuple[object, list[str]]:
    """The controller's region-named roles, then ``chalice deploy`` with reserved concurrency; when
    Lambda refuses it (the account's unreserved floor), the same deploy again without reservations, and a
    warning. Returns (process, warnings)."""
    region = cfg.stack.region
    documents = policies_for(topology, stage, nat_ami=cfg.nat.ami)
    role_arns = ensure_roles(make_client("iam", region), topology, stage, documents)
    progress("roles: " + ", ".join(arn.rsplit("/", 1)[-1] for arn in role_arns.values()))
    write_stage(project, topology, stage, nat_ami=cfg.nat.ami, role_arns=role_arns)
    try:
        return chalice_cli.run_chalice(["deploy", "--stage", stage], project, region=region), []
    except ChaliceFailed as err:
        floor = floor_refusal(str(err))
        if floor is None:
            raise
    note = unreserved_warning(region, len(topology.zones), floor, _account_concurrency(region))
    warn(note)
    write_stage(project, topology, stage, nat_ami=cfg.nat.ami, reserve=False, role_arns=role_arns)
    progress(f"chalice deploy --stage {stage} without reserved concurrency ...")
    return chalice_cli.run_chalice(["deploy", "--stage", stage], project, region=region), [note]


@click.command("deploy")
@click.option("--config", "config", envvar="HANAT_CONFIG", help="Stack config file (or HANAT_CONFIG).")
@click.option("--stage", default=None, help="Chalice stage (default: the stack name).")
@click.option("--project-dir", default=None, help="Chalice project directory (default: this repository).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def deploy_cmd(config, stage, project_dir, as_json):
    """Deploy the controller Lambdas for a stack built by `hanat up`, and its CloudWatch alarms and
    dashboard (the watcher's watchers)."""
    cfg, topology, stage, project = _prepare(config, stage, project_dir)
    cloudwatch = make_client("cloudwatch", cfg.stack.region)
    check_watch(topology, cloudwatch)       # before anything is deployed: refuses foreign alarms
    progress(f"chalice deploy --stage {stage} ...")
    proc, warnings = deploy_stage(cfg, topology, stage, project)
    watched = create_watch(topology, stage, cloudwatch, progress=progress)
    result = {"ok": True, "stack": topology.stack, "stage": stage, "zones": list(topology.azs),
              "reserved_concurrency": not warnings, "warnings": warnings,
              "output": proc.stdout.strip().splitlines(), "watch": watched.to_dict()}
    if as_json:
        emit_json(result)
    else:
        click.echo(proc.stdout.rstrip())


@click.command("package")
@click.option("--config", "config", envvar="HANAT_CONFIG", help="Stack config file (or HANAT_CONFIG).")
@click.option("--stage", default=None, help="Chalice stage (default: the stack name).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--project-dir", default=None, help="Chalice project directory (default: this repository).")
def package_cmd(config, stage, out_dir, project_dir):
    """Write a CloudFormation (SAM) template + zip for the stack instead of deploying."""
    cfg, _topology, stage, project = _prepare(config, stage, project_dir)
    out = Path(out_dir).resolve()
    run_chalice(["package", "--stage", stage, str(out)], project, region=cfg.stack.region)
    click.echo(f"packaged stage {stage} into {out}")


def register(cli: click.Group) -> None:
    """Add `deploy` and `package`."""
    cli.add_command(deploy_cmd)
    cli.add_command(package_cmd)
