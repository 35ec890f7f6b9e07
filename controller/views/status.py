"""What ``hanat status`` shows people: one table row per zone, and ``--watch`` to keep it fresh.

Pure view code: it turns the controller's status rows (``chalicelib.service.status.collect_status``,
each with its zone's replacement progress) and the stack's topology into a rich Table. The
clock and the sleep are passed in, so the table and the watch loop are tested without AWS or time.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from chalicelib.errors import InputError
from chalicelib.topology import Topology

COLUMNS = ("zone", "NAT", "health", "served by", "mode", "egress IP", "last change")
DEFAULT_INTERVAL_S = 5.0
MIN_INTERVAL_S = 1.0      # each refresh reads EC2, DynamoDB and SSM: no faster than this
MAX_INTERVAL_S = 3600.0
HEALTH_STYLES = {"UP": "green", "DOWN": "red"}
MODE_STYLES = {"normal": "", "paused": "yellow", "manual-failover": "yellow"}
REPLACING_STYLE = "cyan"
FAILED_STYLE = "red"


@dataclass(frozen=True)
class ZoneView:
    """One row of the table, every cell already a string."""

    zone: str
    nat: str
    health: str
    served_by: str
    mode: str
    egress_ip: str
    last_change: str
    health_style: str = ""
    mode_style: str = ""

    def cells(self) -> tuple[str, ...]:
        return (self.zone, self.nat, self.health, self.served_by, self.mode, self.egress_ip, self.last_change)


def age(seconds: float) -> str:
    """A short human age: 42s, 7m, 3h, 2d (negative ages, from clock skew, count as 0s)."""
    s = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def last_change_text(iso_time: str | None, reason: str | None, now: float) -> str:
    """``2024-05-26 10:00:00Z (7m ago) why`` or ``-`` when the zone never changed."""
    if not iso_time:
        return f"- {reason}" if reason else "-"
    at = datetime.fromisoformat(iso_time)
    when = f"{at.strftime('%Y-%m-%d %H:%M:%S')}Z ({age(now - at.timestamp())} ago)"
    return f"{when} {reason}" if reason else when


def egress_text(route_targets: Mapping[str, str | None] | None, eip_by_eni: Mapping[str, str]) -> str:
    """The public IP(s) the zone's private tables leave by: the EIP of the NAT each table points at."""
    if not route_targets:
        return "-"
    ips = []
    for eni in route_targets.values():
        ip = eip_by_eni.get(eni, f"? ({eni})") if eni else "no default route"
        if eni and eni.startswith("nat-"):   # an adopted table still on its NAT gateway
            ip = f"NAT gateway {eni}"
        if ip not in ips:
            ips.append(ip)
    return ", ".join(ips)


ADOPTION_LABELS = {"adopting": "adopting", "cut-over": "cut over", "released": "released"}


def mode_text(mode: str | None, replacement: Mapping | None, adoption: str | None = None) -> tuple[str, str]:
    """The mode cell and its style: a replacement in progress (or given up) shows its step; a zone of an
    adopted VPC shows where it is (adopting, cut over, released) before its mode."""
    base = mode or "-"
    if adoption in ADOPTION_LABELS:
        label = ADOPTION_LABELS[adoption]
        base = label if base == "normal" else f"{label}, {base}"
    if replacement and replacement.get("status") == "replacing":
        attempt = replacement.get("attempts") or 0
        text = f"replacing: {replacement.get('step')}" + (f" (attempt {attempt})" if attempt > 1 else "")
        return (text if base == "normal" else f"{base}, {text}"), REPLACING_STYLE
    if replacement and replacement.get("status") == "failed":
        return f"{base}, replace failed", FAILED_STYLE
    return base, MODE_STYLES.get(base, "")


def health_text(row: Mapping) -> str:
    health = row.get("nat_health") or "-"
    state = row.get("nat_instance_state")
    return health if state in (None, "running") else f"{health} ({state})"


def zone_views(rows: Sequence[Mapping], topology: Topology | None, now: float) -> list[ZoneView]:
    """Status rows (``collect_status``) -> table rows; ``now`` is a Unix time (for the ages)."""
    eip_by_eni = {z.nat_eni_id: " ".join(z.egress_ips) for z in topology.zones} if topology else {}
    views = []
    for row in rows:
        az = row.get("az") or "-"
        mode, mode_style = mode_text(row.get("mode"), row.get("replacement"), row.get("adoption"))
        views.append(ZoneView(
            zone=az, nat=row.get("nat_instance_id") or "-", health=health_text(row),
            served_by=row.get("served_by") or "-", mode=mode,
            egress_ip=egress_text(row.get("route_targets"), eip_by_eni),
            last_change=last_change_text(row.get("last_change"), row.get("last_reason"), now),
            health_style=HEALTH_STYLES.get(row.get("nat_health"), "yellow"), mode_style=mode_style))
    return views


def status_table(stack: str, views: Sequence[ZoneView], now: float, note: str = "") -> Table:
    """The rich table ``hanat status`` prints (and ``--watch`` refreshes)."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    table = Table(title=f"hanat status: stack {stack}", title_justify="left",
                  caption=f"as of {stamp}" + (f"; {note}" if note else ""), caption_justify="left")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for v in views:
        cells = list(v.cells())
        cells[2] = f"[{v.health_style}]{cells[2]}[/]" if v.health_style else cells[2]
        cells[4] = f"[{v.mode_style}]{cells[4]}[/]" if v.mode_style else cells[4]
        table.add_row(*cells)
    return table


def watch_options(watch: bool, interval: str | None, count: str | None, as_json: bool) -> tuple[float, int | None]:
    """Checks ``--watch/--interval/--count/--json`` together; InputError names every bad value."""
    problems = []
    seconds, times = DEFAULT_INTERVAL_S, None
    if interval is not None:
        try:
            seconds = float(interval)
            if not math.isfinite(seconds) or not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
                problems.append(f"--interval: {interval!r} must be between {MIN_INTERVAL_S:g} and "
                                f"{MAX_INTERVAL_S:g} seconds")
        except ValueError:
            problems.append(f"--interval: {interval!r} is not a number of seconds")
    if count is not None:
        try:
            times = int(count)
            if times < 1:
                problems.append(f"--count: {count!r} must be at least 1")
        except ValueError:
            problems.append(f"--count: {count!r} is not a whole number")
    if not watch:
        problems += [f"{flag}: only applies with --watch" for flag, value in
                     (("--interval", interval), ("--count", count)) if value is not None]
    elif as_json:
        problems.append("--json: cannot be combined with --watch (--json prints one object; run it in a loop)")
    if problems:
        raise InputError(problems, title="invalid status options")
    return seconds, times


def watch(render: Callable[[], RenderableType], console: Console, *, interval: float, count: int | None = None,
          sleep: Callable[[float], None] = time.sleep) -> int:
    """Render, wait ``interval`` s, render again ... ``count`` times (None: until Ctrl-C).

    On a terminal the table is redrawn in place (rich Live); piped, each refresh is printed after
    the previous one, so a log keeps the history. Ctrl-C ends the watch normally. Returns how many
    refreshes were shown.
    """
    shown = 0
    live = Live(console=console, auto_refresh=False, transient=False) if console.is_terminal else None
    try:
        if live is not None:
            live.start()
        while True:
            view = render()
            if live is not None:
                live.update(view, refresh=True)
            else:
                console.print(view)
            shown += 1
            if count is not None and shown >= count:
                return shown
            sleep(interval)
    except KeyboardInterrupt:
        return shown
    finally:
        if live is not None:
            live.stop()


# --- per NAT: what it runs, and why it is stale -----------------------------------------------
NAT_COLUMNS = ("zone", "NAT", "type", "market", "AMI", "launch template", "age", "stale because")


@dataclass(frozen=True)
class NatView:
    zone: str
    nat: str
    instance_type: str
    ami: str
    template: str
    age: str
    stale: str
    market: str = "-"

    def cells(self) -> tuple[str, ...]:
        return (self.zone, self.nat, self.instance_type, self.market, self.ami, self.template, self.age, self.stale)


def _current_or_old(value: str | None, current: str | None) -> str:
    if not value:
        return "-"
    if current and value != current:
        return f"{value} (old; now {current})"
    return f"{value} (current)" if current else value


def nat_views(rows: Sequence[Mapping], now: float) -> list[NatView]:
    """Status rows -> one row per NAT (rows without NAT details are left out)."""
    views = []
    for row in rows:
        nat = row.get("nat") or {}
        if not nat.get("instance_id"):
            continue
        version = nat.get("template_version")
        current = nat.get("current_template_version")
        template = (f"v{version}" if version else "none") + (
            "" if current is None else " (current)" if str(version) == str(current) else f" (old; now v{current})")
        views.append(NatView(
            zone=row.get("az") or "-", nat=nat["instance_id"],
            instance_type=_current_or_old(nat.get("instance_type"), nat.get("current_instance_type")),
            ami=_current_or_old(nat.get("image_id"), nat.get("current_image_id")), template=template,
            age=age(nat["age_s"]) if nat.get("age_s") is not None else "-",
            stale="; ".join(nat.get("stale") or []) or "-",
            market=_current_or_old(nat.get("market"), nat.get("current_market"))))
    return views


def nat_table(views: Sequence[NatView]) -> Table:
    table = Table(title="NATs", title_justify="left")
    for column in NAT_COLUMNS:
        table.add_column(column, overflow="fold")
    for v in views:
        cells = list(v.cells())
        cells = [escape(c) for c in cells]
        if v.stale != "-":
            cells[-1] = f"[yellow]{cells[-1]}[/]"
        table.add_row(*cells)
    return table


def roll_text(roll: Mapping | None, now: float) -> str | None:
    """One line about the stack's roll: in progress (where), stopped (where and why), or recently done."""
    if not roll:
        return None
    done = f"{len(roll.get('done') or [])}/{len(roll.get('zones') or [])} zones"
    if roll.get("status") == "rolling":
        where = f"at {roll['current']} ({roll.get('phase')})" if roll.get("current") else "between zones"
        return f"[cyan]roll {roll['roll_id']}[/] in progress: {done} done, {where}"
    if roll.get("status") == "stopped":
        return (f"[red]roll {roll['roll_id']} stopped[/] at {roll.get('stopped_zone')}: {roll.get('stopped_because')} "
                f"({done} done; `hanat roll` continues it)")
    finished = roll.get("finished_at") or 0
    if finished and now - finished < 86_400:
        return f"roll {roll['roll_id']} done {age(now - finished)} ago: {done}"
    return None


# --- status --history ------------------------------------------------------------------------
SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
HISTORY_STYLES = {"failover": "red", "revert": "green", "replace": "cyan", "roll": "cyan", "repair": "yellow",
                  "flapping": "yellow", "critical": "red"}


def parse_since(text: str, now: float) -> float:
    """``30m``, ``24h``, ``7d``, ``90s`` before ``now`` -> epoch seconds; InputError naming the value."""
    stripped = (text or "").strip().lower()
    unit = SINCE_UNITS.get(stripped[-1:]) if stripped else None
    try:
        amount = float(stripped[:-1]) if unit else float("nan")
    except ValueError:
        amount = float("nan")
    if unit is None or not math.isfinite(amount) or amount <= 0:
        raise InputError(f"--since {text!r} must be an age like 90s, 30m, 24h or 7d", title="invalid status options")
    return now - amount * unit


def history_table(stack: str, entries: Sequence[Mapping], since: float, now: float) -> Table:
    """The history, newest first: when, kind, zone, what happened."""
    stamp = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    table = Table(title=f"hanat history: stack {stack}", title_justify="left",
                  caption=f"{len(entries)} event(s) since {stamp}, newest first", caption_justify="left")
    for column in ("when", "kind", "zone", "what"):
        table.add_column(column, overflow="fold")
    for e in entries:
        at = float(e.get("at") or 0)
        when = f"{datetime.fromtimestamp(at, UTC).strftime('%Y-%m-%d %H:%M:%S')}Z ({age(now - at)} ago)"
        kind = str(e.get("kind", "?"))
        phase = e.get("phase")
        label = f"{kind} {phase}" if phase else kind
        style = HISTORY_STYLES.get(kind)
        table.add_row(when, f"[{style}]{escape(label)}[/]" if style else escape(label), escape(e.get("zone") or "-"),
                      escape(str(e.get("text", ""))))
    return table
