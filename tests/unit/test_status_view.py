"""The `hanat status` view: cells, options, and the --watch loop (no AWS, no real clock)."""
from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from chalicelib.errors import InputError
from chalicelib.topology import Topology, ZoneTopology
from controller.views import status as sv

NOW = datetime(2024, 5, 26, 12, 0, 0, tzinfo=UTC).timestamp()
A, C = "ap-northeast-1a", "ap-northeast-1c"


def zone(az: str, n: int) -> ZoneTopology:
    return ZoneTopology(az=az, public_subnet_id=f"subnet-pub{n}", private_subnet_id=f"subnet-priv{n}",
                        probe_subnet_id=f"subnet-probe{n}", nat_instance_id=f"i-{n}", nat_eni_id=f"eni-{n}",
                        nat_eip=f"203.0.113.{n}", nat_eip_allocation_id=f"eipalloc-{n}",
                        private_route_table_ids=(f"rtb-{n}",), probe_route_table_id=f"rtb-probe{n}")


TOPO = Topology(stack="demo", region="ap-northeast-1", vpc_id="vpc-1", vpc_cidr="10.0.0.0/16",
                table_name="hanat-demo-state", topic_arn="", topology_parameter="/hanat/demo/topology",
                zones=(zone(A, 1), zone(C, 2)))


def row(az: str, **kw) -> dict:
    n = 1 if az == A else 2
    base = {"az": az, "nat_instance_id": f"i-{n}", "nat_instance_state": "running", "nat_health": "UP",
            "served_by": az, "mode": "normal", "last_change": None, "last_reason": "",
            "route_targets": {f"rtb-{n}": f"eni-{n}"}}
    return base | kw


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"),
                                           (86400 * 2 + 5, "2d"), (-3, "0s")])
def test_age(seconds, text):
    assert sv.age(seconds) == text


@pytest.mark.parametrize("iso, reason, text", [
    (None, "", "-"),
    (None, "paused", "- paused"),
    ("2024-05-26T11:53:00Z", "", "2024-05-26 11:53:00Z (7m ago)"),
    ("2024-05-26T09:00:00Z", "2 failed probes", "2024-05-26 09:00:00Z (3h ago) 2 failed probes"),
])
def test_last_change_text(iso, reason, text):
    assert sv.last_change_text(iso, reason, NOW) == text


EIPS = {"eni-1": "203.0.113.1", "eni-2": "203.0.113.2"}


@pytest.mark.parametrize("targets, text", [
    ({"rtb-1": "eni-1"}, "203.0.113.1"),
    ({"rtb-1": "eni-2", "rtb-3": "eni-2"}, "203.0.113.2"),          # several tables, one NAT
    ({"rtb-1": "eni-1", "rtb-3": "eni-2"}, "203.0.113.1, 203.0.113.2"),
    ({"rtb-1": None}, "no default route"),
    ({"rtb-1": "eni-9"}, "? (eni-9)"),                              # points at no NAT of the stack
    ({}, "-"),
    (None, "-"),
])
def test_egress_text(targets, text):
    assert sv.egress_text(targets, EIPS) == text


@pytest.mark.parametrize("mode, replacement, text, style", [
    ("normal", None, "normal", ""),
    ("paused", None, "paused", "yellow"),
    ("normal", {"status": "replacing", "step": "proving", "attempts": 1}, "replacing: proving", "cyan"),
    ("normal", {"status": "replacing", "step": "starting", "attempts": 3}, "replacing: starting (attempt 3)", "cyan"),
    ("manual-failover", {"status": "replacing", "step": "await_routes", "attempts": 1},
     "manual-failover, replacing: await_routes", "cyan"),
    ("normal", {"status": "failed", "step": "failed", "attempts": 5}, "normal, replace failed", "red"),
    ("normal", {"status": "done", "step": "done", "attempts": 1}, "normal", ""),   # finished: nothing to show
    (None, None, "-", ""),
])
def test_mode_text(mode, replacement, text, style):
    assert sv.mode_text(mode, replacement) == (text, style)


def test_zone_views_fill_every_column():
    rows = [row(A, nat_health="DOWN", nat_instance_state="stopped", served_by=C, mode="normal",
                last_change="2024-05-26T11:58:00Z", last_reason="instance stopped",
                route_targets={"rtb-1": "eni-2"},
                replacement={"status": "replacing", "step": "proving", "attempts": 1}),
            row(C, replacement=None)]
    views = sv.zone_views(rows, TOPO, NOW)
    assert [v.cells() for v in views] == [
        (A, "i-1", "DOWN (stopped)", C, "replacing: proving", "203.0.113.2",
         "2024-05-26 11:58:00Z (2m ago) instance stopped"),
        (C, "i-2", "UP", C, "normal", "203.0.113.2", "-"),
    ]
    assert [v.health_style for v in views] == ["red", "green"]


def test_zone_views_show_every_elastic_ip_of_a_nat_with_several():
    import dataclasses

    from chalicelib.topology import ExtraAddress
    zones = (dataclasses.replace(TOPO.zones[0], extra_addresses=(ExtraAddress("eipalloc-x", "203.0.113.9"),)),
             *TOPO.zones[1:])
    (view,) = sv.zone_views([row(A, route_targets={"rtb-1": TOPO.zones[0].nat_eni_id})],
                            dataclasses.replace(TOPO, zones=zones), NOW)
    assert view.egress_ip == f"{TOPO.zones[0].nat_eip} 203.0.113.9"


def test_zone_views_without_topology_still_render():
    (view,) = sv.zone_views([row(A, nat_health="UNKNOWN")], None, NOW)
    assert view.egress_ip == "? (eni-1)" and view.health_style == "yellow"


def render(renderable, width: int = 200) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_status_table_has_the_columns_rows_and_time():
    views = sv.zone_views([row(A), row(C)], TOPO, NOW)
    text = render(sv.status_table("demo", views, NOW, note="every 5s"))
    header = next(line for line in text.splitlines() if "zone" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == list(sv.COLUMNS)
    assert "hanat status: stack demo" in text and "as of 2024-05-26 12:00:00Z; every 5s" in text
    for cell in ("i-1", "i-2", "203.0.113.1", "203.0.113.2", A, C):
        assert cell in text


@pytest.mark.parametrize("args, expected", [
    ((False, None, None, False), (5.0, None)),
    ((False, None, None, True), (5.0, None)),
    ((True, None, None, False), (5.0, None)),
    ((True, "2", "3", False), (2.0, 3)),
    ((True, "1.5", None, False), (1.5, None)),
])
def test_watch_options_accepted(args, expected):
    assert sv.watch_options(*args) == expected


@pytest.mark.parametrize("args, needles", [
    ((True, "0", None, False), ["--interval: '0'"]),
    ((True, "soon", "x", False), ["--interval: 'soon'", "--count: 'x'"]),
    ((True, "nan", "0", False), ["--interval: 'nan'", "--count: '0'"]),
    ((True, "99999", "-1", True), ["--interval: '99999'", "--count: '-1'", "--json"]),
    ((False, "2", "3", False), ["--interval: only applies with --watch", "--count: only applies with --watch"]),
])
def test_watch_options_name_every_bad_value(args, needles):
    with pytest.raises(InputError) as err:
        sv.watch_options(*args)
    assert len(err.value.problems) == len(needles)
    for needle in needles:
        assert any(needle in p for p in err.value.problems), (needle, err.value.problems)


class Frames:
    """A render function counting its calls; a sleep recording its waits (and maybe raising Ctrl-C)."""

    def __init__(self, interrupt_after: int | None = None):
        self.renders = 0
        self.sleeps: list[float] = []
        self.interrupt_after = interrupt_after

    def render(self) -> str:
        self.renders += 1
        return f"frame {self.renders}"

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.interrupt_after is not None and len(self.sleeps) >= self.interrupt_after:
            raise KeyboardInterrupt


def test_watch_piped_prints_each_refresh_count_times():
    frames = Frames()
    console = Console(file=io.StringIO(), width=80, color_system=None)
    assert sv.watch(frames.render, console, interval=2.0, count=3, sleep=frames.sleep) == 3
    assert console.file.getvalue().split() == ["frame", "1", "frame", "2", "frame", "3"]
    assert frames.sleeps == [2.0, 2.0]                  # no wait after the last refresh


def test_watch_ctrl_c_ends_quietly():
    frames = Frames(interrupt_after=2)
    console = Console(file=io.StringIO(), width=80, color_system=None)
    assert sv.watch(frames.render, console, interval=5.0, count=None, sleep=frames.sleep) == 2
    assert frames.renders == 2


def test_watch_on_a_terminal_redraws_in_place():
    frames = Frames()
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    assert sv.watch(frames.render, console, interval=1.0, count=3, sleep=frames.sleep) == 3
    text = out.getvalue()
    # each refresh erases the previous frame ("\x1b[2K") and draws the next one in its place
    assert text.count("\x1b[2K") >= 2
    assert text.split("\x1b[2K")[-1].replace("\x1b[?25h", "").strip() == "frame 3"


def test_extra_addresses_round_trip_through_the_stored_topology_and_one_address_stores_as_before():
    import dataclasses
    import json

    from chalicelib.topology import ExtraAddress, Topology
    assert "extra_addresses" not in TOPO.zones[0].to_dict()         # nat.addresses = 1: the stored form is unchanged
    zones = (dataclasses.replace(TOPO.zones[0], extra_addresses=(ExtraAddress("eipalloc-x", "203.0.113.9"),)),
             *TOPO.zones[1:])
    several = dataclasses.replace(TOPO, zones=zones)
    back = Topology.from_dict(json.loads(json.dumps(several.to_dict())))
    assert back == several and back.zones[0].egress_ips == (TOPO.zones[0].nat_eip, "203.0.113.9")
