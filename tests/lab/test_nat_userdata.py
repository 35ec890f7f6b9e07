"""What ships to the instances: the rendered (gzip) NAT user data, the admin user data, shellcheck.

The NAT user data is setup-nat.sh with the agent embedded; it is run here as the instance would run
it (decompressed, from a file) and must install the very agent the lab runs in its namespaces.
"""
from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from bootstrap.nat import render
from chalicelib.errors import InputError
from lab.dataplane.netns.nats import NAT_AGENT, NAT_SCRIPT

from .test_setup_nat import LAB_ENV, NAT_PUBLIC_IP, VPC_CIDR, lab, seed_root  # noqa: F401  (fixture)

pytestmark = pytest.mark.netns  # real network namespaces: root, iproute2, nftables

SHELL_FILES = [NAT_SCRIPT, NAT_AGENT, NAT_SCRIPT.parent / "admin-setup.sh"]


def test_user_data_is_gzip_under_the_ec2_limit_with_cidr_and_agent_inside():
    data = render.nat_user_data(VPC_CIDR)
    assert data[:2] == b"\x1f\x8b" and len(data) <= render.USER_DATA_LIMIT   # EC2: 16 KB raw
    text = gzip.decompress(data).decode()
    assert text == render.nat_script(VPC_CIDR) and text.startswith("#!/usr/bin/env bash\n")
    assert "@@VPC_CIDR@@" not in text and f'VPC_CIDR="${{1:-${{VPC_CIDR:-{VPC_CIDR}}}}}"' in text
    assert NAT_AGENT.read_text().rstrip("\n") in text and render.AGENT_MARKER not in text
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
    assert (root / "usr/local/sbin/hanat-nat-agent").read_bytes() == NAT_AGENT.read_bytes()
    assert lab.get()["you"] == NAT_PUBLIC_IP


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck missing: apt-get install shellcheck")
@pytest.mark.parametrize("path", SHELL_FILES, ids=lambda p: p.name)
def test_shipped_shell_files_are_shellcheck_clean(path: Path):
    result = subprocess.run(["shellcheck", "--shell=bash", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
