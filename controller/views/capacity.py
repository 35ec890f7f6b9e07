"""What ``hanat status`` shows of each NAT's capacity: a rich table, one row per NAT, from the status
rows' ``capacity`` (``chalicelib.service.status.capacity``: what the heartbeat last recorded of the NAT):
its gray state (OK | DEGRADED, and why under the table), throughput now, connections (conntrack entries/limit, % use), the
busiest destination's source-port use, and headroom under its type's baseline bandwidth. Fits 100 columns.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.markup import escape
from rich.table import Table

CAPACITY_COLUMNS = ("zone", "state", "Mbit/s", "connections", "busiest dest ports", "headroom")
NO_WRAP = ("zone", "connections", "busiest dest ports")
STATE_STYLES = {"OK": "green", "DEGRADED": "red"}
WARN_PERCENT = 70.0      # a use at or above this is shown yellow (the default failover.headroom_percent)


@dataclass(frozen=True)
class CapacityView:
    zone: str
    state: str
    throughput: str
    connections: str
    ports: str
    headroom: str
    why: str = ""           # a DEGRADED NAT's causes and what was seen (printed under the table)
    hot: tuple[bool, bool, bool] = (False, False, False)   # conntrack, ports, headroom past the warning

    def cells(self) -> tuple[str, ...]:
        return (self.zone, self.state, self.throughput, self.connections, self.ports, self.headroom)


def _count(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1_000_000:.1f}M" if n >= 1_000_000 else f"{n / 1000:.0f}k" if n >= 10_000 else str(n)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


def capacity_views(rows: Sequence[Mapping]) -> list[CapacityView]:
    """Status rows -> one row per NAT with a recorded reading (zones without one are left out)."""
    views = []
    for row in rows:
        c = row.get("capacity")
        if not c:
            continue
        state = c.get("state") or "OK"
        why = f"{', '.join(c.get('causes') or [])}: {c.get('reason') or ''}" if state != "OK" else ""
        mbps, use, ports, left = (c.get(k) for k in ("throughput_mbps", "conntrack_percent",
                                                     "busiest_port_percent", "headroom_percent"))
        dest = c.get("busiest_destination")
        views.append(CapacityView(
            zone=row.get("az") or "-", state=state, why=why,
            throughput="-" if mbps is None else f"{mbps:.1f}",
            connections=(f"{_count(c.get('conntrack_count'))}/{_count(c.get('conntrack_limit'))} {_percent(use)}"
                         if c.get("conntrack_count") is not None else "-"),
            ports=_percent(ports) + (f" {dest.split(' ', 1)[-1]}" if dest and ports is not None else ""),
            headroom="-" if left is None else f"{left:.0f} %",
            hot=(use is not None and use >= WARN_PERCENT, ports is not None and ports >= WARN_PERCENT,
                 left is not None and left <= 100.0 - WARN_PERCENT)))
    return views


def capacity_table(views: Sequence[CapacityView]) -> Table:
    """The table; a DEGRADED NAT's causes and the remedy's pointer go in its caption."""
    degraded = [f"{v.zone} DEGRADED ({v.why}): remedy in the alert and docs/runbook.md section 13"
                for v in views if v.why]
    table = Table(title="NAT capacity (last heartbeat reading; connections: conntrack entries/limit; headroom: of the "
                        "type's baseline bandwidth)",
                  title_justify="left", caption="\n".join(escape(d) for d in degraded) or None,
                  caption_justify="left")
    for column in CAPACITY_COLUMNS:
        table.add_column(column, overflow="fold", no_wrap=column in NO_WRAP,
                         justify="right" if column == "Mbit/s" else "left")
    for v in views:
        cells = [escape(c) for c in v.cells()]
        style = STATE_STYLES.get(v.state, "")
        if style:
            cells[1] = f"[{style}]{cells[1]}[/]"
        for index, hot in zip((3, 4, 5), v.hot, strict=True):
            if hot:
                cells[index] = f"[yellow]{cells[index]}[/]"
        table.add_row(*cells)
    return table
