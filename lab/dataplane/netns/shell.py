"""Namespace manager: the only place that runs ``ip``/``nft`` and processes inside namespaces.

Safety: every link is created *inside* a namespace of ours (``ip -n <ns> link add ... peer ... netns
<other>``), so no interface ever appears in the host's namespace and nothing is routed to the host
network.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from chalicelib.errors import HanatError

from . import registry
from .layout import NS_PREFIX

REPO_ROOT = Path(__file__).resolve().parents[3]


class NetnsError(HanatError):
    """A namespace command failed; the message names the command and its stderr."""


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 30.0,
        input: str | None = None) -> subprocess.CompletedProcess:
    """Run a host-side command (``ip``, ``nft``) and raise ``NetnsError`` when it fails."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input, check=False)
    except subprocess.TimeoutExpired as err:
        raise NetnsError(f"{' '.join(argv)}: timed out after {timeout:.0f}s") from err
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def ip(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``ip -n <ns> ...``."""
    return run(["ip", "-n", ns, *args], check=check)


def nft(ns: str, ruleset: str) -> None:
    """Load an nft ruleset (one transaction) inside ``ns``."""
    run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=ruleset)


def sysctl(ns: str, key: str, value: str | int) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    run(["ip", "netns", "exec", ns, "sh", "-c", f"echo {value} > {path}"])


def lab_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for processes run in a namespace: the repo importable, no proxies."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def python_argv(module: str, *args: str) -> list[str]:
    """argv that runs ``python -m module`` with this interpreter (the venv's)."""
    return [sys.executable, "-m", module, *args]


def ns_exec(ns: str, argv: Sequence[str], *, timeout: float = 30.0, env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` inside ``ns`` and wait; the result is returned whatever the exit code."""
    try:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                              timeout=timeout, env=lab_env(env), cwd=REPO_ROOT, input=input, check=False)
    except subprocess.TimeoutExpired as err:
        raise NetnsError(f"in {ns}: {' '.join(argv)}: timed out after {timeout:.0f}s") from err


def ns_popen(ns: str, argv: Sequence[str], *, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Start ``argv`` inside ``ns`` in its own process group (so it can be stopped as a whole)."""
    kwargs.setdefault("stdout", subprocess.DEVNULL)
    kwargs.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.Popen(["ip", "netns", "exec", ns, *argv], env=lab_env(env), cwd=REPO_ROOT,
                            start_new_session=True, **kwargs)


def stop_process(proc: subprocess.Popen, timeout: float = 3.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def list_namespaces(prefix: str = NS_PREFIX) -> list[str]:
    out = run(["ip", "netns", "list"]).stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.split() and line.split()[0].startswith(prefix))


def ns_pids(ns: str) -> list[int]:
    proc = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def kill_namespace_processes(ns: str, grace_s: float = 2.0) -> None:
    """SIGTERM every process inside ``ns``, then SIGKILL what is left after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = ns_pids(ns)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and ns_pids(ns):
            time.sleep(0.05)


def add_namespace(ns: str) -> None:
    if not ns.startswith(NS_PREFIX):
        raise NetnsError(f"refusing to create {ns!r}: lab namespaces start with {NS_PREFIX!r}")
    run_id = registry.run_id_of(ns)
    if run_id:   # before it exists: `hanat lab down` must see this run's owner from the start
        registry.claim(run_id)
    run(["ip", "netns", "add", ns])
    ip(ns, "link", "set", "lo", "up")


def delete_namespace(ns: str) -> bool:
    """Kill what runs in ``ns`` and delete it; False when it did not exist (idempotent)."""
    if ns not in list_namespaces(ns):
        return False
    kill_namespace_processes(ns)
    try:
        run(["ip", "netns", "del", ns])
    except NetnsError:
        if ns in list_namespaces(ns):
            raise
        return False   # its owner (or another `hanat lab down`) deleted it meanwhile: gone is what we wanted
    run_id = registry.run_id_of(ns)
    if run_id and not list_namespaces(f"{NS_PREFIX}{run_id}-"):
        registry.release(run_id)   # the run's last namespace is gone
    return True


def cleanup_orphans(min_age_s: float = registry.DEFAULT_MIN_AGE_S, prefix: str = NS_PREFIX) -> list[str]:
    """Delete the ``hanat-*`` namespaces no live run owns (see ``registry.orphans``), killing the
    processes inside first; namespaces of runs still alive are left alone. Used by ``hanat lab down``."""
    if not prefix.startswith(NS_PREFIX):
        raise NetnsError(f"refusing to clean {prefix!r}: lab namespaces start with {NS_PREFIX!r}")
    names = list_namespaces(prefix)
    records = registry.read_records()
    removed = [ns for ns in registry.orphans(registry.namespace_ages(names), records, registry.is_alive, min_age_s)
               if delete_namespace(ns)]
    registry.prune_dead_records(list_namespaces())
    return removed


def cleanup_leftovers(prefix: str = NS_PREFIX) -> list[str]:
    """Delete every namespace whose name starts with ``prefix``, live or not, killing the processes
    inside first. Returns the names removed. For a run cleaning its own prefix; ``hanat lab down``
    uses ``cleanup_orphans``, which spares live runs."""
    if not prefix.startswith(NS_PREFIX):
        raise NetnsError(f"refusing to clean {prefix!r}: lab namespaces start with {NS_PREFIX!r}")
    removed = []
    for ns in list_namespaces(prefix):
        if delete_namespace(ns):
            removed.append(ns)
    return removed
