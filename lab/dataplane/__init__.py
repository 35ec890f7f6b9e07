"""The lab's data plane: the one interface the drills use, whatever carries the packets.

Two kinds implement it: ``netns`` (real Linux namespaces and nftables, needs root:
lab/dataplane/netns.py around lab/netns) and ``computed`` (reachability computed from the route
tables, runs anywhere: lab/dataplane/computed.py). The drills, the heartbeat emulation and the
reports only ever see this Protocol, its ``EgressSample`` (lab.netns.client writes and reads them)
and ``make_dataplane``.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import Protocol

from chalicelib.errors import InputError
from chalicelib.probes.results import ProbeResult

from ..netns.client import EgressSample

__all__ = ["DATAPLANE_KINDS", "LAB_NETWORKS", "LAB_TARGETS", "SAMPLE_INTERVAL_S", "EgressSample",
           "LabDataPlane", "choose_dataplane", "make_dataplane", "netns_available"]

DATAPLANE_KINDS = ("netns", "computed")

# The lab's own "internet": addresses that exist only inside the lab (documentation ranges).
LAB_NETWORKS = ("198.51.100.0/24", "203.0.113.0/24")
LAB_TARGETS = ("http://198.51.100.10/", "tcp://198.51.100.11:80", "http://203.0.113.10/")
SAMPLE_INTERVAL_S = 0.1


class LabDataPlane(Protocol):
    """What a lab data plane offers. ``spec`` values are lab.netns.spec.DataPlaneSpec."""

    kind: str

    def up(self) -> None: ...
    def down(self) -> None: ...
    def sync(self, spec) -> None: ...
    def blackhole(self, az: str, on: bool = True) -> None: ...
    def flaky(self, on: bool = True) -> None: ...
    def targets_down(self, on: bool = True) -> None: ...
    def boot_offline(self, delay_s: float) -> None: ...    # NATs launched from now on boot late, offline
    def boots(self) -> dict[str, dict]: ...                # instance id -> lab.netns.boot.Boot.to_dict()
    def clear_faults(self, seed: int = 0) -> None: ...     # every fault lifted: as new (a reused session)
    def probe(self, azs: Sequence[str], targets: Sequence[str], timeout_s: float) -> dict[str, ProbeResult]: ...
    # run zone az's probe function (lab.lambda_endpoint.LabFunction) from its probe subnet: lab.lambda_endpoint.Outcome
    def invoke_probe(self, az: str, function, event, request_id: str): ...
    def control_probe(self, targets: Sequence[str], timeout_s: float) -> ProbeResult: ...
    def start_clients(self) -> None: ...
    def samples(self, az: str) -> list[EgressSample]: ...


def netns_available() -> str | None:
    """None when the netns data plane can run here, else why not."""
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "nft"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"`{tool}` is not installed"
    return None


def choose_dataplane(requested: str | None) -> str:
    """``netns`` when root with ip/nft (or asked for), else ``computed``; a bad or impossible request
    is bad input."""
    if requested is None:
        return "netns" if netns_available() is None else "computed"
    if requested not in DATAPLANE_KINDS:
        raise InputError(f"--dataplane {requested!r} is not one of {', '.join(DATAPLANE_KINDS)}")
    if requested == "netns" and (why := netns_available()) is not None:
        raise InputError(f"--dataplane netns needs root with ip and nft ({why}); use --dataplane computed")
    return requested


def make_dataplane(kind: str, spec, run_id: str, *, seed: int = 0) -> LabDataPlane:
    """Build (not start) a data plane of ``kind`` for ``spec``."""
    if kind == "computed":
        from .computed import ComputedDataPlane
        return ComputedDataPlane(spec, seed=seed)
    if kind == "netns":
        from .netns import NetnsDataPlane
        return NetnsDataPlane(spec, run_id)
    raise InputError(f"dataplane {kind!r} is not one of {', '.join(DATAPLANE_KINDS)}")
