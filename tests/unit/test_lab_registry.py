"""Which lab namespaces `hanat lab down` may remove: only those no live run owns (pure decision)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lab.dataplane.netns import registry
from lab.dataplane.netns.registry import RunRecord, orphans, run_id_of

LIVE = RunRecord("live01", pid=100, start_ticks=5, created_at=0.0)
DEAD = RunRecord("dead01", pid=200, start_ticks=7, created_at=0.0)
RECORDS = {"live01": LIVE, "dead01": DEAD}


def alive(rec: RunRecord) -> bool:
    return rec is LIVE


@pytest.mark.parametrize("ns, age_s, min_age_s, removed", [
    ("hanat-live01-inet", 10_000, 600, False),   # a live run is never touched, however old
    ("hanat-dead01-inet", 0, 600, True),         # a dead run's namespaces go at once
    ("hanat-dead01-nat-1", 5, 600, True),
    ("hanat-norec1-vpc", 10, 600, False),        # unrecorded and young: maybe a run starting now
    ("hanat-norec1-vpc", 600, 600, True),        # unrecorded and old: a leftover
    ("hanat-capcheck42", 10_000, 600, True),     # other shapes follow the age rule too
    ("hanat-capcheck42", 1, 600, False),
])
def test_orphans(ns, age_s, min_age_s, removed):
    assert orphans({ns: age_s}, RECORDS, alive, min_age_s) == ([ns] if removed else [])


def test_orphans_mixes_runs_and_sorts():
    names = {"hanat-dead01-vpc": 1, "hanat-live01-vpc": 1, "hanat-dead01-aws": 1, "hanat-old-x": 900}
    assert orphans(names, RECORDS, alive, 600) == ["hanat-dead01-aws", "hanat-dead01-vpc", "hanat-old-x"]


@pytest.mark.parametrize("ns, run_id", [
    ("hanat-0e213f-probe-0", "0e213f"), ("hanat-ab-nat-12", "ab"), ("hanat-capcheck42", None),
    ("other-ab-inet", None), ("hanat--inet", None), ("hanat-ab-", None),
])
def test_run_id_of(ns, run_id):
    assert run_id_of(ns) == run_id


def test_liveness_uses_pid_and_start_time(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY_DIR", tmp_path)
    me = registry.claim("mine01")
    assert me.pid == os.getpid() and registry.is_alive(me)
    assert registry.read_records() == {"mine01": me}
    # same pid, other start time: a reused pid is not the owner
    assert not registry.is_alive(RunRecord("mine01", os.getpid(), me.start_ticks + 1, 0.0))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead = registry.claim("gone01", pid=int(gone.stdout))
    assert not registry.is_alive(dead)
    # a live owner keeps its run; a dead one's record is taken over
    assert registry.claim("mine01", pid=int(gone.stdout)) == me
    assert registry.claim("gone01").pid == os.getpid()
    assert registry.prune_dead_records([]) == []
    registry.release("gone01")
    registry.claim("gone01", pid=int(gone.stdout))
    assert registry.prune_dead_records(["hanat-mine01-inet"]) == ["gone01"]
    assert set(registry.read_records()) == {"mine01"}


def test_a_run_killed_by_another_live_process_is_not_this_processs(tmp_path, monkeypatch):
    """The lab tier's leak check (tests/lab/conftest.py) must not take another xdist worker's killed run
    (test_lab_down_removes_a_killed_runs_leftovers...) for its own leak, but must own its children's runs."""
    monkeypatch.setattr(registry, "REGISTRY_DIR", tmp_path)
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                           text=True, check=True)
    assert registry.claim("self01").parent == os.getppid()         # a claim records the owner's parent
    mine = RunRecord("kid001", pid=int(child.stdout), start_ticks=1, created_at=0.0, parent=os.getpid())
    others = RunRecord("oth001", pid=int(child.stdout), start_ticks=1, created_at=0.0, parent=1)  # init's
    orphan = RunRecord("orp001", pid=int(child.stdout), start_ticks=1, created_at=0.0, parent=0)  # old record
    records = {r.run_id: r for r in (mine, others, orphan)}
    assert not registry.owned_by_another_process("hanat-kid001-inet", records)
    assert registry.owned_by_another_process("hanat-oth001-inet", records)
    assert not registry.owned_by_another_process("hanat-orp001-inet", records)
    assert not registry.owned_by_another_process("hanat-norec1-inet", records)
