"""The data plane kinds: which one can run here, which one a run uses, and building it."""
from __future__ import annotations

import os
import shutil

from chalicelib.errors import InputError
from lab.clock import LabClock, RealClock
from lab.virtual_clock import VirtualClock

from .base import LabDataPlane

DATAPLANE_KINDS = ("netns", "computed")


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


def on_lab_time(kind: str) -> bool:
    """Whether a session of data plane ``kind`` runs on lab time: the computed plane (its drills take the
    wall time of their work); the netns plane runs on wall time (real kernels, real sockets)."""
    return kind == "computed"


def clock_for(kind: str) -> LabClock:
    """The clock a session of data plane ``kind`` runs on (``on_lab_time``)."""
    return VirtualClock() if on_lab_time(kind) else RealClock()


def make_dataplane(kind: str, spec, run_id: str, *, seed: int = 0, clock=None, cpu_shares=None) -> LabDataPlane:
    """Build (not start) a data plane of ``kind`` for ``spec``; the computed one runs on ``clock`` (the
    session's lab.clock; the netns one on wall time: real kernels, real sockets, and its probe
    environments in their function's CPU share, ``cpu_shares``: lab.aws.cgroups)."""
    if kind == "computed":
        from .computed import ComputedDataPlane
        return ComputedDataPlane(spec, seed=seed, clock=clock)
    if kind == "netns":
        from .netns.plane import NetnsDataPlane
        return NetnsDataPlane(spec, run_id, cpu_shares)
    raise InputError(f"dataplane {kind!r} is not one of {', '.join(DATAPLANE_KINDS)}")
