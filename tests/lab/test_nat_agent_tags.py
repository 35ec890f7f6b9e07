"""hanat-nat-agent applies one set of handoff tags that IMDS showed at one moment, never a mix of two.

IMDS serves the tag keys (``/tags/instance``) and each value (``/tags/instance/<key>``) as separate
requests (EC2 User Guide, "Work with instance tags in instance metadata"), so a controller's tag write
can land between the agent's list and its reads of the values. A move back from a NAT that serves the
zone (a revert after an operator's failover; the gray drill's move home from a DEGRADED NAT) writes on
that NAT ``:prev`` = its old ``to`` direction, then the zone key's new ``from`` value
(chalicelib/service/handoff_open.py): read as the old list and the new value, the ``to`` direction
vanished, the open flows it tunnelled got setup-nat.sh's TCP reset, and the conntrack-full drill broke
its 4 served connections in 3 runs of 20 (issue 19 item 7).

The NAT namespace of tests/lab/test_setup_nat.py with setup-nat.sh run in it, and one pass of the real
agent (``HANAT_AGENT_ONCE=1``) against tests.lab.imds_midread, whose tags change at the first value read.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from lab.dataplane.netns import imds
from lab.dataplane.netns.nats import NAT_AGENT
from lab.dataplane.netns.shell import ns_exec, ns_popen, python_argv, stop_process
from tests.lab.test_setup_nat import NAT_IP, VPC_CIDR, lab  # noqa: F401

pytestmark = pytest.mark.netns

ZONE_KEY = "hanat:handoff:az-b"
PEER, CIDR = "10.20.10.20", "10.20.1.0/24"
PORT = 8169


def test_a_tag_write_between_the_agents_list_and_its_value_reads_keeps_both_directions(lab, tmp_path: Path):  # noqa: F811
    assert lab.run_script(VPC_CIDR).returncode == 0
    until = int(time.time()) + 120
    before = {ZONE_KEY: f"to {PEER} {until} {CIDR}"}              # this NAT serves az-b, flows tunnelled to PEER
    after = {ZONE_KEY: f"from {PEER} {until} {CIDR}",             # az-b moves back to PEER (handoff_open's order:
             f"{ZONE_KEY}:prev": f"to {PEER} {until} {CIDR}"}     # :prev first, then the zone key)
    state = tmp_path / "imds.json"
    imds.write_state(state, "i-nat", NAT_IP, before)
    server = ns_popen(lab.nat, python_argv("tests.lab.imds_midread", "--state", str(state), "--next-tags",
                                           json.dumps(after), "--port", str(PORT)), stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        agent = ns_exec(lab.nat, ["bash", str(NAT_AGENT)], timeout=30,
                        env={"HANAT_AGENT_ONCE": "1", "HANAT_IMDS_URL": f"http://127.0.0.1:{PORT}",
                             "HANAT_COUNTERS_DIR": str(tmp_path / "counters")})
    finally:
        stop_process(server)
    assert json.loads(state.read_text())["tags"] == after         # the tags did change mid-read
    assert agent.returncode == 0, agent.stderr
    to_map = ns_exec(lab.nat, ["nft", "list", "map", "inet", "hanat_nat", "handoff_to"]).stdout
    peers = ns_exec(lab.nat, ["nft", "list", "set", "inet", "hanat_nat", "handoff_peers"]).stdout
    assert CIDR in to_map, (to_map, agent.stderr)                 # the tunnelled flows keep their way to PEER
    assert PEER in peers, (peers, agent.stderr)                   # and PEER's tunnel is accepted
    report = json.loads((tmp_path / "counters" / "handoffs.json").read_text())
    assert report["applied"] == after                             # reported: the tags of one moment
