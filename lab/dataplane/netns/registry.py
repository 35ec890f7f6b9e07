"""Who owns which lab namespaces: one small record per run, so cleanup never breaks a live run.

Several lab runs (tests, drills, demos) may share one machine. Each run that creates a namespace
records its process (pid + kernel start time, so a reused pid does not count as alive) in
``/run/hanat-lab/<run_id>.json``. ``hanat lab down`` then removes only *orphans*:

- namespaces of a run whose owning process is dead;
- namespaces with no record at all that are older than ``min_age_s`` (a run from before records
  existed, or one whose record was lost) — a young unrecorded namespace may be a run starting now.

``orphans`` is the pure decision; the rest reads and writes the records.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .layout import NS_PREFIX

REGISTRY_DIR = Path(os.environ.get("HANAT_LAB_REGISTRY", "/run/hanat-lab"))
NETNS_DIR = Path("/run/netns")
DEFAULT_MIN_AGE_S = 600.0


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    pid: int
    start_ticks: int       # /proc/<pid>/stat field 22: tells a reused pid from the original process
    created_at: float
    parent: int = 0        # the owner's parent when it claimed the run (0: not known, a record of before)

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "pid": self.pid, "start_ticks": self.start_ticks,
                "created_at": self.created_at, "parent": self.parent}


def run_id_of(ns: str) -> str | None:
    """``hanat-<run_id>-<role>`` -> run_id; None for a name of another shape."""
    if not ns.startswith(NS_PREFIX):
        return None
    run_id, sep, role = ns[len(NS_PREFIX):].partition("-")
    return run_id if sep and run_id and role else None


# --- the decision (pure) ------------------------------------------------------------------
def orphans(namespaces: Mapping[str, float], records: Mapping[str, RunRecord],
            alive: Callable[[RunRecord], bool], min_age_s: float) -> list[str]:
    """The namespaces (name -> age in seconds) that no live run owns, sorted.

    Recorded run: orphan when its process is dead. Unrecorded: orphan when older than ``min_age_s``.
    """
    out = []
    for ns, age_s in namespaces.items():
        rec = records.get(run_id_of(ns) or "")
        if rec is not None:
            if not alive(rec):
                out.append(ns)
        elif age_s >= min_age_s:
            out.append(ns)
    return sorted(out)


# --- processes ------------------------------------------------------------------------------
def process_start_ticks(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot); None when no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces or parentheses: split after its closing ")"
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19])


def _parent_of(pid: int) -> int:
    """``pid``'s parent (0 when it cannot be read)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2:].split()[1])


def is_alive(rec: RunRecord) -> bool:
    return process_start_ticks(rec.pid) == rec.start_ticks


# --- records --------------------------------------------------------------------------------
def _path(run_id: str) -> Path:
    return REGISTRY_DIR / f"{run_id}.json"


def claim(run_id: str, pid: int | None = None) -> RunRecord:
    """Record ``pid`` (default: this process) as the owner of ``run_id``'s namespaces (idempotent
    for the same owner; the first live owner keeps the run)."""
    pid = os.getpid() if pid is None else pid
    existing = read_record(run_id)
    if existing is not None and is_alive(existing):
        return existing
    ticks = process_start_ticks(pid)
    rec = RunRecord(run_id=run_id, pid=pid, start_ticks=ticks if ticks is not None else -1, created_at=time.time(),
                    parent=_parent_of(pid))
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    tmp = REGISTRY_DIR / f".{run_id}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(rec.to_dict()))
    tmp.replace(_path(run_id))   # atomic: a reader never sees half a record
    return rec


def release(run_id: str) -> None:
    """Forget ``run_id`` (its namespaces are gone)."""
    _path(run_id).unlink(missing_ok=True)


def read_record(run_id: str) -> RunRecord | None:
    try:
        d = json.loads(_path(run_id).read_text())
        return RunRecord(run_id=str(d["run_id"]), pid=int(d["pid"]), start_ticks=int(d["start_ticks"]),
                         created_at=float(d["created_at"]), parent=int(d.get("parent", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_records() -> dict[str, RunRecord]:
    if not REGISTRY_DIR.is_dir():
        return {}
    out = {}
    for path in REGISTRY_DIR.glob("*.json"):
        rec = read_record(path.stem)
        if rec is not None:
            out[rec.run_id] = rec
    return out


def namespace_ages(names: Iterable[str], now: float | None = None) -> dict[str, float]:
    """name -> seconds since ``ip netns add`` (from /run/netns/<name>); 0 when it cannot be read."""
    now = time.time() if now is None else now
    out = {}
    for ns in names:
        try:
            out[ns] = max(0.0, now - (NETNS_DIR / ns).stat().st_mtime)
        except OSError:
            out[ns] = 0.0
    return out


def owned_by_another_process(ns: str, records: Mapping[str, RunRecord]) -> bool:
    """True when ``ns`` is not this process's: its run is another live process's, or the run of a dead child
    of another live process (a run killed by another test, say, that this process never started)."""
    rec = records.get(run_id_of(ns) or "")
    me = os.getpid()
    if rec is None or me in (rec.pid, rec.parent):
        return False
    return is_alive(rec) or (rec.parent > 0 and process_start_ticks(rec.parent) is not None)


def prune_dead_records(live_namespaces: Iterable[str]) -> list[str]:
    """Drop records of dead runs that own no namespace any more; returns their run ids."""
    in_use = {run_id_of(ns) for ns in live_namespaces}
    dropped = []
    for run_id, rec in read_records().items():
        if run_id not in in_use and not is_alive(rec):
            release(run_id)
            dropped.append(run_id)
    return dropped
