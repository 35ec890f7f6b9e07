"""Readable log lines for people at a terminal.

The controller logs structured events (Powertools JSON in Lambda: ``message`` plus keys such as
``zone``, ``nat``, ``route_table``, ``action``, ``why``). At a terminal the CLI renders each event as one
short line instead (``10:42:01 ap-northeast-1a  route rtb-0ab -> NAT i-0cd (failover)``):

- default: INFO and above, one line per step, the details that matter;
- ``--verbose``: DEBUG too, every key of the event, tracebacks;
- ``--log-json``: the JSON lines exactly as the Lambda functions write them.

``configure`` installs this for the running CLI; ``render_event`` and ``render_cloudwatch`` are also
what ``hanat logs`` uses for the events it reads from CloudWatch Logs.
"""
from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape

from chalicelib.observability import logger as controller_logger

HUMAN, VERBOSE, JSON = "human", "verbose", "json"
MODES = (HUMAN, VERBOSE, JSON)

# keys of a logging.LogRecord that are not the event's own
_RECORD_KEYS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
# Powertools' own keys in a JSON line, and ours that every line repeats
_META_KEYS = {"level", "location", "message", "timestamp", "service", "cold_start", "function_name",
              "function_memory_size", "function_arn", "function_request_id", "xray_trace_id", "sampling_rate",
              "handler", "exception", "exception_name", "stack_trace", "zone"}

REPLACEMENT_STEPS = {
    "launch": "launching a new NAT from the launch template",
    "adopt": "found the NAT a claimed launch made",
    "disable_source_dest_check": "source/destination check off",
    "await_failover": "moving the zone to a proven NAT first",
    "start_drain": "the old NAT drains its open connections",
    "move_eip": "Elastic IP moved to the new NAT",
    "repin_probe_route": "probes now go through the new NAT",
    "publish": "new NAT published; it must prove itself",
    "mark_proven": "new NAT proven by its probes",
    "retire_old": "old NAT terminated",
    "finish": "replacement done",
    "abandon": "new NAT given up on",
    "give_up": "replacement given up",
}
ROLL_STEPS = {
    "start_zone": "replacing its NAT",
    "return_zone": "given back to its new NAT",
    "zone_done": "done",
    "cancel_and_stop": "roll stopped before the zone moved",
    "stop": "roll stopped",
    "finish": "roll done",
}
# words only shown with --verbose (every run prints them; they are not steps)
QUIET = {"state changed under us; deciding again", "another run holds the sweeper lease",
         "manual operation"}   # the command prints the operation's result itself


def _clock(at: float | str | None) -> str:
    if isinstance(at, (int, float)):
        return datetime.fromtimestamp(float(at), UTC).strftime("%H:%M:%S")
    if isinstance(at, str) and len(at) >= 19:
        return at[11:19]          # Powertools: "2024-06-03 09:12:04,123+0000"
    return datetime.now(UTC).strftime("%H:%M:%S")


def _step(e: Mapping, words: Mapping[str, str], what: str) -> str:
    action = str(e.get("action", ""))
    return f"{what}: {words.get(action, action.replace('_', ' '))}"


TEMPLATES: dict[str, Callable[[Mapping], str]] = {
    "route moved": lambda e: (f"route {e.get('route_table', '?')} -> NAT {e.get('nat', '?')} "
                              f"({e.get('kind', 'move')}: {e.get('reason', '')})"),
    "manual operation": lambda e: f"{e.get('action', 'operation')} done",
    "replacement started": lambda e: f"replacing NAT {e.get('nat', '?')} ({e.get('reason', '')})",
    "replacement step": lambda e: _step(e, REPLACEMENT_STEPS, "replacement")
    + (f" ({e.get('why')})" if e.get("action") in ("abandon", "give_up") else ""),
    "draining the old NAT": lambda e: f"old NAT {e.get('nat', '?')} drains until {_clock(e.get('until'))}Z",
    "replacement launch failed": lambda e: f"launch failed: {e.get('error', '')}",
    "roll started": lambda e: f"roll {e.get('roll', '')} started: {', '.join(e.get('zones') or [])}",
    "roll step": lambda e: _step(e, ROLL_STEPS, "roll")
    + (f" ({e.get('why')})" if e.get("action") in ("stop", "cancel_and_stop") else ""),
    "roll stopped": lambda e: f"roll {e.get('roll', '')} stopped: {e.get('why', '')}",
    "NAT state change handled": lambda e: f"NAT {e.get('nat', '?')} is {e.get('state', '?')}: zone handled",
}
SHORT_KEYS = ("error", "holder", "why", "nat", "route_table", "action")
LEVEL_STYLES = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "red"}


def render_event(event: Mapping, *, verbose: bool = False, source: str = "") -> str | None:
    """One rich-markup line for a structured event (None: not shown in this mode)."""
    message = str(event.get("message", ""))
    level = str(event.get("level", "INFO")).upper()
    if not verbose and (level == "DEBUG" or message in QUIET):
        return None
    template = TEMPLATES.get(message)
    try:
        text = template(event) if template else message
    except (KeyError, TypeError, ValueError):
        text = message
    extras = {k: v for k, v in event.items() if k not in _META_KEYS}
    if verbose:
        text += "".join(f" {k}={v}" for k, v in extras.items())
    elif template is None:   # an event without a template: the keys that say what it is about
        text += "".join(f" {k}={v}" for k, v in extras.items() if k in SHORT_KEYS)
    parts = [f"[dim]{_clock(event.get('timestamp'))}[/dim]"]
    if source:
        parts.append(f"[magenta]{escape(source)}[/magenta]")
    zone = event.get("zone")
    if zone:
        parts.append(f"[cyan]{escape(str(zone))}[/cyan]")
    style = LEVEL_STYLES.get(level)
    body = escape(text)
    if style:
        body = f"[{style}]{level.lower()}:[/{style}] {body}"
    if event.get("exception") and (verbose or style):
        first = str(event["exception"]).strip().splitlines()
        body += escape(f" ({first[-1]})" if first and not verbose else "\n" + str(event["exception"]))
    return " ".join(parts + [body])


def render_cloudwatch(message: str, *, verbose: bool = False, source: str = "",
                      at: float | None = None) -> str | None:
    """A line of a Lambda function's CloudWatch log: our JSON events rendered, EMF metric blobs and
    Lambda's START/END/REPORT lines only with ``verbose``, anything else as it is."""
    text = message.rstrip("\n")
    try:
        event = json.loads(text)
    except ValueError:
        event = None
    if isinstance(event, dict) and "_aws" in event:        # EMF metrics
        if not verbose:
            return None
        names = [m["Name"] for d in event["_aws"].get("CloudWatchMetrics", []) for m in d.get("Metrics", [])]
        event = {"message": "metrics", "timestamp": at, **{n: event.get(n) for n in names}}
    if isinstance(event, dict) and "message" in event:
        return render_event(event, verbose=verbose, source=source)
    if not verbose and text.startswith(("START RequestId", "END RequestId", "REPORT RequestId", "INIT_START")):
        return None
    line = f"[dim]{_clock(at)}[/dim] " + (f"[magenta]{escape(source)}[/magenta] " if source else "")
    return line + escape(text)


class ConsoleLogHandler(logging.Handler):
    """Renders the controller's log records on a rich console (stderr), one short line each."""

    def __init__(self, console: Console, verbose: bool):
        super().__init__(logging.DEBUG if verbose else logging.INFO)
        self.console = console
        self.verbose = verbose

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event = {k: v for k, v in vars(record).items() if k not in _RECORD_KEYS}
            event.update(level=record.levelname, message=record.getMessage(), timestamp=record.created)
            if record.exc_info:
                event["exception"] = "".join(traceback.format_exception(*record.exc_info)).strip()
            line = render_event(event, verbose=self.verbose)
            if line is not None:
                self.console.print(line, soft_wrap=True, highlight=False)
        except Exception:   # noqa: BLE001 - a log line must never break the command
            self.handleError(record)


_installed: dict[str, logging.Handler] = {}


def configure(mode: str, console: Console) -> None:
    """Render the controller's logs for this CLI run: ``human`` (default), ``verbose`` or ``json``.

    The Powertools handler stays the logger's first handler (Powertools reads its formatter), silenced
    unless ``json``; our console handler is added after it. Safe to call again (tests run many commands
    in one process)."""
    base = logging.getLogger(controller_logger.name)
    powertools = controller_logger.registered_handler
    previous = _installed.pop("handler", None)
    if previous is not None:
        base.removeHandler(previous)
    if mode == JSON:
        powertools.setLevel(logging.NOTSET)
        base.setLevel(logging.INFO)
        return
    powertools.setLevel(logging.CRITICAL + 1)
    handler = ConsoleLogHandler(console, verbose=mode == VERBOSE)
    base.addHandler(handler)
    base.setLevel(logging.DEBUG if mode == VERBOSE else logging.INFO)
    _installed["handler"] = handler


def mute_steps() -> None:
    """Show only warnings and errors from here on (unless ``--verbose``): ``--wait`` prints every step
    of the operation from its records instead, in one shape and without gaps or doubles."""
    handler = _installed.get("handler")
    if isinstance(handler, ConsoleLogHandler) and not handler.verbose:
        handler.setLevel(logging.WARNING)
