"""Gray failures in a NAT's namespace (the gray drills, lab.drills.scenarios.gray): the NAT's probes keep
passing while users' new flows fail. Made the way the kernel makes them where a namespace allows it,
emulated (and said so in what ``inject`` returns) where it does not:

- ``conntrack-full`` (emulated): the kernel drops a new flow when the namespace's conntrack count is over
  ``nf_conntrack_max``, but that sysctl is the initial namespace's alone (read-only in a NAT's namespace:
  EACCES on Linux 6.18) and lowering it would shrink every namespace on the host. The lab sets a limit a
  few entries above the NAT's count now: lab.dataplane.netns.conntrack_limit drops new flows from the
  private subnets while the namespace's real count is at it (the kernel's rule, from user space), and the
  NAT's agent reads that limit as ``nf_conntrack_max`` (a bind mount over the sysctl file in the agent's
  own mount namespace, nowhere else). Not emulated: conntrack's ``drop`` statistic (the heartbeat judges
  the table's use); the probe subnets' flows and the NAT's own (its counters listener, handoff tunnels)
  are admitted past the limit (on a full table they would fail now and then as entries expire; admitted,
  the probe's verdict stays the gray failure's green), so the count can pass the limit by those.
- ``port-exhaustion`` (the kernel's): source NAT toward one destination narrowed to ``ports`` source ports
  (an nftables nat chain before setup-nat.sh's masquerade: the first chain that maps a flow wins) and
  ``ports`` connections from a private host held open to it; every further new flow there finds no free
  tuple, and the kernel drops it at confirmation counting ``insert_failed`` (and ``drop``).
- ``bandwidth-cap`` (the kernel's cap, ENA's counter emulated): a tbf qdisc on the NAT's one interface
  (both directions of what it forwards leave through it) and a bulk download through the NAT whose
  receive window (``load.PULL_WINDOW``) keeps at most ~64 KB in flight: the cap's queue (100 ms, 100 KB at
  8 Mbit/s) holds it, so packets wait and none is dropped (ENA's counter counts packets "queued or
  dropped"; a download with a full window filled the queue and its drops starved the long-lived
  connections' replies for 5 s and more in 2 runs of 10; no fair queue is built into this kernel); ENA's
  ``bw_out_allowance_exceeded`` is made of the qdisc's counts by the lab's ``ethtool`` stand-in
  (lab/dataplane/netns/ena/ethtool, on the lab agents' PATH): a veth has no ENA counters.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from chalicelib.errors import InputError

from .layout import TARGETS
from .load import BULK_PORT, PULL_WINDOW
from .shell import NetnsError, nft, ns_exec, python_argv, run, stop_process

KINDS = ("conntrack-full", "port-exhaustion", "bandwidth-cap")
CONNTRACK_MAX = "/proc/sys/net/netfilter/nf_conntrack_max"
PORTS_TABLE = "hanat_fault_ports"
FIRST_PORT = 61000
BUSY_DESTINATION = (TARGETS[0], 80)       # the lab's web server: every egress client's destination
UPLINK = "vpc0"


def ports_ruleset(on: bool, sources: list[str], nat_ip: str, ports: int) -> str:
    reset = f"table ip {PORTS_TABLE}\ndelete table ip {PORTS_TABLE}\n"
    if not on:
        return reset
    host, port = BUSY_DESTINATION
    return reset + (f"table ip {PORTS_TABLE} {{\n"
                    "    chain postrouting {\n"
                    "        type nat hook postrouting priority srcnat - 10; policy accept;\n"
                    f"        ip saddr {{ {', '.join(sources)} }} ip daddr {host} tcp dport {port} "
                    f"snat to {nat_ip}:{FIRST_PORT}-{FIRST_PORT + ports - 1}\n"
                    "    }\n"
                    "}\n")


class GrayFaults:
    """The gray faults in force on a ``Namespaces`` (one of each kind at a time); ``lift_all`` on reset."""

    def __init__(self, plane):
        self._plane = plane
        self._active: dict[str, dict] = {}

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(self._active)

    def inject(self, kind: str, az: str, load_az: str, **params) -> dict:
        """Fault ``kind`` on zone ``az``'s NAT, the load from zone ``load_az``'s private host; what was injected."""
        if kind not in KINDS:
            raise InputError(f"gray fault {kind!r} is not one of {', '.join(KINDS)}")
        if kind in self._active:
            raise InputError(f"gray fault {kind} is already injected")
        handles = {"role": self._plane.nat_role(az), "procs": []}
        self._active[kind] = handles
        try:
            handles["injected"] = getattr(self, "_" + kind.replace("-", "_"))(handles, az, load_az, **params)
        except BaseException:
            self.lift(kind)
            raise
        return dict(handles["injected"])

    def lift(self, kind: str) -> None:
        handles = self._active.pop(kind, None)
        if handles is None:
            return
        for proc in reversed(handles["procs"]):
            stop_process(proc)
        ns = self._plane.ns(handles["role"])
        if kind == "conntrack-full" and handles.get("agent"):
            ns_exec(ns, ["nft", "delete", "table", "inet", "hanat_fault_conntrack"])   # if the limiter could not
            run(["nsenter", "-t", str(handles["agent"]), "-m", "-n", "umount", CONNTRACK_MAX], check=False)
            if handles.get("file"):
                Path(handles["file"]).unlink(missing_ok=True)
        elif kind == "port-exhaustion":
            nft(ns, ports_ruleset(False, [], "", 0))
        elif kind == "bandwidth-cap":
            ns_exec(ns, ["tc", "qdisc", "del", "dev", UPLINK, "root"])

    def lift_all(self) -> None:
        """Every gray fault lifted; one that cannot be (its namespace gone already) does not stop the others."""
        for kind in list(self._active):
            try:
                self.lift(kind)
            except NetnsError:
                continue

    # --- the faults (named after KINDS) ------------------------------------------------------------
    def _start(self, handles: dict, role: str, argv: list[str], ready: str) -> str:
        """Start ``argv`` in ``role`` (stopped by ``lift``); the line it said once under way."""
        proc = self._plane.popen(role, argv, stdout=subprocess.PIPE, text=True)
        handles["procs"].append(proc)
        line = proc.stdout.readline().strip()
        if not line.startswith(ready):
            raise NetnsError(f"{' '.join(argv[2:4])} did not start in {role} (said {line!r}, exit {proc.poll()})")
        return line

    def _conntrack_full(self, handles: dict, az: str, load_az: str, headroom: int = 8) -> dict:
        role, spec = handles["role"], self._plane.spec
        ns = self._plane.ns(role)
        count = int(ns_exec(ns, ["cat", "/proc/sys/net/netfilter/nf_conntrack_count"]).stdout.strip())
        limit = count + headroom
        handles["agent"] = agent = self._agent_pid(ns)
        fd, handles["file"] = tempfile.mkstemp(prefix="hanat-conntrack-max-")
        with open(fd, "w") as fh:
            fh.write(f"{limit}\n")
        run(["nsenter", "-t", str(agent), "-m", "-n", "mount", "--bind", handles["file"], CONNTRACK_MAX])
        self._start(handles, role, python_argv("lab.dataplane.netns.conntrack_limit", "--limit", str(limit),
                                               "--sources", spec.vpc_cidr,
                                               "--except", ",".join(z.probe_cidr for z in spec.zones)), "ready")
        return {"conntrack_limit": limit, "conntrack_count_at_fault": count,
                "emulated": "nf_conntrack_max is the initial namespace's: the limit is applied to the NAT's "
                            "real conntrack count by lab.dataplane.netns.conntrack_limit (new flows from the "
                            "private subnets dropped at it) and shown to its agent as nf_conntrack_max (a bind "
                            "mount); the probe subnets' and the NAT's own flows are admitted past it (the count "
                            "can exceed it by those); conntrack's drop statistic not emulated"}

    def _port_exhaustion(self, handles: dict, az: str, load_az: str, ports: int = 4) -> dict:
        role, spec = handles["role"], self._plane.spec
        nat_ip = spec.zone(az).nat.private_ip
        nft(self._plane.ns(role), ports_ruleset(True, [z.private_cidr for z in spec.zones], nat_ip, ports))
        host, port = BUSY_DESTINATION
        said = self._start(handles, self._plane.priv_role(load_az),
                           python_argv("lab.dataplane.netns.load", "hold", "--server", f"{host}:{port}",
                                       "--count", str(ports)), "held")
        return {"ports": ports, "port_range": f"{FIRST_PORT}-{FIRST_PORT + ports - 1}", "nat_address": nat_ip,
                "destination": f"tcp {host}:{port}", "held": int(said.split()[1])}

    def _bandwidth_cap(self, handles: dict, az: str, load_az: str, rate_mbit: float = 8.0) -> dict:
        role = handles["role"]
        capped = ns_exec(self._plane.ns(role), ["tc", "qdisc", "replace", "dev", UPLINK, "root", "tbf", "rate",
                                                f"{rate_mbit}mbit", "burst", "32kb", "latency", "100ms"])
        if capped.returncode != 0:
            raise NetnsError(f"tc refused the cap in {role}: {capped.stderr.strip()}")
        self._start(handles, "inet", python_argv("lab.dataplane.netns.load", "serve", "--port", str(BULK_PORT)),
                    "ready")
        self._start(handles, self._plane.priv_role(load_az),
                    python_argv("lab.dataplane.netns.load", "pull", "--server", f"{TARGETS[0]}:{BULK_PORT}"),
                    "pulling")
        return {"rate_mbit": rate_mbit, "interface": UPLINK, "download_window_bytes": PULL_WINDOW,
                "emulated": "ENA's bw_out_allowance_exceeded: the tbf qdisc's overlimits + dropped, reported by "
                            "the lab's ethtool stand-in (a veth has no ENA counters)"}

    @staticmethod
    def _agent_pid(ns: str) -> int:
        """The NAT's hanat-nat-agent: the process of that script whose parent is not one (not a passing fork)."""
        agents = {}
        for pid in run(["ip", "netns", "pids", ns]).stdout.split():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if b"hanat-nat-agent" in cmdline:
                agents[int(pid)] = parent
        main = [pid for pid, parent in agents.items() if parent not in agents]
        if not main:
            raise NetnsError(f"no hanat-nat-agent runs in {ns}")
        return min(main)
