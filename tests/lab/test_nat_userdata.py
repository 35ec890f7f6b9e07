"""What ships to the instances: the rendered (gzip) NAT user data, the admin user data, shellcheck.

The NAT user data is setup-nat.sh with the agent and its library (hanat-nat-counters) embedded; it is run
here as the instance would run it (decompressed, from a file) and must install the very agent and library
the lab runs in its namespaces, and the agent must start from the installed tree.
"""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bootstrap.nat import render
from chalicelib.errors import InputError
from lab.dataplane.netns.nats import NAT_AGENT, NAT_COUNTERS, NAT_SCRIPT
from lab.dataplane.netns.shell import ns_popen, stop_process

from .test_setup_nat import LAB_ENV, NAT_PUBLIC_IP, VPC_CIDR, lab, seed_root  # noqa: F401  (fixture)

pytestmark = pytest.mark.netns  # real network namespaces: root, iproute2, nftables

SHELL_FILES = [NAT_SCRIPT, NAT_AGENT, NAT_COUNTERS, NAT_SCRIPT.parent / "admin-setup.sh"]


def test_user_data_is_gzip_under_the_ec2_limit_with_cidr_and_agent_inside():
    data = render.nat_user_data(VPC_CIDR)
    assert data[:2] == b"\x1f\x8b" and len(data) <= render.USER_DATA_LIMIT   # EC2: 16 KB raw
    text = gzip.decompress(data).decode()
    assert text == render.nat_script(VPC_CIDR) and text.startswith("#!/usr/bin/env bash\n")
    assert "@@VPC_CIDR@@" not in text and f'VPC_CIDR="${{1:-${{VPC_CIDR:-{VPC_CIDR}}}}}"' in text
    assert NAT_AGENT.read_text().rstrip("\n") in text and render.AGENT_MARKER not in text
    assert NAT_COUNTERS.read_text().rstrip("\n") in text and render.COUNTERS_MARKER not in text
    assert render.nat_user_data(VPC_CIDR) == data   # deterministic: no timestamp in the gzip header
    assert render.admin_user_data().startswith("#!/usr/bin/env bash\n")


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "fd00::/8", "", "10.0.0.1/16"])
def test_user_data_refuses_a_bad_cidr(bad):
    with pytest.raises(InputError, match="vpc_cidr"):
        render.nat_user_data(bad)


def test_the_rendered_user_data_runs_and_installs_the_agent_the_lab_runs(lab, tmp_path: Path):  # noqa: F811
    script = tmp_path / "part-001"   # where cloud-init puts a user data script before running it
    script.write_bytes(gzip.decompress(render.nat_user_data(VPC_CIDR)))
    root = seed_root(tmp_path / "root")
    result = lab.run_script(env={"HANAT_NAT_PERSIST": "1", "HANAT_NAT_ROOT": str(root)}, script=script)
    assert result.returncode == 0, result.stderr
    assert f"done: forwarding {VPC_CIDR}" in result.stderr
    sbin = root / "usr/local/sbin"
    assert (sbin / "hanat-nat-agent").read_bytes() == NAT_AGENT.read_bytes()
    assert (sbin / "hanat-nat-counters").read_bytes() == NAT_COUNTERS.read_bytes()   # the library it sources
    assert not list(sbin.glob("*.new"))   # each written beside and moved into place
    assert lab.get()["you"] == NAT_PUBLIC_IP
    # The installed agent starts from the installed tree: it sources the library beside it and writes
    # counters.json (the library's job); no IMDS here, so the handoff part only logs that.
    counters, log = tmp_path / "counters", tmp_path / "agent.log"
    with open(log, "wb") as err:
        agent = ns_popen(lab.nat, ["bash", str(sbin / "hanat-nat-agent")], stderr=err,
                         env={"HANAT_COUNTERS_DIR": str(counters), "HANAT_COUNTERS_EVERY_S": "1",
                              "HANAT_AGENT_INTERVAL_S": "0.2", "HANAT_IMDS_URL": "http://127.0.0.1:9"})
    try:
        deadline = time.monotonic() + 10
        while not (counters / "counters.json").exists() and agent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert agent.poll() is None, log.read_text()
        snapshot = json.loads((counters / "counters.json").read_text())
        assert snapshot["version"] == 1 and snapshot["conntrack"]["max"] > 0, snapshot
    finally:
        stop_process(agent)


def test_the_agent_without_its_library_beside_it_stops_with_a_clear_error(tmp_path: Path):
    # a tree that lost hanat-nat-counters: the agent says which file it needs, exits 2, and does nothing
    lone = tmp_path / "hanat-nat-agent"
    shutil.copy(NAT_AGENT, lone)
    result = subprocess.run(["bash", str(lone)], capture_output=True, text=True, timeout=10, check=False,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HANAT_AGENT_ONCE": "1",
                                 "HANAT_IMDS_URL": "http://127.0.0.1:9", "HANAT_COUNTERS_DIR": str(tmp_path / "c")})
    assert result.returncode == 2
    assert result.stderr == (f"hanat-nat-agent: cannot read {tmp_path}/hanat-nat-counters: the counters library, "
                             "which must lie beside this agent (setup-nat.sh installs both)\n")
    assert not (tmp_path / "c").exists()


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck missing: apt-get install shellcheck")
@pytest.mark.parametrize("path", SHELL_FILES, ids=lambda p: p.name)
def test_shipped_shell_files_are_shellcheck_clean(path: Path):
    result = subprocess.run(["shellcheck", "--shell=bash", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
