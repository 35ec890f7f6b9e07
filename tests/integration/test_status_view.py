"""`hanat status` as people see it (table, --watch --count) against the loopback moto server.

The stack is built by `hanat up`, every NAT is proven UP by heartbeat sweeps (scripted probes),
then zone A's NAT is replaced by hand: the table must show A served by C, leaving by C's Elastic
IP, with the replacement's step in the mode column.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from chalicelib.aws import params
from chalicelib.engine import UP
from chalicelib.naming import topology_parameter
from chalicelib.service.deps import Clients, Deps
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.maintenance import after_sweep
from controller.views.status import COLUMNS
from tests.support.cli import hanat
from tests.support.stack import FakeClock, ScriptedProbes

ROOT = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-1"
A, C = "ap-northeast-1a", "ap-northeast-1c"
CONFIG = f"""
[stack]
name = "view"
region = "{REGION}"
vpc_cidr = "10.0.0.0/16"

[[zones]]
az = "{A}"

[[zones]]
az = "{C}"

[probe]
fail_after = 2
recover_after = 2
min_hold_s = 10
targets = ["tcp://203.0.113.10:443"]

[maintenance]
drain_s = 0      # an operator's replace moves the Elastic IP at once (no draining)
"""


def table_lines(out: str) -> list[str]:
    """The body rows of the printed zone table(s): lines drawn with the box's vertical bar, between a
    "hanat status" title and the "NATs" table that follows it."""
    rows, inside = [], False
    for line in out.splitlines():
        if line.startswith("hanat status: stack"):
            inside = True
        elif line.startswith("NATs"):
            inside = False
        elif inside and line.startswith("│"):
            rows.append(line)
    return rows


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("│").split("│")]


@pytest.fixture
def built(emulator_env, tmp_path, capsys):
    config = tmp_path / "hanat.toml"
    config.write_text(CONFIG)
    code, _, err = hanat(capsys, "up", "--config", str(config))
    assert code == 0, err
    c = Clients(ec2=boto3.client("ec2", region_name=REGION), dynamodb=boto3.client("dynamodb", region_name=REGION),
                ssm=boto3.client("ssm", region_name=REGION))
    clock = FakeClock(start=time.time() - 60)
    for _ in range(3):                               # the heartbeat proves every NAT
        clock.sleep(5)
        topo = params.read_topology(c.ssm, topology_parameter("view"))
        report = run_sweep(Deps(topology=topo, clients=c, probe_runner=ScriptedProbes(clock), clock=clock,
                                sleep=clock.sleep, owner="test"), then=after_sweep)
    assert set(report.health.values()) == {UP}
    return str(config), topo


def test_status_table_shows_every_zone_with_its_egress_ip(built, capsys):
    config, topo = built
    code, out, err = hanat(capsys, "status", "--config", config)
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.startswith("┃"))
    assert [c.strip() for c in header.strip("┃").split("┃")] == list(COLUMNS)
    rows = {cells(line)[0]: cells(line) for line in table_lines(out)}
    for z in topo.zones:
        assert rows[z.az][:6] == [z.az, z.nat_instance_id, "UP", z.az, "normal", z.nat_eip]


def test_status_shows_a_replacement_in_progress_and_the_backup_egress_ip(built, capsys):
    config, topo = built
    code, _, err = hanat(capsys, "replace", "--config", config, "--zone", A, "--reason", "by hand")
    assert code == 0, err
    code, out, err = hanat(capsys, "status", "--config", config)
    assert code == 0, err
    rows = {cells(line)[0]: cells(line) for line in table_lines(out)}
    _, nat, health, served_by, mode, egress, _ = rows[A]
    assert nat != topo.zone(A).nat_instance_id          # the topology names the new instance already
    assert health in ("DOWN", "UNKNOWN")                # the new NAT is not proven yet
    assert served_by == C and egress == topo.zone(C).nat_eip
    assert mode.startswith("replacing: ") and mode != "replacing: None"
    assert rows[C][3:6] == [C, "normal", topo.zone(C).nat_eip]


def test_watch_count_refreshes_n_times_then_exits_0(built, capsys):
    config, topo = built
    started = time.monotonic()
    code, out, err = hanat(capsys, "status", "--config", config, "--watch", "--interval", "1", "--count", "2")
    assert code == 0, err
    assert time.monotonic() - started >= 1.0             # it waited the interval between refreshes
    assert out.count("hanat status: stack view") == 2
    assert len(table_lines(out)) == 2 * len(topo.zones)
    assert "every 1s, Ctrl-C to stop" in out


def test_bad_watch_options_exit_2_naming_each(emulator_env, tmp_path, capsys):
    config = tmp_path / "hanat.toml"
    config.write_text(CONFIG)                            # no stack was built: options are checked first
    code, out, err = hanat(capsys, "status", "--config", str(config), "--watch", "--interval", "0",
                           "--count", "many", "--json")
    assert code == 2 and out == ""
    for needle in ("--interval: '0'", "--count: 'many'", "--json"):
        assert needle in err, err


# The CLI as a terminal's foreground process runs it: Ctrl-C raises KeyboardInterrupt. A process started
# with SIGINT ignored (a job put in the background by a shell without job control, nohup) inherits that,
# and Python then installs no handler (signal module docs: "if the handler was not SIG_DFL at startup").
AS_IN_A_TERMINAL = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                    "runpy.run_module('controller.cli', run_name='__main__')")


def test_ctrl_c_ends_watch_with_exit_0(built):
    """A real SIGINT to a real `hanat status --watch` process (as Ctrl-C sends it)."""
    config, _ = built
    proc = subprocess.Popen([sys.executable, "-c", AS_IN_A_TERMINAL, "status", "--config", config, "--watch",
                             "--interval", "1"], cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = ""
        deadline = time.monotonic() + 60
        while "as of" not in first and time.monotonic() < deadline:   # wait for the first table
            first += proc.stdout.readline()
        assert "hanat status: stack view" in first
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
