"""The scheduled failover path, traced: from app.py's ``heartbeat`` to EC2 ``ReplaceRoute``.

One heartbeat invocation that runs one sweep, in moto, where one zone's probe fails (fail_after=2: the
probe and its confirmation fail in the same sweep, so the zone fails over in it). ``sys.setprofile``
(and ``threading.setprofile`` for the sweep's worker threads) records every call into a file of
``chalicelib/`` (or ``app.py``) made from a frame in another file, including botocore's and the
standard library's calls into chalicelib callbacks, up to the moment ``ReplaceRoute`` is sent. The
path crosses at most 10 files, and none of them is entered more than 3 times (entered, then
re-entered at most twice). docs/architecture.md narrates this path file by file.
"""
from __future__ import annotations

import importlib.util
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from chalice.local import LambdaContext
from chalice.test import Client
from moto import mock_aws

from chalicelib import naming
from tests.support import stack as sf

ROOT = Path(__file__).resolve().parents[2]
LIB = str(ROOT / "chalicelib") + "/"
APP = str(ROOT / "app.py")
MAX_FILES = 10
MAX_ENTRIES = 3   # entered, left and re-entered at most twice
# The adapters that read the zone records: the sweep's one batched read, and the records alone.
RECORD_READS = ("read_sweep", "load_snapshot")


def _ours(filename: str) -> str | None:
    if filename.startswith(LIB):
        return "chalicelib/" + filename[len(LIB):]
    return "app.py" if filename == APP else None


class PathTracer:
    """Counts entries into chalicelib files (a call whose caller is in another file) until ReplaceRoute."""

    def __init__(self):
        self.entries: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()   # chalicelib functions of interest, by name
        self.order: list[str] = []
        self.done = False
        self._lock = threading.Lock()

    def profile(self, frame, event, arg):
        if event != "call" or self.done:
            return
        callee = _ours(frame.f_code.co_filename)
        if callee is None:
            return
        if frame.f_code.co_name in RECORD_READS:
            with self._lock:
                self.calls[frame.f_code.co_name] += 1
        caller = frame.f_back.f_code.co_filename if frame.f_back is not None else None
        if caller == frame.f_code.co_filename:
            return
        with self._lock:
            self.entries[callee] += 1
            self.order.append(callee)

    def replace_route_sent(self, **_):
        self.done = True

    def report(self) -> str:
        return "\n".join(f"{n:3d}  {f}" for f, n in self.entries.most_common())


def _load_app(monkeypatch, stack):
    monkeypatch.setenv(naming.ENV_ZONES, ",".join(stack.azs))
    spec = importlib.util.spec_from_file_location("hanat_app_traced", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _ClockSource:
    def __init__(self, clock):
        self.time = clock


@pytest.fixture
def traced_heartbeat(aws_env, monkeypatch, tmp_path):
    from chalicelib.service.probing import sweep_reserve_s
    with mock_aws():
        stack = sf.build_stack(stack="path", tables_per_zone=2)
        clock = sf.FakeClock()
        probes = sf.ScriptedProbes(clock)
        ec2 = sf.clients().ec2
        tracer = PathTracer()
        ec2.meta.events.register("before-call.ec2.ReplaceRoute", tracer.replace_route_sent)

        def factory(owner):
            deps, _ = sf.make_deps(stack, clock=clock, probes=probes, owner=owner, control_passes=True)
            deps.clients.ec2 = ec2
            return deps

        module = _load_app(monkeypatch, stack)
        module.make_deps = factory
        with Client(module.app, project_dir=str(tmp_path)) as client:
            handler = module.app.handler_map["heartbeat"]
            # a budget for exactly one sweep: after one interval's wait less than a sweep needs is left.
            # The confirmation round runs only while a sweep still fits before the deadline, in real time:
            # the budget leaves interval - 0.5 - END_MARGIN_S = 2.5 s for what comes before it (a loaded
            # machine's moto calls), where interval / 2 left 0.5 s.
            budget = sweep_reserve_s(stack) + stack.probe.interval_s - 0.5
            context = LambdaContext("heartbeat", memory_size=256, max_runtime_ms=int(budget * 1000),
                                    time_source=_ClockSource(clock))
            event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                                    detail={}, resources=[])
            handler(event, context)       # steady state: every NAT seen healthy first
            probes.failing = {stack.azs[0]}
            clock.sleep(stack.probe.interval_s)
            context = LambdaContext("heartbeat", memory_size=256, max_runtime_ms=int(budget * 1000),
                                    time_source=_ClockSource(clock))
            threading.setprofile(tracer.profile)
            sys.setprofile(tracer.profile)
            try:
                result = handler(event, context)
            finally:
                sys.setprofile(None)
                threading.setprofile(None)
            yield stack, tracer, result


def test_the_traced_heartbeat_fails_the_zone_over_and_reads_the_state_table_once(traced_heartbeat):
    """The run the tracer watches is the failover (one sweep, one move, ReplaceRoute sent), and the
    zone records are loaded once in it, in the sweep's one batched read (aws/observe.py ``read_sweep``:
    the read made when the probe failed is the one the decision starts from)."""
    stack, tracer, result = traced_heartbeat
    assert len(result["sweeps"]) == 1
    moves = result["sweeps"][0]["moves"]
    assert [(m["zone"], m["kind"]) for m in moves] == [(stack.azs[0], "failover")]
    assert tracer.done, "ReplaceRoute was never sent"
    assert tracer.calls["read_sweep"] == 1 and tracer.calls["load_snapshot"] == 0


def test_the_failover_path_crosses_at_most_10_files_each_entered_at_most_3_times(traced_heartbeat):
    _stack, tracer, _result = traced_heartbeat
    print("\nentries per file on the failover path (heartbeat -> ReplaceRoute):\n" + tracer.report())
    assert len(tracer.entries) <= MAX_FILES, tracer.report()
    crowded = {f: n for f, n in tracer.entries.items() if n > MAX_ENTRIES}
    assert not crowded, tracer.report()
