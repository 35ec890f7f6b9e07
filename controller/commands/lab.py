"""``hanat lab drill`` and ``hanat lab down``: rehearse NAT failures locally and clean up after.

``drill`` prints one JSON object per drill with ``--json`` (a list for ``--scenario all``), else a
summary table; it exits 1 when a drill did not pass, 2 on bad input (nothing started).
"""
from __future__ import annotations

import click

from chalicelib.errors import InputError
from controller.views.output import emit_json, err_console, out_console, progress, warn

# lab.scenarios.names() and "all", spelled out so `hanat` starts without importing the lab
# (tests/unit/test_lab_cli.py holds them equal)
SCENARIO_CHOICES = ("blackhole", "stop", "terminate", "flaky", "targets-down", "all-down", "revert",
                    "manual-failover", "lambda-errors", "api-throttle", "heartbeat-crash", "nat-boot-offline",
                    "cutover", "roll", "heartbeat-stopped", "all")
# lab.dataplane.DATAPLANE_KINDS, spelled out so `hanat` starts without importing the lab
DATAPLANE_CHOICES = ("netns", "computed")


def summary_table(reports):
    """A rich table of the drills' figures (what `make demo` shows)."""
    from rich.table import Table

    def num(v):
        return "-" if v is None else f"{v:.2f}"

    from lab.drills import figure_summary

    table = Table(title="hanat lab drills")
    for col in ("scenario", "data plane", "result", "detection s", "RTO s", "failovers", "reverts",
                "false", "alerts", "egress before -> after", "routes ok", "conns open/broken", "max stall s",
                "figures"):
        table.add_column(col)
    for r in reports:
        failed = [name for name, ok in r.checks.items() if not ok]
        result = "[green]passed[/green]" if r.passed else "[red]FAILED[/red] " + ", ".join(failed + ([r.error] if r.error else []))
        table.add_row(r.scenario, r.dataplane, result, num(r.detection_s), num(r.rto_s), str(r.failovers),
                      str(r.reverts), str(r.false_failovers), str(len(r.alerts)),
                      f"{r.egress_ip_before or '-'} -> {r.egress_ip_after or '-'}", "yes" if r.routes_ok else "no",
                      "-" if r.connections_open is None else f"{r.connections_open}/{r.connections_broken}",
                      num(r.max_stall_s), figure_summary(r))
    return table


def run_drill_command(scenario: str, config: str | None, zone: str | None, dataplane: str | None,
                      as_json: bool, plot: str | None, flaky_s: float, deploy: bool, verbose: bool,
                      lambda_faults_s: float = 30.0, boot_delay_s: float = 20.0, nat_reset: str = "on") -> int:
    from lab.drills import DrillOptions, expand_scenarios, run_scenarios
    from lab.labconfig import load_lab_settings

    problems = []
    if flaky_s <= 0:
        problems.append(f"--flaky-s must be > 0, got {flaky_s:g}")
    if lambda_faults_s <= 0:
        problems.append(f"--lambda-faults-s must be > 0, got {lambda_faults_s:g}")
    if boot_delay_s < 0:
        problems.append(f"--boot-delay-s must be >= 0, got {boot_delay_s:g}")
    if plot is not None and not plot.lower().endswith(".png"):
        problems.append(f"--plot {plot!r} must name a .png file")
    if problems:
        raise InputError(problems)
    scenarios = expand_scenarios(scenario)
    settings = load_lab_settings(config)
    for note in settings.notes:
        warn(note)
    options = DrillOptions(zone=zone, flaky_s=flaky_s, lambda_faults_s=lambda_faults_s, boot_delay_s=boot_delay_s,
                           nat_reset=nat_reset == "on")
    reports = run_scenarios(scenarios, settings, dataplane=dataplane, options=options,
                            progress=progress, deploy=deploy, verbose=verbose,
                            on_report=lambda r: progress(f"  {r.scenario}: {'passed' if r.passed else 'FAILED'}"))
    if plot:
        from lab.plot import plot_reports
        progress(f"plot written to {plot_reports(reports, plot)}")
    if as_json:
        dicts = [r.to_dict() for r in reports]
        emit_json(dicts if scenario == "all" else dicts[0])
    else:
        from rich.console import Console
        # a pipe gets rich's 80 columns by default: too narrow for the figures
        console = out_console if out_console.is_terminal else Console(highlight=False, width=160)
        console.print(summary_table(reports))
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
@click.pass_context
def drill_cmd(ctx, scenario, config, zone, dataplane, as_json, plot, flaky_s, lambda_faults_s, boot_delay_s,
              no_deploy, verbose, nat_reset):
    """Rehearse a NAT failure (or AWS failing the controller) end to end and report detection time, RTO,
    failovers, alerts and what the open connections saw (connections_open/broken, reset_after_s,
    max_stall_s)."""
    ctx.exit(run_drill_command(scenario, config, zone, dataplane, as_json, plot, flaky_s, not no_deploy, verbose,
                               lambda_faults_s=lambda_faults_s, boot_delay_s=boot_delay_s, nat_reset=nat_reset))


@lab_group.command("down")
@click.option("--older-than", "older_than_s", default=600.0, show_default=True, type=float,
              help="Also remove namespaces with no owner record once they are this many seconds old.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def down_cmd(older_than_s, as_json):
    """Remove what a killed lab run left behind (hanat-* namespaces and their processes).

    Only orphans go: namespaces of runs whose owning process is dead (each run records its pid in
    /run/hanat-lab), and unrecorded ones older than --older-than. A lab run still going is never touched.
    """
    from lab.dataplane import netns_available

    if older_than_s < 0:
        raise InputError(f"--older-than must be >= 0 seconds, got {older_than_s:g}")
    why = netns_available()
    if why is not None:
        removed: list[str] = []
        err_console.print(f"no namespaces to look at ({why})")
    else:
        from lab.netns import cleanup_orphans
        removed = cleanup_orphans(min_age_s=older_than_s)
    if as_json:
        emit_json({"removed": removed})
    else:
        out_console.print(f"removed {len(removed)} namespace(s)" + (": " + ", ".join(removed) if removed else ""))


def register(cli: click.Group) -> None:
    """Add the `lab` group."""
    cli.add_command(lab_group)
