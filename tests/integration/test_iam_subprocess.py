"""A `hanat` process started by a recorded run is decided under IAM too (lab/iam/child/sitecustomize.py): a call
IAM denies in the child reaches the parent's check, named (action, resource, context) and marked as the
subprocess's. This is how `chalice deploy`'s calls count in a drill (lab/iam/hook.py ``child_processes``)."""
from __future__ import annotations

import json

import pytest

from lab.iam.recorder import EXTRA_POLICY_ENV, Recorder
from tests.support.cli import hanat_process
from tests.support.iam_recording import recording

NO_VPC_READS = {"Version": "2012-10-17", "Statement": [
    {"Sid": "NoVpcReads", "Effect": "Deny", "Action": "ec2:DescribeVpcs", "Resource": "*"}]}


def test_a_denied_call_in_a_hanat_process_fails_the_parents_check(emulator_env, tmp_path, monkeypatch):
    policy = tmp_path / "deny.json"
    policy.write_text(json.dumps(NO_VPC_READS))
    monkeypatch.setenv(EXTRA_POLICY_ENV, str(policy))
    with pytest.raises(AssertionError) as failed, recording(recorder=Recorder()):
        hanat_process("adopt", "--vpc-id", "vpc-0123456789abcdef0", "--region", "ap-northeast-1")
    found = [line for line in str(failed.value).splitlines() if "ec2.DescribeVpcs" in line]
    assert found and all(line.strip().startswith("[operator] ec2.DescribeVpcs from (subprocess) chalicelib/aws/")
                         and "explicit deny by extra:deny.json/NoVpcReads" in line
                         and "'aws:RequestedRegion': 'ap-northeast-1'" in line for line in found), found
