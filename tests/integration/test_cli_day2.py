"""Day-2 commands against the loopback moto server, as an operator runs them: ``hanat roll [--wait]``
(refused while a NAT is DOWN; followed zone by zone while a heartbeat runs), readable log lines
instead of JSON (``--log-json`` restores them), ``hanat status`` per NAT and ``--history``, ``hanat up``
naming stale NATs, ``hanat logs``."""
from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import boto3
import pytest

from chalicelib.aws import params
from chalicelib.engine import UP
from chalicelib.errors import ConflictError
from chalicelib.naming import topology_parameter
from chalicelib.service import roll
from chalicelib.service.deps import Clients, Deps
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.maintenance import after_sweep
from tests.support.cli import hanat, hanat_process
from tests.support.stack import FakeClock, ScriptedProbes

ROOT = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-1"
A, C = "ap-northeast-1a", "ap-northeast-1c"
STACK = "day2"


def config_text(instance_type: str = "t4g.nano") -> str:
    return f"""
[stack]
name = "{STACK}"
region = "{REGION}"
vpc_cidr = "10.0.0.0/16"

[[zones]]
az = "{A}"

[[zones]]
az = "{C}"

[nat]
instance_type = "{instance_type}"

[probe]
interval_s = 5
fail_after = 2
recover_after = 2
min_hold_s = 10
targets = ["tcp://203.0.113.10:443"]

[maintenance]
drain_s = 20
"""


JSON_LINE = re.compile(r'^\s*\{.*"level"', re.MULTILINE)


def clients() -> Clients:
    return Clients(ec2=boto3.client("ec2", region_name=REGION), dynamodb=boto3.client("dynamodb", region_name=REGION),
                   ssm=boto3.client("ssm", region_name=REGION))


class Heartbeat:
    """The deployed heartbeat, in a thread: a sweep and the replacement pass every 5 fake seconds (the
    fake clock runs ahead of the wall clock, so drains and holds pass in a moment)."""

    def __init__(self, failing: set[str] | None = None):
        self.clock = FakeClock(start=time.time())
        self.probes = ScriptedProbes(self.clock)
        self.probes.failing = failing or set()
        self.clients = clients()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.conflicts = 0
        self.thread: threading.Thread | None = None

    def deps(self) -> Deps:
        topo = params.read_topology(self.clients.ssm, topology_parameter(STACK))
        return Deps(topology=topo, clients=self.clients, probe_runner=self.probes, clock=self.clock,
                    sleep=self.clock.sleep, owner="heartbeat-test")

    def sweep(self):
        self.clock.sleep(5)
        return run_sweep(self.deps(), then=after_sweep)

    def run(self, wait_for_roll: bool) -> Heartbeat:
        def loop():
            try:
                while wait_for_roll and not self.stop.is_set() and roll.load_roll(self.deps()) is None:
                    time.sleep(0.05)
                while not self.stop.is_set():
                    try:
                        self.sweep()
                    except ConflictError:
                        # as run_heartbeat does: a sweep that lost the race for a claim is logged and the next
                        # one decides again (this thread's fake-clock backoff does not wait out the CLI's real
                        # 2 s hold of a planned move's claim)
                        self.conflicts += 1
                    time.sleep(0.02)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(exc)
        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()
        return self

    def join(self):
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=60)
        assert not self.errors, self.errors


@pytest.fixture
def built(emulator_env, tmp_path, capsys, monkeypatch):
    config = tmp_path / "hanat.toml"
    config.write_text(config_text())
    monkeypatch.setenv("HANAT_CONFIG", str(config))
    code, _, err = hanat(capsys, "up", "--config", str(config))
    assert code == 0, err
    beat = Heartbeat()
    for _ in range(3):
        report = beat.sweep()
    assert set(report.health.values()) == {UP}
    return config, beat


def test_roll_wait_follows_every_zone_step_by_step_and_ends_with_new_nats(built, capsys):
    _config, beat = built
    before = params.read_topology(beat.clients.ssm, topology_parameter(STACK))
    beat.run(wait_for_roll=True)
    try:
        code, out, err = hanat(capsys, "roll", "--wait", "--poll", "0.2", "--timeout", "120")
    finally:
        beat.join()
    assert code == 0, err
    after = params.read_topology(beat.clients.ssm, topology_parameter(STACK))
    for az in (A, C):
        assert after.zone(az).nat_instance_id != before.zone(az).nat_instance_id
        assert after.zone(az).nat_eip == before.zone(az).nat_eip
    assert "roll" in out and f"of {A}, {C} started" in out
    # progress on stderr, per zone and step, readable: no JSON log lines
    assert not JSON_LINE.search(err), err
    lines = err.splitlines()
    for az in (A, C):
        steps = [line for line in lines if re.match(rf"\d\d:\d\d:\d\d {az} ", line)]
        for step in ("replacing its NAT", "launching", "drains until", "proving", "roll: done, NAT"):
            assert any(step in line for line in steps), (az, step, err)
    first_c = next(i for i, line in enumerate(lines) if re.match(rf"\d\d:\d\d:\d\d {C} ", line))
    a_done = next(i for i, line in enumerate(lines) if re.match(rf"\d\d:\d\d:\d\d {A} roll: done", line))
    assert a_done < first_c                      # one zone after the other
    assert "done: roll" in err and "every zone rolled" in err


def test_roll_is_refused_while_another_nat_is_down_exit_1_nothing_changed(built, capsys):
    _config, beat = built
    beat.probes.failing.add(C)
    for _ in range(2):
        beat.sweep()
    down = beat.deps().topology.zone(C).nat_instance_id
    nats_before = sorted(i["InstanceId"] for r in beat.clients.ec2.describe_instances()["Reservations"]
                         for i in r["Instances"])
    code, out, err = hanat(capsys, "roll", "--zone", A)
    assert code == 1, (out, err)
    assert down in err and "DOWN" in err and "cannot start the roll" in err
    assert roll.load_roll(beat.deps()) is None
    assert sorted(i["InstanceId"] for r in beat.clients.ec2.describe_instances()["Reservations"]
                  for i in r["Instances"]) == nats_before


def test_failover_prints_readable_lines_and_log_json_restores_the_json_lines(built, capsys):
    code, out, err = hanat(capsys, "failover", "--zone", A, "--reason", "kernel update")
    assert code == 0, err
    assert f"failover {A}: 1 route table(s) changed, served by {C}" in out
    assert not JSON_LINE.search(err), err
    assert re.search(rf"\d\d:\d\d:\d\d {A} route rtb-\w+ -> NAT i-\w+ \(failover: kernel update\)", err), err
    code, out, err = hanat(capsys, "--verbose", "revert", "--zone", A)
    assert code == 0, err
    assert "kind=revert" in err and not JSON_LINE.search(err)
    # --log-json: the JSON lines exactly as the Lambda functions write them (a real process: its stderr)
    proc = hanat_process("--log-json", "failover", "--zone", A, module="controller.cli", timeout=120)
    assert proc.code == 0, proc.err
    events = [json.loads(line) for line in proc.err.splitlines() if line.startswith("{")]
    moved = [e for e in events if e["message"] == "route moved"]
    assert moved and moved[0]["zone"] == A and moved[0]["service"] == "hanat" and moved[0]["level"] == "INFO"
    assert not re.search(r"^\d\d:\d\d:\d\d ", proc.err, re.MULTILINE)


def test_status_shows_each_nat_build_and_the_history_newest_first(built, capsys):
    code, _, err = hanat(capsys, "failover", "--zone", A, "--reason", "first")
    assert code == 0, err
    code, _, err = hanat(capsys, "revert", "--zone", A, "--reason", "second")
    assert code == 0, err
    code, out, err = hanat(capsys, "status")
    assert code == 0, err
    assert "NATs" in out and "t4g.nano (current)" in out and "v1 (current)" in out
    code, out, err = hanat(capsys, "status", "--history", "--since", "1h")
    assert code == 0, err
    assert out.index("REVERT") < out.index("FAILOVER")          # newest first
    code, out, err = hanat(capsys, "status", "--history", "--json")
    entries = json.loads(out)["entries"]
    assert [(e["kind"], e["zone"]) for e in entries[:2]] == [("revert", A), ("failover", A)]
    code, _, err = hanat(capsys, "status", "--history", "--since", "soon")
    assert code == 2 and "'soon'" in err
    code, _, err = hanat(capsys, "status", "--since", "1h")
    assert code == 2 and "--history" in err


def test_up_names_the_nats_a_new_instance_type_makes_stale(built, capsys):
    config, _ = built
    config.write_text(config_text("t4g.micro"))
    code, out, err = hanat(capsys, "up", "--config", str(config))
    assert code == 0, err
    for az in (A, C):
        assert re.search(rf"NAT i-\w+ of {az} is stale: launch template v1 \(current v2\).*instance type "
                         r"t4g.nano \(current t4g.micro\)", err.replace("\n", " ")), err
    assert "2 stale NAT(s): `hanat roll`" in out
    code, out, err = hanat(capsys, "up", "--config", str(config), "--json")
    assert set(json.loads(out)["stale_nats"]) == {A, C}


def test_logs_renders_the_controller_lines_and_log_json_prints_them_raw(built, capsys):
    logs = boto3.client("logs", region_name=REGION)
    group = f"/aws/lambda/hanat-{STACK}-heartbeat"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    now = int(time.time() * 1000)
    lines = [
        "START RequestId: 1 Version: $LATEST",
        json.dumps({"level": "INFO", "location": "one:203", "message": "route moved", "timestamp": "x",
                    "service": "hanat", "zone": A, "nat": "i-0abc", "route_table": "rtb-1", "kind": "failover",
                    "reason": "2 failed probes"}),
        json.dumps({"_aws": {"Timestamp": now, "CloudWatchMetrics": [{"Namespace": "hanat", "Dimensions": [[]],
                                                                      "Metrics": [{"Name": "SweepsCompleted"}]}]},
                    "SweepsCompleted": [1.0]}),
        "REPORT RequestId: 1 Duration: 12.3 ms",
    ]
    logs.put_log_events(logGroupName=group, logStreamName="s1",
                        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])
    code, out, err = hanat(capsys, "logs", "--since", "5m")
    assert code == 0, err
    assert re.search(rf"heartbeat {A} route rtb-1 -> NAT i-0abc \(failover: 2 failed probes\)", out), out
    assert "START" not in out and "SweepsCompleted" not in out and "{" not in out
    code, out, _ = hanat(capsys, "-v", "logs", "--function", "heartbeat", "--since", "5m")
    assert "REPORT RequestId" in out and "SweepsCompleted" in out
    code, out, _ = hanat(capsys, "--log-json", "logs", "--since", "5m")
    assert out.count('"message": "route moved"') == 1 and "START RequestId" in out
    code, _, err = hanat(capsys, "logs", "--function", "nope")
    assert code == 2 and "'nope'" in err and "heartbeat" in err
