"""The lab's functions run with Lambda's CPU share: a cgroup v1 ``cpu`` group per function, quota from memory.

AWS gives a function of ``m`` MB ``m / 1769`` vCPU (lab.aws.cpu_share); on this machine the heartbeat,
the probes and the event and operate handlers would otherwise have a whole core each, and every figure
measured here would leave out the CPU time a sweep takes on Lambda. ``CpuShares`` makes one group per
function under ``<cpu mount>/<this process's group>/hanat-cpu-<run>-<pid>/<function>`` with the quota of
its memory, and puts into it:

- a thread for the length of one invocation (``invocation``: the heartbeat's sweep, an EventBridge
  delivery, an operate call run as threads of the lab's process; cgroup v1's ``tasks`` file takes thread
  ids, and threads the invocation starts are born in its group), moved back to its own group after;
- a process for its life (``attach``: a probe function's execution environment, its own process).

Unlike Lambda, concurrent invocations of one function share one group (Lambda gives each execution
environment its own share); the heartbeat runs one at a time (its reserved concurrency), probes get a
group per environment.

When cgroups cannot be used (not root, no cgroup v1 cpu controller, a write refused), on the computed
plane (lab time) or with ``HANAT_LAB_CPU_SHARE=off``, the functions run unthrottled: ``state`` says
``off (<reason>)``, once, and nothing fails. ``close`` moves every task left
back to this process's group and removes every group made (also after an error); groups left by a run
killed before its close (its pid gone, no task left) are removed by the next ``open``.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .cpu_share import DEFAULT_PERIOD_US, cfs_quota

CPU_MOUNT = Path("/sys/fs/cgroup/cpu")
PREFIX = "hanat-cpu-"
CPU_SHARE_ENV = "HANAT_LAB_CPU_SHARE"   # "off": the functions run unthrottled (to measure what the share changes)


def own_group(mount: Path, cgroup_file: str = "/proc/self/cgroup") -> Path | None:
    """This process's group in the v1 ``cpu`` hierarchy mounted at ``mount`` (None: no such hierarchy)."""
    try:
        lines = Path(cgroup_file).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return mount / path.lstrip("/")
    return None


def remove_orphan_groups(mount: Path = CPU_MOUNT) -> list[str]:
    """``hanat lab down``: remove the CPU groups of killed runs (none when cgroups are not usable here)."""
    home = own_group(mount) if os.geteuid() == 0 and (mount / "cpu.cfs_quota_us").exists() else None
    return [str(p) for p in CpuShares.remove_orphans(home)] if home is not None else []


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CpuShares:
    """The CPU groups of one lab run; ``open`` decides whether they can be used (``state``)."""

    def __init__(self, base: Path | None, home: Path | None, *, period_us: int = DEFAULT_PERIOD_US,
                 off_reason: str | None = None, mount: Path = CPU_MOUNT):
        self.base, self.home, self.period_us, self.home_mount = base, home, period_us, mount
        self.off_reason = off_reason
        self._groups: dict[str, Path] = {}
        self._lock = threading.Lock()
        self.errors: list[str] = []          # writes refused after open (the function then ran unthrottled)

    # --- open / close ---------------------------------------------------------------------------
    @classmethod
    def off(cls, reason: str) -> CpuShares:
        return cls(None, None, off_reason=reason)

    @classmethod
    def for_session(cls, dataplane: str, run_id: str) -> CpuShares:
        """A lab session's: on the netns plane (wall time); off on the computed plane (lab time: CPU work
        takes none of it) and when ``HANAT_LAB_CPU_SHARE=off``."""
        if os.environ.get(CPU_SHARE_ENV, "on") == "off":
            return cls.off(f"{CPU_SHARE_ENV}=off")
        if dataplane != "netns":
            return cls.off(f"{dataplane} data plane: lab time, CPU work takes none of it")
        return cls.open(run_id)

    @classmethod
    def open(cls, run_id: str, *, mount: Path = CPU_MOUNT, period_us: int = DEFAULT_PERIOD_US) -> CpuShares:
        """This run's groups, or off (with the reason) when they cannot be made here."""
        if os.geteuid() != 0:
            return cls.off("not root: cgroups need root")
        home = own_group(mount)
        if home is None or not (mount / "cpu.cfs_quota_us").exists():
            return cls.off(f"no cgroup v1 cpu controller at {mount}")
        cls.remove_orphans(home)
        base = home / f"{PREFIX}{run_id}-{os.getpid()}"
        try:
            base.mkdir()
        except OSError as exc:
            return cls.off(f"cannot make {base}: {exc.strerror or exc}")
        return cls(base, home, period_us=period_us, mount=mount)

    @staticmethod
    def remove_orphans(home: Path) -> list[Path]:
        """Remove the groups of runs whose process is gone (killed before their close); returns them."""
        removed = []
        for run in sorted(home.glob(f"{PREFIX}*")):
            pid = run.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or _pid_alive(int(pid)):
                continue
            try:
                _remove_tree(run, home)
                removed.append(run)
            except OSError:
                pass   # a task of it still runs (a probe agent not yet reaped): the next open retries
        return removed

    def close(self) -> None:
        """Move every task left back home and remove every group; safe to call twice."""
        if self.base is None:
            return
        base, self.base = self.base, None
        with self._lock:
            self._groups.clear()
        try:
            _remove_tree(base, self.home)
        except OSError as exc:
            self.errors.append(f"could not remove {base}: {exc}")

    @property
    def state(self) -> str:
        """``on (...)`` or ``off (<reason>)``: what the drill output says once."""
        if self.off_reason is not None:
            return f"off ({self.off_reason})"
        return f"on (Lambda's share: memory / 1769 MB of a vCPU, cgroup v1 cpu, {self.period_us // 1000} ms period)"

    @property
    def on(self) -> bool:
        return self.off_reason is None and self.base is not None

    # --- groups ---------------------------------------------------------------------------------
    def group(self, name: str, memory_mb: int) -> Path | None:
        """The group of function ``name`` with ``memory_mb``'s quota, made on first use (None: off)."""
        with self._lock:
            if not self.on:
                return None
            path = self._groups.get(name)
            if path is None:
                quota = cfs_quota(memory_mb, self.period_us)
                path = self.base / name
                try:
                    path.mkdir(exist_ok=True)
                    (path / "cpu.cfs_period_us").write_text(str(quota.period_us))
                    (path / "cpu.cfs_quota_us").write_text(str(quota.quota_us))
                except OSError as exc:
                    self.errors.append(f"{name}: {exc}")
                    return None
                self._groups[name] = path
            return path

    @contextmanager
    def invocation(self, name: str, memory_mb: int) -> Iterator[None]:
        """The calling thread runs in function ``name``'s group until the block ends, then goes back to the
        group it was in."""
        group = self.group(name, memory_mb)
        tid = threading.get_native_id()
        back = own_group(self.home_mount, f"/proc/self/task/{tid}/cgroup") if group is not None else None
        moved = group is not None and self._write(group / "tasks", tid)
        try:
            yield
        finally:
            if moved:   # to the group it came from (an invocation inside another: the outer one's)
                self._write((back or self.home) / "tasks", tid)

    def attach(self, name: str, memory_mb: int, pid: int) -> bool:
        """Process ``pid`` (every thread of it, and what it starts) runs in function ``name``'s group."""
        group = self.group(name, memory_mb)
        return group is not None and self._write(group / "cgroup.procs", pid)

    def _write(self, file: Path, task: int) -> bool:
        try:
            file.write_text(str(task))
            return True
        except OSError as exc:   # ESRCH: the task is gone; anything else: it runs unthrottled
            self.errors.append(f"{file}: {task}: {exc}")
            return False


def _remove_tree(base: Path, home: Path | None) -> None:
    """Move every task of ``base``'s groups to ``home``, then remove the groups, children first."""
    for group in sorted((p for p in base.iterdir() if p.is_dir()), reverse=True):
        _remove_tree(group, home)
    if home is not None:
        for task in (base / "tasks").read_text().split():
            try:
                (home / "tasks").write_text(task)
            except ProcessLookupError:
                pass   # exited meanwhile
    base.rmdir()
