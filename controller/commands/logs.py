"""``hanat logs [--function F] [--since 10m] [--follow]``: the controller's CloudWatch Logs, readable.

Reads the log groups ``/aws/lambda/hanat-<stage>-<function>`` (every controller function by default,
or the one named), merges their events by time and prints each as one short line (controller/views/logs.py):
``--verbose`` adds every key and Lambda's own lines, ``--log-json`` prints the raw lines. ``--follow``
keeps reading every few seconds until Ctrl-C (exit 0).
"""
from __future__ import annotations

import time
from collections.abc import Callable

import click
from rich.markup import escape

from bootstrap.deploy.project import load_stack, resolve_config_path
from bootstrap.deploy.stage import check_stage_name
from chalicelib.aws import logs as logs_api
from chalicelib.aws.clients import make_client
from chalicelib.errors import InputError
from chalicelib.naming import function_name, probe_handler_name
from controller.views import logs as logview
from controller.views.output import out_console
from controller.views.status import parse_since

CONTROLLER_HANDLERS = ("heartbeat", "on_instance_state", "on_spot_warning", "operate", "notify_slack")
FOLLOW_POLL_S = 2.0


def functions_for(topology, stage: str, wanted: str | None) -> dict[str, str]:
    """short name -> deployed function name: every controller function, or the one ``--function`` names
    (a handler like ``heartbeat``/``probe_<zone>``, or the full ``hanat-<stage>-...`` name)."""
    handlers = list(CONTROLLER_HANDLERS) + [probe_handler_name(az) for az in topology.azs]
    every = {h: function_name(stage, h) for h in handlers}
    if wanted is None:
        return every
    for short, full in every.items():
        if wanted in (short, full, short.replace("_", "-")):
            return {short: full}
    raise InputError(f"--function {wanted!r} is not a function of stack {topology.stack!r} (valid: "
                     f"{', '.join(handlers)})", title="invalid logs options")


def read_events(logs, groups: dict[str, str], start: float, seen: set[str]) -> list[tuple[str, logs_api.LogEvent]]:
    """New events of every group since ``start``, merged oldest first (``seen``: event ids printed)."""
    out = []
    for short, group in groups.items():
        for event in logs_api.events_since(logs, group, start):
            if event.event_id not in seen:
                seen.add(event.event_id)
                out.append((short, event))
    return sorted(out, key=lambda item: item[1].at)


def print_events(events, *, mode: str, show: Callable[[str], None]) -> int:
    shown = 0
    for short, event in events:
        if mode == logview.JSON:
            show(escape(event.message.rstrip("\n")))
            shown += 1
            continue
        line = logview.render_cloudwatch(event.message, verbose=mode == logview.VERBOSE, source=short, at=event.at)
        if line is not None:
            show(line)
            shown += 1
    return shown


@click.command("logs")
@click.option("--config", "config", envvar="HANAT_CONFIG", help="Stack config file (or HANAT_CONFIG).")
@click.option("--stage", default=None, help="Chalice stage of the controller (default: the stack name).")
@click.option("--function", "function", default=None, metavar="F",
              help="Only this function: heartbeat, on_instance_state, on_spot_warning, operate, notify_slack, "
                   "probe_<zone>.")
@click.option("--since", default="10m", show_default=True, metavar="AGE", help="How far back: 90s, 10m, 2h, 1d.")
@click.option("--follow", "follow_", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.pass_context
def logs_cmd(ctx, config, stage, function, since, follow_):
    """The controller's logs (CloudWatch Logs), one readable line per event."""
    root = ctx.find_root().params
    mode = logview.JSON if root.get("log_json") else logview.VERBOSE if root.get("verbose") else logview.HUMAN
    now = time.time()
    start = parse_since(since, now)
    cfg, topology = load_stack(resolve_config_path(config))
    stage = stage or cfg.stack.name
    check_stage_name(stage)
    groups = {short: logs_api.log_group(full) for short, full in functions_for(topology, stage, function).items()}
    client = make_client("logs", cfg.stack.region)

    def show(line: str) -> None:
        out_console.print(line, soft_wrap=True, highlight=False)

    seen: set[str] = set()
    shown = print_events(read_events(client, groups, start, seen), mode=mode, show=show)
    if not follow_:
        if shown == 0 and mode != logview.JSON:
            show(f"[dim]no log lines since {since} ago in {len(groups)} log group(s)[/dim]")
        return
    try:
        while True:
            time.sleep(FOLLOW_POLL_S)
            # overlap a little: CloudWatch can make an event visible after a later one
            print_events(read_events(client, groups, time.time() - max(60.0, FOLLOW_POLL_S * 5), seen),
                         mode=mode, show=show)
    except KeyboardInterrupt:
        return


def register(cli: click.Group) -> None:
    cli.add_command(logs_cmd)
