"""Nothing survives the lab: a killed run is cleaned by signal handlers or by cleanup_leftovers."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from lab.dataplane.netns import shell
from lab.dataplane.netns.namespaces import new_run_id
from lab.dataplane.netns.shell import REPO_ROOT, add_namespace, cleanup_leftovers, list_namespaces, ns_popen

pytestmark = pytest.mark.netns

DRILL = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_dataplane import two_zone_spec
    from lab.dataplane.netns.namespaces import Namespaces, cleanup_on_signals
    dp = Namespaces(two_zone_spec(), {run_id!r}).up()
    cleanup_on_signals(dp)
    dp.popen(dp.priv_role("az-a"), ["sleep", "60"])
    print("up", flush=True)
    time.sleep(60)
""")


def test_sigterm_takes_a_running_plane_down():
    run_id = new_run_id()
    prefix = f"hanat-{run_id}-"
    code = DRILL.format(tests=str(REPO_ROOT / "tests" / "lab"), run_id=run_id)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert proc.stdout.readline().strip() == "up"
        assert len(list_namespaces(prefix)) == 10   # inet aws igw vpc + 2x(priv probe nat)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        assert list_namespaces(prefix) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        cleanup_leftovers(prefix)


def test_cleanup_leftovers_kills_processes_and_removes_only_matching_namespaces():
    prefix = f"hanat-{new_run_id()}-"
    names = [prefix + "a", prefix + "b"]
    sleeper = None
    try:
        for ns in names:
            add_namespace(ns)
        sleeper = ns_popen(names[0], ["sleep", "60"])
        assert sorted(cleanup_leftovers(prefix + "a")) == [names[0]]
        assert sleeper.wait(timeout=10) == -signal.SIGTERM  # killed, not orphaned in a dead namespace
        assert list_namespaces(prefix) == [names[1]]
        assert cleanup_leftovers(prefix) == [names[1]]
        assert cleanup_leftovers(prefix) == []
    finally:
        if sleeper is not None and sleeper.poll() is None:
            os.killpg(sleeper.pid, signal.SIGKILL)
        cleanup_leftovers(prefix)


def test_deleting_a_namespace_its_owner_removes_meanwhile_is_not_an_error(monkeypatch):
    """`hanat lab down` and an exiting run (or two `lab down`s, as on xdist) may delete the same namespace:
    the one that loses the race finds it gone, which is what it wanted, and goes on."""
    ns = f"hanat-{new_run_id()}-inet"
    add_namespace(ns)
    killed = shell.kill_namespace_processes

    def owner_deletes_it_meanwhile(name):
        killed(name)
        subprocess.run(["ip", "netns", "del", name], check=True)

    monkeypatch.setattr(shell, "kill_namespace_processes", owner_deletes_it_meanwhile)
    try:
        assert shell.delete_namespace(ns) is False
        assert list_namespaces(ns) == []
    finally:
        cleanup_leftovers(ns)
