"""The lab's commands, ``hanat lab drill`` and ``hanat lab down``: rehearse NAT failures locally and clean
up after. ``controller/cli.py`` registers this group; ``main`` runs it on its own (``python -m lab.demo``).

``drill`` prints one JSON object per drill with ``--json`` (a list for ``--scenario all``), else a
summary (lab.drills.summary); it exits 1 when a drill did not pass, 2 on bad input (nothing started).
Every AWS call of a drill (the CLI's as the operator, the functions' as their roles; also ``chalice
deploy``'s) is decided under IAM (lab.iam.hook ``checked``): a call IAM would deny, or that lab/iam does not
model, fails the drill's check ``iam_allows_every_call`` and is named in ``iam_findings``.
``HANAT_LAB_IAM_POLICY`` names extra policy files every caller is also under (an organization's Deny
statements, to rehearse under them).
"""
from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from chalicelib.errors import HanatError, InputError
from lab.dataplane.kinds import DATAPLANE_KINDS
from lab.drills.scenarios import names

SCENARIO_CHOICES = (*names(), "all")
DATAPLANE_CHOICES = DATAPLANE_KINDS

# results on stdout (one JSON document with --json), progress and warnings on stderr
err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


def emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def progress(message: str) -> None:
    err_console.print(escape(message))


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


def print_summary(reports) -> None:
    """The drills' summary (100 columns), results coloured."""
    from lab.drills.summary import summary_lines

    for line in summary_lines(reports):
        text = Text(line)
        text.highlight_words([" passed "], "green")
        text.highlight_words([" FAILED "], "red")
        out_console.print(text, soft_wrap=True)


def run_drill_command(scenario: str, config: str | None, zone: str | None, dataplane: str | None,
                      as_json: bool, plot: str | None, flaky_s: float, deploy: bool, verbose: bool,
                      lambda_faults_s: float = 30.0, boot_delay_s: float = 20.0, nat_reset: str = "on",
                      imds_tag_delay_s: float = 0.0) -> int:
    from lab.aws.deployer import LAB_STAGE
    from lab.config import load_lab_settings
    from lab.drills.runner import DrillOptions, expand_scenarios, run_scenarios
    from lab.iam.hook import checked as iam_checked

    problems = []
    if flaky_s <= 0:
        problems.append(f"--flaky-s must be > 0, got {flaky_s:g}")
    if lambda_faults_s <= 0:
        problems.append(f"--lambda-faults-s must be > 0, got {lambda_faults_s:g}")
    if boot_delay_s < 0:
        problems.append(f"--boot-delay-s must be >= 0, got {boot_delay_s:g}")
    if not 0 <= imds_tag_delay_s <= 60:
        problems.append(f"--imds-tag-delay-s must be in [0, 60], got {imds_tag_delay_s:g}")
    if plot is not None and not plot.lower().endswith(".png"):
        problems.append(f"--plot {plot!r} must name a .png file")
    if problems:
        raise InputError(problems)
    scenarios = expand_scenarios(scenario, dataplane)
    settings = load_lab_settings(config)
    for note in settings.notes:
        warn(note)
    options = DrillOptions(zone=zone, flaky_s=flaky_s, lambda_faults_s=lambda_faults_s, boot_delay_s=boot_delay_s,
                           nat_reset=nat_reset == "on", imds_tag_delay_s=imds_tag_delay_s)
    with iam_checked(LAB_STAGE) as policies:    # every AWS call of the drills decided under IAM (lab/iam)
        progress(policies)
        reports = run_scenarios(scenarios, settings, dataplane=dataplane, options=options,
                                progress=progress, deploy=deploy, verbose=verbose,
                                on_report=lambda r: progress(f"  {r.scenario}: {'passed' if r.passed else 'FAILED'}"))
    if plot:
        from lab.drills.plot import plot_reports
        progress(f"plot written to {plot_reports(reports, plot)}")
    if as_json:
        dicts = [r.to_dict() for r in reports]
        emit_json(dicts if scenario == "all" else dicts[0])
    else:
        print_summary(reports)
    return 0 if all(r.passed for r in reports) else 1


@click.group("lab")
def lab_group() -> None:
    """The local lab: AWS emulator + network namespaces; rehearse failures and measure recovery."""


@lab_group.command("drill")
@click.option("--scenario", required=True, type=click.Choice(SCENARIO_CHOICES), help="Which failure to rehearse.")
@click.option("--config", "config", default=None, help="Any hanat config (default: examples/lab.toml).")
@click.option("--zone", default=None, help="The zone to break (default: the first).")
@click.option("--dataplane", type=click.Choice(DATAPLANE_CHOICES), default=None,
              help="netns (root; default when possible) or computed (no root: reachability computed "
                   "from the route tables).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list for --scenario all).")
@click.option("--plot", default=None, help="Write a connectivity plot (PNG).")
@click.option("--flaky-s", default=60.0, show_default=True, type=float, help="How long the flaky drill lasts.")
@click.option("--lambda-faults-s", default=30.0, show_default=True, type=float,
              help="How long the lambda-errors drill's invoke faults last.")
@click.option("--boot-delay-s", default=20.0, show_default=True, type=float,
              help="nat-boot-offline: how long a new NAT takes to boot (a small instance's 20 s).")
@click.option("--no-deploy", is_flag=True, help="Skip `chalice deploy` against the emulator (faster).")
@click.option("-v", "--verbose", is_flag=True, help="Show the controller's logs on stderr.")
@click.option("--nat-reset", type=click.Choice(["on", "off"]), default="on", show_default=True,
              help="off: the NATs drop the packets of connections they do not know instead of resetting them "
                   "(how NAT instances behave without hanat's reset; netns data plane only), to compare.")
@click.option("--imds-tag-delay-s", default=0.0, show_default=True, type=float,
              help="Tag changes reach the NATs' instance metadata this many seconds late (AWS documents no "
                   "latency; netns data plane only).")
@click.pass_context
def drill_cmd(ctx, scenario, config, zone, dataplane, as_json, plot, flaky_s, lambda_faults_s, boot_delay_s,
              no_deploy, verbose, nat_reset, imds_tag_delay_s):
    """Rehearse a NAT failure (or AWS failing the controller) end to end and report detection time, RTO,
    failovers, alerts and what the open connections saw (connections_open/broken, reset_after_s,
    max_stall_s)."""
    ctx.exit(run_drill_command(scenario, config, zone, dataplane, as_json, plot, flaky_s, not no_deploy, verbose,
                               lambda_faults_s=lambda_faults_s, boot_delay_s=boot_delay_s, nat_reset=nat_reset,
                               imds_tag_delay_s=imds_tag_delay_s))


@lab_group.command("down")
@click.option("--older-than", "older_than_s", default=600.0, show_default=True, type=float,
              help="Also remove namespaces with no owner record once they are this many seconds old.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def down_cmd(older_than_s, as_json):
    """Remove what a killed lab run left behind (hanat-* namespaces and their processes, its functions'
    CPU groups).

    Only orphans go: namespaces of runs whose owning process is dead (each run records its pid in
    /run/hanat-lab), and unrecorded ones older than --older-than; CPU groups whose run's process is dead
    (lab.aws.cgroups). A lab run still going is never touched.
    """
    from lab.dataplane.kinds import netns_available

    if older_than_s < 0:
        raise InputError(f"--older-than must be >= 0 seconds, got {older_than_s:g}")
    why = netns_available()
    if why is not None:
        removed: list[str] = []
        err_console.print(f"no namespaces to look at ({why})")
    else:
        from lab.dataplane.netns.shell import cleanup_orphans
        removed = cleanup_orphans(min_age_s=older_than_s)
    from lab.aws.cgroups import remove_orphan_groups
    groups = remove_orphan_groups()
    if as_json:
        emit_json({"removed": removed, "removed_cpu_groups": groups})
    else:
        out_console.print(f"removed {len(removed)} namespace(s)" + (": " + ", ".join(removed) if removed else ""))
        if groups:
            out_console.print(f"removed {len(groups)} CPU group(s): {', '.join(groups)}")


def register(cli: click.Group) -> None:
    """Add the `lab` group (to `hanat`)."""
    cli.add_command(lab_group)


def main(argv: list[str]) -> None:
    """Run the `lab` group on its own, with `hanat`'s exit codes: 0 done, 1 a drill failed, 2 bad input,
    130 interrupted."""
    try:
        rc = lab_group.main(args=argv, prog_name="hanat lab", standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except HanatError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    sys.exit(rc if isinstance(rc, int) else 0)
