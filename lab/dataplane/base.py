"""The data plane interface: what every lab data plane offers the drills.

Two kinds implement it: ``netns`` (real Linux namespaces and nftables, needs root:
lab/dataplane/netns/plane.py around lab/dataplane/netns/namespaces.py) and ``computed`` (reachability
computed from the route tables, runs anywhere: lab/dataplane/computed.py). The drills, the heartbeat
emulation and the reports only ever see this Protocol and its ``EgressSample`` (lab.dataplane.egress);
lab.dataplane.kinds builds one.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chalicelib.probes.results import ProbeResult

from .egress import EgressSample

__all__ = ["LAB_NETWORKS", "LAB_TARGETS", "SAMPLE_INTERVAL_S", "LabDataPlane"]

# The lab's own "internet": addresses that exist only inside the lab (documentation ranges).
LAB_NETWORKS = ("198.51.100.0/24", "203.0.113.0/24")
LAB_TARGETS = ("http://198.51.100.10/", "tcp://198.51.100.11:80", "http://203.0.113.10/")
SAMPLE_INTERVAL_S = 0.1


class LabDataPlane(Protocol):
    """What a lab data plane offers. ``spec`` values are lab.dataplane.spec.DataPlaneSpec."""

    kind: str

    def up(self) -> None: ...
    def down(self) -> None: ...
    def sync(self, spec) -> None: ...
    def blackhole(self, az: str, on: bool = True) -> None: ...
    def flaky(self, on: bool = True) -> None: ...
    def targets_down(self, on: bool = True) -> None: ...
    def boot_offline(self, delay_s: float) -> None: ...    # NATs launched from now on boot late, offline
    def boots(self) -> dict[str, dict]: ...                # instance id -> lab.dataplane.boot.Boot.to_dict()
    def clear_faults(self, seed: int = 0) -> None: ...     # every fault lifted: as new (a reused session)
    def probe(self, azs: Sequence[str], targets: Sequence[str], timeout_s: float) -> dict[str, ProbeResult]: ...
    # run zone az's probe function (lab.aws.lambda_endpoint.LabFunction) from its probe subnet: lab.aws.lambda_endpoint.Outcome
    def invoke_probe(self, az: str, function, event, request_id: str): ...
    def control_probe(self, targets: Sequence[str], timeout_s: float) -> ProbeResult: ...
    def start_clients(self) -> None: ...
    def samples(self, az: str) -> list[EgressSample]: ...
