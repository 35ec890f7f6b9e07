"""The lab's real data plane: Linux network namespaces wired like the VPC (root only).

Typical use (a drill)::

    from lab.netns import DataPlane, spec_from_emulator, read_egress_log, outages

    spec = spec_from_emulator(ec2_client, topology)   # or build DataPlaneSpec by hand
    with DataPlane(spec) as dp:                        # up() ... down(), even on error
        dp.start_egress_client("az-a", "/tmp/a.jsonl")   # priv host polls http://198.51.100.10/
        dp.blackhole("az-a")                           # fault: NAT A drops what it forwards
        dp.exec(dp.probe_role("az-a"), ["python", "-m", "..."], timeout=10)
        ...  # the controller moves routes in the emulator
        dp.sync(spec_from_emulator(ec2_client, topology))  # kernel routes follow the emulator
    print(outages(read_egress_log("/tmp/a.jsonl")))

Pieces:
- ``spec``: ``DataPlaneSpec`` / ``ZonePlane`` / ``NatPlane`` (+ ``with_route``, ``with_nat_state``,
  ``with_zone_nat`` copies) and ``validate_spec``.
- ``emulator_sync.spec_from_emulator(ec2_client, topology)``: the spec from EC2 (tag-filtered). EIP
  allocation n (topology order first) stands for lab address 203.0.113.(101 + n).
- ``dataplane.DataPlane(spec, run_id=None)``: ``up()``, ``down()``, ``sync(spec)``, ``exec``/``popen``/
  ``http_get`` by role (``inet``, ``aws``, ``vpc``, ``priv-<i>``, ``probe-<i>``, ``nat-<n>``),
  faults ``blackhole(az, on)``, ``flaky(on, loss)``, ``targets_down(on)``, ``kernel_routes()``.
- ``client``: the egress client (``python -m lab.netns.client``), ``read_egress_log``, ``outages``,
  ``egress_addresses``. ``httpserver``: the internet's ``{"you": ip}`` server.
- ``shell.cleanup_orphans(min_age_s)``: delete namespaces no live run owns (``hanat lab down``; each
  run records its owner in ``/run/hanat-lab``, see ``registry``); ``cleanup_leftovers(prefix)``: a
  run's own prefix, whatever owns it.
- ``layout``: the pure names/addresses/tables and the NAT life-cycle planner.

Safety: namespaces are linked only to each other; none is linked to the host's network, the lab
internet is 198.51.100.0/24 and 203.0.113.0/24 inside ``inet``. Every namespace is named
``hanat-<run_id>-<role>``.

Exports are loaded lazily so ``python -m lab.netns.client`` (run many times in namespaces) stays fast.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "DataPlaneSpec": "spec", "ZonePlane": "spec", "NatPlane": "spec", "validate_spec": "spec",
    "DataPlane": "dataplane", "cleanup_on_signals": "dataplane", "new_run_id": "dataplane",
    "spec_from_emulator": "emulator_sync",
    "cleanup_leftovers": "shell", "cleanup_orphans": "shell", "NetnsError": "shell",
    "EgressSample": "client", "read_egress_log": "client", "outages": "client", "egress_addresses": "client",
    "EGRESS_URL": "layout", "TARGETS": "layout", "lab_address": "layout", "lab_addresses": "layout",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
