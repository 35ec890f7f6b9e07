"""`hanat status` shows each NAT's capacity (issue 19 item 4, status part) from what the heartbeat
recorded: OK or DEGRADED (and why), throughput now, connections (conntrack entries/limit, % use), the
busiest destination's source-port use and headroom under the type's baseline bandwidth; readable at 100
columns. Against the loopback moto server: `hanat up`, heartbeat sweeps with NAT counters, `hanat status`."""
from __future__ import annotations

import copy
import json
import time

import boto3
from rich.console import Console

from chalicelib.aws import params
from chalicelib.naming import topology_parameter
from chalicelib.service import gray
from chalicelib.service.deps import Clients, Deps
from chalicelib.service.heartbeat import run_sweep
from controller.views.capacity import CAPACITY_COLUMNS, capacity_table, capacity_views
from tests.integration.test_nat_metrics_heartbeat import CountingProbes
from tests.integration.test_status_view import CONFIG, REGION, A, C, cells
from tests.support.cli import hanat
from tests.support.stack import FakeClock
from tests.unit.test_probe_counters import SAMPLE

LIMIT = SAMPLE["conntrack"]["max"]
GRAY = "\n[failover]\ndegraded_after = 2\n"


def snap(count: int, megabytes: int, used: int = 40, n: int = 0) -> dict:
    out = copy.deepcopy(SAMPLE)
    out["at"] += 60 * n            # the agent's own time of the n-th snapshot
    out["conntrack"]["count"] = count
    out["forwarded"]["from_source"]["bytes"] += megabytes * 1_000_000
    out["ports"]["busiest"][0]["used"] = used
    return out


def capacity_rows(out: str) -> dict[str, list[str]]:
    rows, inside = {}, False
    for line in out.splitlines():
        if line.startswith("NAT capacity"):
            inside = True
        elif inside and line.startswith("│"):
            row = cells(line)
            rows[row[0]] = row
    return rows


def test_status_shows_each_nats_capacity_and_a_degraded_nat(emulator_env, tmp_path, capsys):
    gray.last_counters.clear()
    config = tmp_path / "hanat.toml"
    config.write_text(CONFIG + GRAY)
    code, _, err = hanat(capsys, "up", "--config", str(config))
    assert code == 0, err
    c = Clients(ec2=boto3.client("ec2", region_name=REGION), dynamodb=boto3.client("dynamodb", region_name=REGION),
                ssm=boto3.client("ssm", region_name=REGION))
    topo = params.read_topology(c.ssm, topology_parameter("view"))
    clock = FakeClock(start=time.time() - 120)
    probes = CountingProbes(clock)
    deps = Deps(topology=topo, clients=c, probe_runner=probes, clock=clock, sleep=clock.sleep, owner="test")
    # 60 s apart: A's table fills (DEGRADED at the 2nd full reading); C moves 45 MB a minute (6 Mbit/s)
    for n, a_count in enumerate((100, LIMIT, LIMIT)):
        probes.counters = {A: snap(a_count, 0, n=n), C: snap(2000, 45 * n, used=32256, n=n)}
        clock.sleep(60)
        report = run_sweep(deps)
    assert report.gray["degraded"] == [A]

    code, out, err = hanat(capsys, "status", "--config", str(config))
    assert code == 0, err
    header = next(line for line in out.splitlines()[out.splitlines().index(
        next(x for x in out.splitlines() if x.startswith("NAT capacity"))):] if line.startswith("┃"))
    assert [h.strip() for h in header.strip("┃").split("┃")] == list(CAPACITY_COLUMNS)
    rows = capacity_rows(out)
    assert rows[A][1] == "DEGRADED" and rows[A][3] == "262k/262k 100 %"
    assert f"{A} DEGRADED (conntrack-full: conntrack {LIMIT}/{LIMIT} (100 %))" in out
    assert rows[C][1:5] == ["OK", "6.0", "2000/262k 1 %", "50 % 198.51.100.10:443"]   # 32256 of 64512 ports

    code, out, err = hanat(capsys, "status", "--config", str(config), "--json")
    assert code == 0, err
    zones = {z["az"]: z for z in json.loads(out)["zones"]}
    cap = zones[C]["capacity"]
    assert cap["state"] == "OK" and cap["conntrack_count"] == 2000 and cap["conntrack_limit"] == LIMIT
    assert cap["throughput_mbps"] == 6.0 and cap["busiest_port_percent"] == 50.0
    itype = zones[C]["nat"]["instance_type"]
    assert cap["instance_type"] == itype
    if itype == "t4g.nano":                          # 6 of its 32 Mbit/s baseline used
        assert cap["headroom_percent"] == 81.2
    assert zones[A]["capacity"]["state"] == "DEGRADED" and zones[A]["capacity"]["causes"] == ["conntrack-full"]

    wide = Console(width=100, record=True, color_system=None)
    wide.print(capacity_table(capacity_views(list(zones.values()))))
    text = wide.export_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    for cell in ("DEGRADED", "262k/262k 100 %", "50 % 198.51.100.10:443", "2000/262k 1 %", A, C):
        assert cell in text, cell                   # no cell folded at 100 columns
