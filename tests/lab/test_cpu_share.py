"""The lab's functions run with Lambda's CPU share (lab.aws.cgroups, root, cgroup v1 cpu): a thread for one
invocation and a process for its life sit in their function's group with the quota of its memory, are
really held to it, and every group is gone after, also when the invocation raised; without cgroups the
functions run unthrottled and say so."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from bootstrap.deploy.stage import CONTROLLER_MEMORY_MB, HEARTBEAT_MEMORY_MB
from lab.aws.cgroups import CPU_MOUNT, PREFIX, CpuShares, own_group
from lab.aws.cpu_share import cfs_quota


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "cgroups need root"
    if not (CPU_MOUNT / "cpu.cfs_quota_us").exists():
        return f"no cgroup v1 cpu controller at {CPU_MOUNT}"
    return None


needs_cgroups = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


def _group_of(tid_path: str) -> str:
    """The cpu group of a task (``/proc/<pid>/task/<tid>/cgroup`` or ``/proc/<pid>/cgroup``)."""
    for line in Path(tid_path).read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return path
    raise AssertionError(f"no cpu hierarchy in {tid_path}")


def _mine() -> str:
    return _group_of(f"/proc/self/task/{threading.get_native_id()}/cgroup")


def _left(run: str) -> list[Path]:
    home = own_group(CPU_MOUNT)
    return list(home.glob(f"{PREFIX}{run}-*")) if home else []


@needs_cgroups
def test_an_invocations_thread_is_in_its_functions_group_with_its_quota_and_held_to_it():
    run = uuid.uuid4().hex[:6]
    shares = CpuShares.open(run)
    home = _mine()
    try:
        assert shares.state.startswith("on (")
        with shares.invocation("heartbeat", 148):
            inside = _mine()
            group = CPU_MOUNT / inside.lstrip("/")
            assert inside.endswith(f"/{PREFIX}{run}-{os.getpid()}/heartbeat")
            assert int((group / "cpu.cfs_quota_us").read_text()) == cfs_quota(148).quota_us == 1673
            assert int((group / "cpu.cfs_period_us").read_text()) == 20_000
            assert str(threading.get_native_id()) in (group / "tasks").read_text().split()
            # held to 148/1769 = 0.084 CPU: over 0.6 s of wall time a busy loop gets at most ~0.05 s of CPU
            wall, cpu = time.monotonic(), time.thread_time()
            while time.monotonic() - wall < 0.6:
                pass
            share = (time.thread_time() - cpu) / (time.monotonic() - wall)
            assert share < 0.2, f"a 148 MB function's thread ran {share:.2f} CPU, not ~0.08"
            # a thread the invocation starts is born in its group (the probe runner's pool threads)
            born = []
            child = threading.Thread(target=lambda: born.append(_mine()))
            child.start()
            child.join()
            assert born == [inside]
        assert _mine() == home, "the thread went back to its own group after the invocation"
    finally:
        shares.close()
    assert not _left(run), "every group of the run is removed"
    assert not shares.errors


@needs_cgroups
def test_an_invocation_inside_another_goes_back_to_the_outer_ones_group():
    run = uuid.uuid4().hex[:6]
    shares = CpuShares.open(run)
    try:
        with shares.invocation("heartbeat", 148):
            with shares.invocation("probe_zone_a", 128):
                assert _mine().endswith("/probe_zone_a")
            assert _mine().endswith("/heartbeat")
    finally:
        shares.close()
    assert not _left(run)


@needs_cgroups
def test_a_raising_invocation_leaves_the_group_and_close_removes_it():
    run = uuid.uuid4().hex[:6]
    shares = CpuShares.open(run)
    home = _mine()
    try:
        with pytest.raises(RuntimeError), shares.invocation("operate", 256):
            assert _mine().endswith("/operate")
            raise RuntimeError("the handler failed")
        assert _mine() == home
    finally:
        shares.close()
        shares.close()    # twice: no error
    assert not _left(run)


@needs_cgroups
def test_a_probe_environments_process_is_in_its_group_and_back_home_when_the_run_closes():
    run = uuid.uuid4().hex[:6]
    shares = CpuShares.open(run)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert shares.attach("probe_zone_a-1", 128, proc.pid)
        group = _group_of(f"/proc/{proc.pid}/cgroup")
        assert group.endswith(f"/{PREFIX}{run}-{os.getpid()}/probe_zone_a-1")
        assert int((CPU_MOUNT / group.lstrip("/") / "cpu.cfs_quota_us").read_text()) == 1447
        shares.close()    # the process still runs: it is moved home, the group removed
        assert _group_of(f"/proc/{proc.pid}/cgroup") == _group_of("/proc/self/cgroup")
        assert not _left(run)
    finally:
        proc.kill()
        proc.wait()
        shares.close()


@needs_cgroups
def test_a_killed_runs_groups_are_removed_by_the_next_open():
    run = uuid.uuid4().hex[:6]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    home = own_group(CPU_MOUNT)
    orphan = home / f"{PREFIX}{run}-{dead.pid}"
    (orphan / "heartbeat").mkdir(parents=True)
    shares = CpuShares.open(uuid.uuid4().hex[:6])
    try:
        assert not orphan.exists()
    finally:
        shares.close()
        if orphan.exists():
            (orphan / "heartbeat").rmdir()
            orphan.rmdir()


def test_without_cgroups_the_functions_run_unthrottled_and_say_so(tmp_path):
    shares = CpuShares.open("x", mount=tmp_path / "cpu")
    reason = "not root: cgroups need root" if os.geteuid() != 0 else f"no cgroup v1 cpu controller at {tmp_path / 'cpu'}"
    assert shares.state == f"off ({reason})"
    ran = []
    with shares.invocation("heartbeat", 148):
        ran.append(True)
    assert ran == [True]
    assert shares.attach("probe", 128, os.getpid()) is False
    shares.close()


@pytest.mark.netns
@needs_cgroups
def test_a_netns_session_runs_each_function_in_its_share_and_leaves_no_group():
    """The heartbeat's run, an operate call and every zone's probe environment run in their function's
    group at the memory `hanat deploy` gives it; the session's groups are gone after it closes."""
    from chalicelib.naming import probe_handler_name
    from lab.aws.emulator import Emulator, pointed_at
    from lab.config import load_lab_settings
    from lab.dataplane.netns.shell import ns_pids
    from lab.session import LabSession

    seen: dict[str, str] = {}

    def in_heartbeat(deps):   # the heartbeat's Deps are built inside its invocation
        seen.setdefault("heartbeat", _mine())
        return deps

    emulator = Emulator().start()
    try:
        with pointed_at(emulator), LabSession(load_lab_settings(), dataplane="netns", emulator=emulator,
                                              progress=lambda m: None, deploy=False) as session:
            run = session.run_id
            assert session.cpu_shares.state.startswith("on (")
            session.heartbeat_deps_hook = in_heartbeat
            sweeps = session.heartbeat.sweeps
            session.wait_until("two sweeps", lambda: session.heartbeat.sweeps >= sweeps + 2, 60)
            operate_group = session.run_function("operate", lambda deps: _mine())
            groups = {}
            for ns in session.dataplane.namespaces:
                for pid in ns_pids(ns):
                    try:
                        path = _group_of(f"/proc/{pid}/cgroup")
                    except OSError:
                        continue   # exited meanwhile
                    if f"/{PREFIX}{run}-" in path:
                        groups[path.rsplit("/", 1)[-1].rsplit("-", 1)[0]] = path
            memory = session.function_memory
            azs = session.topology().azs
            quotas = {name: _quota(path) for name, path in
                      {**groups, "heartbeat": seen["heartbeat"], "operate": operate_group}.items()}
    finally:
        emulator.stop()

    assert seen["heartbeat"].endswith(f"/{PREFIX}{run}-{os.getpid()}/heartbeat")
    assert operate_group.endswith(f"/{PREFIX}{run}-{os.getpid()}/operate")
    assert set(groups) == {probe_handler_name(az) for az in azs}, groups
    assert quotas == {name: cfs_quota(memory[name]).quota_us for name in quotas}
    assert (memory["heartbeat"], memory["operate"]) == (HEARTBEAT_MEMORY_MB, CONTROLLER_MEMORY_MB)
    assert not _left(run), "the session removed its groups"


def _quota(group: str) -> int:
    return int((CPU_MOUNT / group.lstrip("/") / "cpu.cfs_quota_us").read_text())


def test_a_session_on_lab_time_or_turned_off_runs_unthrottled_and_says_why(monkeypatch):
    assert CpuShares.for_session("computed", "x").state == \
        "off (computed data plane: lab time, CPU work takes none of it)"
    monkeypatch.setenv("HANAT_LAB_CPU_SHARE", "off")
    assert CpuShares.for_session("netns", "x").state == "off (HANAT_LAB_CPU_SHARE=off)"


@needs_cgroups
def test_lab_down_removes_a_killed_runs_cpu_groups_and_spares_a_live_one(capsys):
    import json

    from tests.support.cli import hanat
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = CpuShares.open(uuid.uuid4().hex[:6])   # (its open removes orphans too: made after it)
    orphan = own_group(CPU_MOUNT) / f"{PREFIX}{uuid.uuid4().hex[:6]}-{dead.pid}"
    (orphan / "heartbeat").mkdir(parents=True)
    try:
        with live.invocation("heartbeat", 148):
            pass
        run = hanat(capsys, "lab", "down", "--json")
        assert run.code == 0, run.err
        assert str(orphan) in json.loads(run.out)["removed_cpu_groups"]
        assert not orphan.exists()
        assert live.base.exists(), "a live run's groups stay"
    finally:
        live.close()
        if orphan.exists():
            (orphan / "heartbeat").rmdir()
            orphan.rmdir()
