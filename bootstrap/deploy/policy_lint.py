"""parliament (the IAM policy linter) over every IAM policy hanat writes; `make lint` and a test run it.

The policies: the operator example (examples/iam-policy-operator.json), the controller's and the
probes' (``hanat deploy``, for a sample topology with every optional part on), the NAT/admin instance
role's inline policy and the users' Session Manager policies (``hanat up``). Every finding must be
fixed or be listed in ``ALLOWED`` with the reason it is right as it is.

    python -m bootstrap.deploy.policy_lint      # exit 0 clean, 1 findings (each printed)
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from chalicelib.settings import ProbeSettings
from chalicelib.topology import Topology, ZoneTopology

from ..stack.desired import SESSION_MANAGER_INSTANCE_POLICY, user_policy
from .policy import controller_policy, probe_policy

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_EXAMPLE = ROOT / "examples" / "iam-policy-operator.json"


@dataclass(frozen=True)
class Allowed:
    policy: str     # a name from ``policies()`` up to its first "-" (controller covers controller-*)
    sid: str        # the statement
    issue: str      # parliament's issue code
    reason: str


DESCRIBE = "ec2:Describe* cannot be scoped: most Describe actions accept only Resource \"*\""
SPLIT_RUN_INSTANCES = ("RunInstances touches several resource types, each granted in its own statement with "
                       "its own condition (AWS's documented pattern); parliament checks one statement at a time")
ALLOWED = (
    Allowed("operator", "Ec2Read", "RESOURCE_STAR", DESCRIBE),
    Allowed("operator", "Ec2CreateTagged", "RESOURCE_MISMATCH",
            "arn:aws:ec2:*:*:*/* is every EC2 resource type (the 6 KB managed-policy limit leaves no room to "
            "list them); aws:RequestTag/hanat:stack is what scopes it. " + SPLIT_RUN_INSTANCES),
    Allowed("operator", "Ec2ChangeTagged", "RESOURCE_MISMATCH",
            "arn:aws:ec2:*:*:*/* with aws:ResourceTag/hanat:stack: any resource type, only the stack's. "
            + SPLIT_RUN_INSTANCES),
    Allowed("operator", "Ec2LaunchImages", "RESOURCE_MISMATCH", SPLIT_RUN_INSTANCES),
    Allowed("controller", "ReadNetwork", "RESOURCE_STAR", DESCRIBE),
    Allowed("controller", "DecryptSecureStringsViaSsm", "RESOURCE_STAR",
            "the key of the Slack webhook SecureString is the account's choice; kms:ViaService limits the "
            "decrypt to SSM in the stack's region"),
    Allowed("controller", "LaunchFromStackTemplate", "RESOURCE_MISMATCH", SPLIT_RUN_INSTANCES),
    Allowed("controller", "LaunchIntoStackNetwork", "RESOURCE_MISMATCH", SPLIT_RUN_INSTANCES),
    Allowed("controller", "LaunchTaggedResources", "RESOURCE_MISMATCH", SPLIT_RUN_INSTANCES),
    Allowed("probe", "VpcNetworkInterfaces", "RESOURCE_STAR",
            "Lambda creates a VPC function's network interfaces with its role on Resource \"*\" "
            "(AWSLambdaVPCAccessExecutionRole); aws:RequestedRegion limits them to the stack's region"),
    Allowed("instance", "", "RESOURCE_STAR",
            "Session Manager's agent calls, as AmazonSSMManagedInstanceCore grants them (Resource \"*\"); "
            "no EC2 write at all"),
)


def sample_topology() -> Topology:
    """A two-zone topology with every optional part set (launch template, Slack parameter)."""
    zones = tuple(ZoneTopology(
        az=az, public_subnet_id=f"subnet-pub{i}", private_subnet_id=f"subnet-prv{i}",
        probe_subnet_id=f"subnet-prb{i}", nat_instance_id=f"i-0{i}", nat_eni_id=f"eni-0{i}",
        nat_eip=f"203.0.113.{i + 1}", nat_eip_allocation_id=f"eipalloc-0{i}",
        private_route_table_ids=(f"rtb-prv{i}",), probe_route_table_id=f"rtb-prb{i}")
        for i, az in enumerate(("ap-northeast-1a", "ap-northeast-1c")))
    return Topology(
        stack="lint", region="ap-northeast-1", vpc_id="vpc-0", vpc_cidr="10.0.0.0/16",
        table_name="hanat-lint-state", topic_arn="arn:aws:sns:ap-northeast-1:123456789012:hanat-lint-alerts",
        topology_parameter="/hanat/lint/topology", zones=zones, probe=ProbeSettings(),
        launch_template_id="lt-0123456789abcdef0", nat_security_group_id="sg-nat", probe_security_group_id="sg-probe",
        slack_webhook_parameter="/team/slack-webhook")


def policies() -> dict[str, dict]:
    """name -> policy document, for every policy hanat writes."""
    topology = sample_topology()
    return {
        "operator": json.loads(OPERATOR_EXAMPLE.read_text()),
        "controller": controller_policy(topology, "lint", nat_ami="resolve:ssm:/aws/service/canonical/ubuntu/x"),
        "controller-own-ami-parameter": controller_policy(topology, "lint", nat_ami="resolve:ssm:/team/nat-ami"),
        "probe": probe_policy(topology, "lint"),
        "instance": SESSION_MANAGER_INSTANCE_POLICY,
        "user-ssh": user_policy("lint", allow_ssh=True),
        "user-no-ssh": user_policy("lint", allow_ssh=False),
    }


def findings(documents: dict[str, dict] | None = None) -> list[str]:
    """Every parliament finding that is not allowed, as ``policy/Sid: ISSUE detail`` lines. Each
    statement is analysed on its own (parliament's checks are per statement), so a finding names it."""
    from parliament import analyze_policy_string

    out = []
    for name, document in (documents if documents is not None else policies()).items():
        for statement in document["Statement"]:
            sid = statement.get("Sid", "")
            single = {"Version": document.get("Version", "2012-10-17"), "Statement": [statement]}
            for finding in analyze_policy_string(json.dumps(single)).findings:
                kind = name.split("-", 1)[0]
                if any(a.policy == kind and a.sid == sid and a.issue == finding.issue for a in ALLOWED):
                    continue
                out.append(f"{name}/{sid or '?'}: {finding.issue} {json.dumps(finding.detail)[:300]}")
    return out


def main() -> int:
    problems = findings()
    for line in problems:
        print(line, file=sys.stderr)
    print(f"parliament: {len(policies())} policies, {len(problems)} finding(s) not allowed", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
