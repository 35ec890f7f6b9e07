"""Lab tier: the lab's parts end to end. Tests marked ``netns`` use real network namespaces: they need
root, iproute2 and nftables and are skipped with the reason otherwise; the rest (the computed data
plane, the emulator, the figures) run anywhere."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

NETNS_MARK = "netns"


def _why_not_runnable() -> str | None:
    if os.geteuid() != 0:
        return "needs network namespaces, so root: run `sudo make test`"
    for tool in ("ip", "nft"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"needs network namespaces and `{tool}` (apt-get install iproute2 nftables)"
    name = f"hanat-capcheck{os.getpid()}"   # per process: concurrent runs must not collide
    errors = []
    for attempt in range(3):   # one refusal under load (concurrent `ip netns add`s) must not skip the tier
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)   # a stale one of this pid
        probe = subprocess.run(["ip", "netns", "add", name], check=False, capture_output=True, text=True)
        if probe.returncode == 0:
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
            return None
        errors.append(probe.stderr.strip())
        time.sleep(0.5 * (attempt + 1))
    return f"cannot create network namespaces here (3 attempts): {'; '.join(errors)}"


def _hanat_namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], check=False, capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip().startswith("hanat")}


def pytest_collection_modifyitems(config, items):
    netns_items = [item for item in items if item.get_closest_marker(NETNS_MARK)]
    reason = _why_not_runnable() if netns_items else None
    if reason is None:
        return
    for item in netns_items:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def no_namespace_left_behind():
    """Every lab test must leave `ip netns list` as it found it."""
    if os.geteuid() != 0:
        yield
        return
    from lab.dataplane.netns.registry import owned_by_other_live_process, read_records

    before = _hanat_namespaces()
    yield
    # List first, then read the records: a run records its owner before it creates a namespace
    # (shell.add_namespace), so every namespace listed here has its record by the time it is read. The
    # other order let one xdist worker take another worker's namespace, created in between, for a leak.
    new = _hanat_namespaces() - before
    records = read_records()   # another live run's namespaces (another worker, a concurrent run) are not ours
    # still there after the read: another run may have removed its namespace (and its record) meanwhile
    leaked = {ns for ns in new if not owned_by_other_live_process(ns, records)} & _hanat_namespaces()
    for ns in leaked:  # clean up so one failure does not cascade, then fail loudly
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
    assert not leaked, f"namespaces left behind: {sorted(leaked)}"
